"""Enrollments API: every status code of the contract, and only one's own rows."""

import pytest

from enrollments import services
from tests.conftest import client_for
from tests.factories import course_with_lessons

pytestmark = pytest.mark.django_db

ENROLLMENT_FIELDS = {
    "id", "course", "status", "progress_percentage", "completed_lessons_count", "total_lessons_count",
    "enrolled_at", "completed_at", "certificate",
}  # fmt: skip


@pytest.fixture
def course():
    return course_with_lessons(2, title="Django from Zero")


@pytest.fixture
def enrollment(learner, course):
    return services.enrollment_create(student=learner, course=course)


def lesson_ids(course):
    return [str(pk) for pk in course.lessons.order_by("position").values_list("pk", flat=True)]


def test_list_and_detail_show_only_the_callers_enrollments(learner_client, enrollment, other_learner, course):
    services.enrollment_create(student=other_learner, course=course_with_lessons(1))

    listing = learner_client.get("/api/enrollments/")
    detail = learner_client.get(f"/api/enrollments/{enrollment.pk}/")

    assert listing.status_code == detail.status_code == 200
    assert [e["id"] for e in listing.json()["results"]] == [str(enrollment.pk)]
    body = detail.json()
    assert set(body) == ENROLLMENT_FIELDS
    assert body["course"] == {"id": str(course.pk), "title": "Django from Zero"}
    assert (body["status"], body["progress_percentage"], body["certificate"]) == ("active", 0.0, None)


def test_another_learners_enrollment_is_404_everywhere(enrollment, other_learner, course):
    client = client_for(other_learner)
    lesson = lesson_ids(course)[0]

    assert client.get(f"/api/enrollments/{enrollment.pk}/").status_code == 404
    assert client.post(f"/api/enrollments/{enrollment.pk}/lessons/{lesson}/complete/").status_code == 404
    assert client.post(f"/api/enrollments/{enrollment.pk}/drop/").status_code == 404
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.completed_lessons_count) == ("active", 0)


def test_anonymous_is_401(api_client, enrollment):
    assert api_client.get("/api/enrollments/").status_code == 401
    assert api_client.post(f"/api/enrollments/{enrollment.pk}/drop/").status_code == 401


def test_complete_lesson_returns_progress_and_repeating_changes_nothing(learner_client, enrollment, course):
    url = f"/api/enrollments/{enrollment.pk}/lessons/{lesson_ids(course)[0]}/complete/"

    first = learner_client.post(url)
    second = learner_client.post(url)

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert (first.json()["completed_lessons_count"], first.json()["progress_percentage"]) == (1, 50.0)


def test_completing_the_last_lesson_completes_the_enrollment(learner_client, enrollment, course):
    for lesson in lesson_ids(course):
        response = learner_client.post(f"/api/enrollments/{enrollment.pk}/lessons/{lesson}/complete/")

    body = response.json()
    assert (body["status"], body["progress_percentage"]) == ("completed", 100.0)
    assert body["completed_at"] is not None


def test_complete_lesson_of_another_course_or_unknown_is_404(learner_client, enrollment):
    other_lesson = lesson_ids(course_with_lessons(1))[0]

    assert learner_client.post(f"/api/enrollments/{enrollment.pk}/lessons/{other_lesson}/complete/").status_code == 404
    assert learner_client.post(f"/api/enrollments/{enrollment.pk}/lessons/not-a-uuid/complete/").status_code == 404
    unknown = "00000000-0000-0000-0000-000000000000"
    assert learner_client.post(f"/api/enrollments/{enrollment.pk}/lessons/{unknown}/complete/").status_code == 404


def test_complete_lesson_of_a_dropped_enrollment_is_409(learner_client, enrollment, course):
    learner_client.post(f"/api/enrollments/{enrollment.pk}/drop/")

    response = learner_client.post(f"/api/enrollments/{enrollment.pk}/lessons/{lesson_ids(course)[0]}/complete/")

    assert response.status_code == 409
    assert "detail" in response.json()


def test_drop_returns_the_dropped_enrollment_and_a_completed_one_is_409(learner_client, enrollment, course, learner):
    response = learner_client.post(f"/api/enrollments/{enrollment.pk}/drop/")

    assert response.status_code == 200
    assert response.json()["status"] == "dropped"

    finished = services.enrollment_create(student=learner, course=(single := course_with_lessons(1)))
    learner_client.post(f"/api/enrollments/{finished.pk}/lessons/{lesson_ids(single)[0]}/complete/")
    assert learner_client.post(f"/api/enrollments/{finished.pk}/drop/").status_code == 409


def test_list_is_a_constant_number_of_queries(learner, learner_client, django_assert_max_num_queries):
    for _ in range(5):
        services.enrollment_create(student=learner, course=course_with_lessons(1))

    with django_assert_max_num_queries(3):
        assert learner_client.get("/api/enrollments/").json()["count"] == 5
