"""Course announcements (staff) and the caller's preferences: API.md, "Course announcements
(staff)" and "Preferences". Thin: validate, call a service, answer."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from courses.models import Course
from lms.errors import NotFound
from lms.routing import UUID_PATTERN
from notifications.announcements import preferences, services
from notifications.models import Announcement

STAFF_ERRORS = {
    401: OpenApiResponse(description="Not authenticated"),
    403: OpenApiResponse(description="Not staff"),
    404: OpenApiResponse(description="No such course or announcement"),
}
TRANSITION_ERRORS = {**STAFF_ERRORS, 409: OpenApiResponse(description="The current status does not allow it")}


class AnnouncementCourseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()


class AnnouncementSerializer(serializers.ModelSerializer):
    course = AnnouncementCourseSerializer()
    sent_count = serializers.IntegerField()
    failed_count = serializers.IntegerField()
    skipped_count = serializers.IntegerField()

    class Meta:
        model = Announcement
        fields = [
            "id", "course", "subject", "body", "audience", "status", "send_at", "created_at", "started_at",
            "finished_at", "recipients_total", "sent_count", "failed_count", "skipped_count",
        ]  # fmt: skip
        read_only_fields = fields


class AnnouncementCreateSerializer(serializers.Serializer):
    subject = serializers.CharField(max_length=255)
    body = serializers.CharField(max_length=services.BODY_MAX_CHARS, trim_whitespace=False)
    audience = serializers.ChoiceField(choices=Announcement.Audience.choices, default=Announcement.Audience.ALL)
    send_at = serializers.DateTimeField(required=False, allow_null=True)


def _answer(announcement: Announcement, code: int = status.HTTP_200_OK) -> Response:
    return Response(AnnouncementSerializer(services.announcement_get(announcement_id=announcement.pk)).data,
                    status=code)  # fmt: skip


class CourseAnnouncementsView(generics.ListAPIView):
    """GET: the course's announcements, newest first. POST: a new one (sent now or scheduled)."""

    permission_classes = [IsAdminUser]
    serializer_class = AnnouncementSerializer

    def _course(self) -> Course:
        course = Course.objects.filter(pk=self.kwargs["course_id"]).first()
        if course is None:
            raise NotFound("No such course.")
        return course

    def get_queryset(self):
        return services.announcement_queryset().filter(course=self._course()).order_by("-created_at")

    @extend_schema(responses={200: AnnouncementSerializer(many=True), **STAFF_ERRORS})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=AnnouncementCreateSerializer, responses={201: AnnouncementSerializer, 400: None,
                                                                    **STAFF_ERRORS})  # fmt: skip
    def post(self, request, course_id):
        course = self._course()
        data = AnnouncementCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        announcement = services.announcement_create(course=course, created_by=request.user, **data.validated_data)
        return _answer(announcement, status.HTTP_201_CREATED)


class AnnouncementViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsAdminUser]
    serializer_class = AnnouncementSerializer
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):
        return services.announcement_queryset()

    @extend_schema(responses={200: AnnouncementSerializer, **STAFF_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(request=None, responses={200: AnnouncementSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return _answer(services.announcement_pause(announcement=self.get_object()))

    @extend_schema(request=None, responses={200: AnnouncementSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return _answer(services.announcement_resume(announcement=self.get_object()))

    @extend_schema(request=None, responses={200: AnnouncementSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return _answer(services.announcement_cancel(announcement=self.get_object()))


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false only: DRF's BooleanField also takes "yes", "on", 1, "0" ..."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class PreferencesSerializer(serializers.Serializer):
    course_announcements = StrictBooleanField()


class PreferencesView(APIView):
    """The caller's own notification preferences."""

    @extend_schema(responses={200: PreferencesSerializer, 401: OpenApiResponse(description="Not authenticated")})
    def get(self, request):
        return Response(PreferencesSerializer(preferences.preference_get(user=request.user)).data)

    @extend_schema(
        request=PreferencesSerializer,
        responses={200: PreferencesSerializer, 400: None, 401: OpenApiResponse(description="Not authenticated")},
    )
    def patch(self, request):
        data = PreferencesSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        preference = preferences.preference_get(user=request.user)
        if "course_announcements" in data.validated_data:
            preference = preferences.preference_update(
                user=request.user, course_announcements=data.validated_data["course_announcements"]
            )
        return Response(PreferencesSerializer(preference).data)
