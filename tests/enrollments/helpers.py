from datetime import UTC, date, datetime

import time_machine

from enrollments import services
from tests.factories import UserFactory, course_with_lessons

# ISO week 2026-W10: Monday 2 March 2026 00:00 UTC to Monday 9 March.
WEEK_START = date(2026, 3, 2)
WEEK_LABEL = "2026-W10"
# When the scheduled run (Monday 09:00) reports that week.
REPORT_TIME = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)

PYTHON_TITLE = "Python <b>basics</b> & more"
SQL_TITLE = "Данные и SQL"


def at(*args) -> time_machine.travel:
    return time_machine.travel(datetime(*args, tzinfo=UTC), tick=False)


def week_of_activity():
    """In 2026-W10: three learners enroll in the Python course and one in the SQL course; one
    Python enrollment completes in the week's last second. Around it, outside the week: an
    enrollment the Sunday before and a completion the Monday after. A third course is idle.

    Expected for the week: Python 3 enrollments and 1 completion, SQL 1 and 0.
    """
    python = course_with_lessons(1, title=PYTHON_TITLE)
    sql = course_with_lessons(2, title=SQL_TITLE)
    course_with_lessons(1, title="Idle course")
    learners = [UserFactory() for _ in range(4)]
    with at(2026, 3, 1, 23, 59, 59):
        services.enrollment_create(student=learners[3], course=python)
    with at(2026, 3, 3, 10, 0):
        enrollments = [services.enrollment_create(student=learner, course=python) for learner in learners[:3]]
        services.enrollment_create(student=learners[0], course=sql)
    lesson = python.lessons.get()
    with at(2026, 3, 8, 23, 59, 59):
        services.enrollment_complete_lesson(enrollment=enrollments[0], lesson_id=lesson.pk)
    with at(2026, 3, 9, 0, 0):
        services.enrollment_complete_lesson(enrollment=enrollments[1], lesson_id=lesson.pk)
    return python, sql
