"""Course catalogue, enrolling, and the staff recalculation trigger (API contract, "Courses")."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import filters, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAdminUser, IsAuthenticated
from rest_framework.response import Response

from courses import selectors
from courses.models import Course, Lesson
from enrollments.api import EnrollmentSerializer
from enrollments.services import course_progress_recalculate_later, enrollment_create
from lms.api import TaskAcceptedSerializer, task_accepted
from lms.errors import InvalidInput, NotFound
from lms.routing import UUID_PATTERN


class CourseSerializer(serializers.ModelSerializer):
    lesson_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Course
        fields = ["id", "slug", "title", "description", "lesson_count"]
        read_only_fields = fields


class LessonSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Lesson
        fields = ["id", "title", "position"]
        read_only_fields = fields


class CourseDetailSerializer(CourseSerializer):
    lessons = LessonSummarySerializer(many=True, read_only=True)

    class Meta(CourseSerializer.Meta):
        fields = [*CourseSerializer.Meta.fields, "lessons"]
        read_only_fields = fields


class BoundedSearchFilter(filters.SearchFilter):
    """DRF's SearchFilter, refusing searches whose cost has no bound: each term adds an ILIKE
    on every search field (a 2,000-term ?search= cost 25x a normal request)."""

    MAX_CHARS = 200
    MAX_TERMS = 10

    def get_search_terms(self, request):
        raw = request.query_params.get(self.search_param, "")
        if len(raw) > self.MAX_CHARS:
            raise InvalidInput(f"A search is at most {self.MAX_CHARS} characters long.", field=self.search_param)
        terms = super().get_search_terms(request)
        if len(terms) > self.MAX_TERMS:
            raise InvalidInput(f"A search has at most {self.MAX_TERMS} words.", field=self.search_param)
        return terms


class CourseViewSet(viewsets.ReadOnlyModelViewSet):
    """Published courses for everyone; staff also see unpublished ones (previews)."""

    queryset = Course.objects.all()
    permission_classes = [AllowAny]
    lookup_value_regex = UUID_PATTERN
    filter_backends = [BoundedSearchFilter]
    search_fields = ["title", "description"]

    def _staff(self) -> bool:
        return bool(self.request.user and self.request.user.is_staff)

    def get_queryset(self):
        if self.action == "retrieve":
            return selectors.course_detail_queryset(include_unpublished=self._staff())
        return selectors.course_list(include_unpublished=self._staff())

    def get_serializer_class(self):
        return CourseDetailSerializer if self.action == "retrieve" else CourseSerializer

    @extend_schema(
        request=None,
        responses={201: EnrollmentSerializer, 409: OpenApiResponse(description="Already enrolled.")},
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated])
    def enroll(self, request, pk=None):
        course = selectors.course_get_published(course_id=pk)
        if course is None:
            raise NotFound("No such course.")
        enrollment = enrollment_create(student=request.user, course=course)
        return Response(EnrollmentSerializer(enrollment).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: TaskAcceptedSerializer})
    @action(detail=True, methods=["post"], url_path="recalculate-progress", permission_classes=[IsAdminUser])
    def recalculate_progress(self, request, pk=None):
        if not Course.objects.filter(pk=pk).exists():
            raise NotFound("No such course.")
        return task_accepted(request, course_progress_recalculate_later(course_id=pk))
