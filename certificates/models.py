import uuid

from django.db import models
from django.utils import timezone

from enrollments.models import Enrollment


class Certificate(models.Model):
    """Proof that an enrollment was completed. One per enrollment (one-to-one, unique).

    Learner name and course title are copied at issue time: a certificate states what was true
    when it was issued, whatever is renamed later.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    enrollment = models.OneToOneField(Enrollment, on_delete=models.CASCADE, related_name="certificate")
    certificate_number = models.CharField(max_length=32, unique=True)
    learner_name = models.CharField(max_length=200)
    course_title = models.CharField(max_length=200)
    pdf = models.FileField(upload_to="certificates/%Y/%m/", blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    issued_at = models.DateTimeField(default=timezone.now)
    is_revoked = models.BooleanField(default=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-issued_at"]
        indexes = [models.Index(fields=["issued_at"], name="certificate_issued_at")]

    def __str__(self) -> str:
        return self.certificate_number
