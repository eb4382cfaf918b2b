"""Courses API: catalogue, enroll, staff recalculation; every status code of the contract."""

import pytest

from enrollments.models import Enrollment
from tests.factories import course_with_lessons

pytestmark = pytest.mark.django_db


def test_list_shows_published_courses_with_lesson_counts_to_anyone(api_client):
    course_with_lessons(3, title="Django from Zero")
    course_with_lessons(1, title="Draft", is_published=False)

    response = api_client.get("/api/courses/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert body["results"][0]["title"] == "Django from Zero"
    assert body["results"][0]["lesson_count"] == 3
    assert set(body["results"][0]) == {"id", "slug", "title", "description", "lesson_count"}


def test_search_filters_by_title_and_description(api_client):
    course_with_lessons(1, title="Django from Zero")
    course_with_lessons(1, title="Statistics", description="Bayes, with Django examples")
    course_with_lessons(1, title="Cooking")

    titles = [c["title"] for c in api_client.get("/api/courses/?search=django").json()["results"]]

    assert titles == ["Django from Zero", "Statistics"]


def test_detail_lists_lessons_in_order(api_client):
    course = course_with_lessons(3)
    course.lessons.filter(position=1).update(title="Intro")

    response = api_client.get(f"/api/courses/{course.pk}/")

    assert response.status_code == 200
    lessons = response.json()["lessons"]
    assert [lesson["position"] for lesson in lessons] == [1, 2, 3]
    assert lessons[0]["title"] == "Intro"
    assert set(lessons[0]) == {"id", "title", "position"}


@pytest.mark.parametrize("path", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
def test_detail_of_unknown_course_is_404(api_client, path):
    assert api_client.get(f"/api/courses/{path}/").status_code == 404


def test_unpublished_course_is_404_for_learners_but_visible_to_staff(api_client, learner_client, staff_client):
    draft = course_with_lessons(1, is_published=False)

    assert api_client.get(f"/api/courses/{draft.pk}/").status_code == 404
    assert learner_client.get(f"/api/courses/{draft.pk}/").status_code == 404
    assert staff_client.get(f"/api/courses/{draft.pk}/").status_code == 200


def test_enroll_returns_201_then_409(learner_client, learner):
    course = course_with_lessons(2)

    first = learner_client.post(f"/api/courses/{course.pk}/enroll/")
    second = learner_client.post(f"/api/courses/{course.pk}/enroll/")

    assert first.status_code == 201
    assert first.json()["course"]["id"] == str(course.pk)
    assert first.json()["total_lessons_count"] == 2
    assert second.status_code == 409
    assert Enrollment.objects.filter(student=learner).count() == 1


def test_enroll_again_after_dropping_is_201(learner_client):
    course = course_with_lessons(2)
    enrollment_id = learner_client.post(f"/api/courses/{course.pk}/enroll/").json()["id"]
    learner_client.post(f"/api/enrollments/{enrollment_id}/drop/")

    again = learner_client.post(f"/api/courses/{course.pk}/enroll/")

    assert again.status_code == 201
    assert (again.json()["id"], again.json()["status"]) == (enrollment_id, "active")


def test_enroll_in_unpublished_or_unknown_course_is_404(learner_client, staff_client):
    draft = course_with_lessons(1, is_published=False)

    assert learner_client.post(f"/api/courses/{draft.pk}/enroll/").status_code == 404
    assert staff_client.post(f"/api/courses/{draft.pk}/enroll/").status_code == 404
    assert learner_client.post("/api/courses/00000000-0000-0000-0000-000000000000/enroll/").status_code == 404
    assert not Enrollment.objects.exists()


def test_enroll_anonymous_is_401(api_client):
    assert api_client.post(f"/api/courses/{course_with_lessons(1).pk}/enroll/").status_code == 401


def test_recalculate_progress_is_staff_only_and_returns_202_with_the_task(
    api_client, learner_client, staff_client, django_capture_on_commit_callbacks
):
    course = course_with_lessons(1)
    url = f"/api/courses/{course.pk}/recalculate-progress/"

    assert api_client.post(url).status_code == 401
    assert learner_client.post(url).status_code == 403
    assert (
        staff_client.post("/api/courses/00000000-0000-0000-0000-000000000000/recalculate-progress/").status_code == 404
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = staff_client.post(url)

    assert response.status_code == 202
    body = response.json()
    assert body["status_url"].endswith(f"/api/tasks/{body['task_id']}/")
    assert len(callbacks) == 1


def test_course_list_is_a_constant_number_of_queries(api_client, django_assert_max_num_queries):
    for _ in range(6):
        course_with_lessons(3)

    with django_assert_max_num_queries(2):
        assert api_client.get("/api/courses/").json()["count"] == 6
