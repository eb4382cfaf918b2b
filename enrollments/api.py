"""The caller's own enrollments (see shared API contract, "Enrollments")."""

from decimal import Decimal

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from enrollments import services
from enrollments.models import Enrollment
from lms.routing import UUID_PATTERN


class CourseRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()


class CertificateRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    certificate_number = serializers.CharField()


class EnrollmentSerializer(serializers.ModelSerializer):
    course = CourseRefSerializer(read_only=True)
    progress_percentage = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        coerce_to_string=False,
        min_value=Decimal(0),
        max_value=Decimal(100),
        read_only=True,
    )
    certificate = serializers.SerializerMethodField()

    class Meta:
        model = Enrollment
        fields = [
            "id",
            "course",
            "status",
            "progress_percentage",
            "completed_lessons_count",
            "total_lessons_count",
            "enrolled_at",
            "completed_at",
            "certificate",
        ]
        read_only_fields = fields

    @extend_schema_field(CertificateRefSerializer(allow_null=True))
    def get_certificate(self, enrollment: Enrollment):
        certificate = getattr(enrollment, "certificate", None)
        return CertificateRefSerializer(certificate).data if certificate else None


class EnrollmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = EnrollmentSerializer
    queryset = Enrollment.objects.select_related("course", "certificate")
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):
        return super().get_queryset().filter(student=self.request.user).order_by("-enrolled_at")

    @extend_schema(
        request=None,
        responses={200: EnrollmentSerializer, 409: OpenApiResponse(description="The enrollment was dropped.")},
    )
    @action(detail=True, methods=["post"], url_path=rf"lessons/(?P<lesson_id>{UUID_PATTERN})/complete")
    def complete_lesson(self, request, pk=None, lesson_id=None):
        enrollment = services.enrollment_complete_lesson(enrollment=self.get_object(), lesson_id=lesson_id)
        return Response(self.get_serializer(enrollment).data)

    @extend_schema(
        request=None,
        responses={200: EnrollmentSerializer, 409: OpenApiResponse(description="A completed enrollment.")},
    )
    @action(detail=True, methods=["post"])
    def drop(self, request, pk=None):
        enrollment = services.enrollment_drop(enrollment=self.get_object())
        return Response(self.get_serializer(enrollment).data)
