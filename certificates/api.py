"""Certificates API: the caller's certificates, downloads, public verification, staff revoke."""

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from certificates import selectors
from certificates.models import Certificate
from certificates.services import certificate_verify_url
from certificates.tasks import revoke_certificate as revoke_certificate_task
from lms.api import TaskAcceptedSerializer, task_accepted
from lms.errors import NotFound
from lms.fields import StrictCharField
from lms.jobs.dispatch import dispatch_on_commit
from lms.routing import UUID_PATTERN
from lms.text import display_text_clean
from lms.throttling import AnonymousRateThrottle


class CertificateCourseSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="enrollment.course_id")
    title = serializers.CharField(source="course_title")


class CertificateSerializer(serializers.ModelSerializer):
    course = CertificateCourseSerializer(source="*", read_only=True)
    download_url = serializers.SerializerMethodField()
    verify_url = serializers.SerializerMethodField()

    class Meta:
        model = Certificate
        fields = [
            "id", "certificate_number", "course", "learner_name", "issued_at", "is_revoked", "revoked_at",
            "download_url", "verify_url",
        ]  # fmt: skip
        read_only_fields = fields

    def get_download_url(self, certificate: Certificate) -> str:
        path = f"/api/certificates/{certificate.pk}/download/"
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_verify_url(self, certificate: Certificate) -> str:
        return certificate_verify_url(certificate_number=certificate.certificate_number)


class VerificationSerializer(serializers.Serializer):
    certificate_number = serializers.CharField()
    valid = serializers.BooleanField()
    learner_name = serializers.CharField()
    course_title = serializers.CharField()
    issued_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)


def verification(certificate: Certificate) -> dict:
    return {
        "certificate_number": certificate.certificate_number,
        "valid": not certificate.is_revoked,
        # Cleaned again on the way out: rows issued before names were cleaned at the door.
        "learner_name": display_text_clean(certificate.learner_name),
        "course_title": display_text_clean(certificate.course_title),
        "issued_at": certificate.issued_at,
        "revoked_at": certificate.revoked_at,
    }


class RevokeSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=500)


class VerifyRateThrottle(AnonymousRateThrottle):
    """Public lookups by number are throttled per client, so numbers cannot be enumerated."""

    scope = "certificate_verify"


class CertificateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = CertificateSerializer
    queryset = Certificate.objects.all()
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):
        if self.action == "list":  # a list is always one's own, staff included
            return Certificate.objects.select_related("enrollment").filter(enrollment__student=self.request.user)
        return selectors.certificates_visible_to(user=self.request.user)

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        certificate = self.get_object()
        if not certificate.pdf or not certificate.pdf.storage.exists(certificate.pdf.name):
            raise NotFound("The PDF of this certificate is not available; staff can regenerate it.")
        return FileResponse(
            certificate.pdf.open("rb"),
            content_type="application/pdf",
            as_attachment=True,
            filename=f"{certificate.certificate_number}.pdf",
        )

    @extend_schema(request=RevokeSerializer, responses={202: TaskAcceptedSerializer})
    @action(detail=True, methods=["post"], permission_classes=[IsAdminUser])
    def revoke(self, request, pk=None):
        certificate = self.get_object()
        serializer = RevokeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task_id = dispatch_on_commit(revoke_certificate_task, str(certificate.pk), serializer.validated_data["reason"])
        return task_accepted(request, task_id)


class CertificateVerifyView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [VerifyRateThrottle]

    @extend_schema(responses={200: VerificationSerializer})
    def get(self, request, certificate_number: str):
        certificate = selectors.certificate_by_number(certificate_number=certificate_number)
        if certificate is None:
            raise NotFound("No certificate with this number.")
        return Response(VerificationSerializer(verification(certificate)).data)
