"""Operations API: a task's state (staff) and the health check (public).

See the shared API contract, "Tasks and health".
"""

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from lms.jobs.health import OK, health_report_cached
from lms.jobs.rerun import task_result_rerun
from lms.selectors import task_result_get


class TaskStatusSerializer(serializers.Serializer):
    task_id = serializers.CharField()
    task_name = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    result = serializers.JSONField(allow_null=True)
    date_done = serializers.DateTimeField(allow_null=True)
    progress = inline_serializer(
        "TaskProgress",
        {"done": serializers.IntegerField(), "total": serializers.IntegerField(allow_null=True)},
        allow_null=True,
        help_text="What a long job has done so far, while it runs; null otherwise.",
    )


class HealthSerializer(serializers.Serializer):
    database = serializers.ChoiceField(choices=["ok", "error"])
    broker = serializers.ChoiceField(choices=["ok", "error", "not configured"])
    workers = serializers.IntegerField(
        allow_null=True, help_text="Workers alive (heartbeat in the last 15 s, or answering a ping); null if unknown."
    )
    beat = serializers.FloatField(allow_null=True, help_text="Seconds since beat's last tick; null if never.")


TaskAcceptedSerializer = inline_serializer(
    "TaskAccepted", {"task_id": serializers.CharField(), "status_url": serializers.CharField()}
)


def task_accepted(request, task_id: str) -> Response:
    """202 for an operation handed to a background job, with where to follow it (staff only)."""
    status_url = request.build_absolute_uri(reverse("task-status", kwargs={"task_id": task_id}))
    return Response({"task_id": task_id, "status_url": status_url}, status=status.HTTP_202_ACCEPTED)


class TaskStatusView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        responses={
            200: TaskStatusSerializer,
            401: OpenApiResponse(description="Not authenticated"),
            403: OpenApiResponse(description="Not staff"),
        }
    )
    def get(self, request, task_id: str):
        return Response(TaskStatusSerializer(task_result_get(task_id=task_id)).data)


class TaskRetryView(APIView):
    """Re-run a failed job with its stored name and arguments, under a new id."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        request=None,
        responses={
            202: TaskAcceptedSerializer,
            401: OpenApiResponse(description="Not authenticated"),
            403: OpenApiResponse(description="Not staff"),
            404: OpenApiResponse(description="No stored result with this id"),
            409: OpenApiResponse(description="Not failed, already re-run, or its arguments cannot be read back"),
        },
    )
    def post(self, request, task_id: str):
        return task_accepted(request, task_result_rerun(task_id=task_id))


class HealthView(APIView):
    # Public and cheap to call: no authentication, so no database read before the check, and
    # the answer comes from the shared cache (a few seconds old at most; lms/jobs/health.py),
    # so polling it hard cannot make the checks run more often.
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses={
            200: HealthSerializer,
            503: OpenApiResponse(HealthSerializer, description="The database is not answering"),
        }
    )
    def get(self, request):
        report = health_report_cached()
        code = status.HTTP_200_OK if report["database"] == OK else status.HTTP_503_SERVICE_UNAVAILABLE
        return Response(HealthSerializer(report).data, status=code)
