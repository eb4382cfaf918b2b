"""The weekly report: figures per course, the PDF with its chart, storage, staff e-mails, the task."""

import io
from datetime import UTC, datetime, timedelta

import pypdfium2
import pytest
import time_machine
from django.core import mail
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pypdf import PdfReader
from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.pdfgen.canvas import Canvas

from enrollments import services
from enrollments.models import WeeklyReport
from enrollments.report_pdf import (
    CHART_LABEL_WIDTH,
    CHART_MAX_COURSES,
    CourseRow,
    render_weekly_report_pdf,
    weekly_chart,
)
from enrollments.reports import (
    previous_week_start,
    weekly_report_figures,
    weekly_report_generate,
)
from enrollments.tasks import generate_weekly_report
from lms.errors import InvalidInput
from notifications.models import Notification
from tests.enrollments.helpers import (
    PYTHON_TITLE,
    REPORT_TIME,
    SQL_TITLE,
    WEEK_LABEL,
    WEEK_START,
    week_of_activity,
)
from tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

FILE_NAME = f"reports/weekly/{WEEK_LABEL}.pdf"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Several accounts per test; their passwords play no part here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def week():
    return week_of_activity()


@pytest.fixture
def staff_members():
    """Two active staff members, one former (inactive) one, and a learner."""
    return {
        "ada": StaffFactory(email="ada@example.com"),
        "grace": StaffFactory(email="grace@example.com"),
        "former": StaffFactory(email="former@example.com", is_active=False),
        "learner": UserFactory(email="learner@example.com"),
    }


@pytest.fixture
def at_report_time():
    with time_machine.travel(REPORT_TIME, tick=False):
        yield


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def stored_pdf() -> bytes:
    with default_storage.open(FILE_NAME, "rb") as file:
        return file.read()


def weekly_emails() -> list:
    return [m for m in mail.outbox if m.subject.startswith(f"Weekly report {WEEK_LABEL}")]


def rows(figures: dict) -> list[tuple[str, int, int]]:
    return [(c["title"], c["enrollments"], c["completions"]) for c in figures["courses"]]


# --- figures -------------------------------------------------------------------------------


def test_weekly_report_figures_count_each_courses_week_busiest_first(week):
    figures = weekly_report_figures(week_start=WEEK_START)

    assert rows(figures) == [(PYTHON_TITLE, 3, 1), (SQL_TITLE, 1, 0)]
    assert figures["totals"] == {"courses": 2, "enrollments": 4, "completions": 1}


def test_weekly_report_figures_take_a_fixed_number_of_queries(week):
    with CaptureQueriesContext(connection) as queries:
        weekly_report_figures(week_start=WEEK_START)

    assert len(queries) == 3  # two aggregates and the titles, however many courses


def test_weekly_report_figures_of_a_quiet_week_are_empty(week):
    figures = weekly_report_figures(week_start=WEEK_START - timedelta(weeks=5))

    assert figures == {"courses": [], "totals": {"courses": 0, "enrollments": 0, "completions": 0}}


def test_previous_week_start_is_the_last_complete_iso_week():
    assert previous_week_start(REPORT_TIME) == WEEK_START
    assert previous_week_start(datetime(2026, 3, 9, 0, 0, tzinfo=UTC)) == WEEK_START
    assert previous_week_start(datetime(2026, 3, 8, 23, 59, tzinfo=UTC)) == WEEK_START - timedelta(weeks=1)


# --- the PDF -------------------------------------------------------------------------------


def test_weekly_report_generate_stores_a_pdf_with_titles_and_figures(week, staff_members, at_report_time):
    summary = weekly_report_generate(week_start=WEEK_START)

    content = stored_pdf()
    assert content.startswith(b"%PDF-")
    text = pdf_text(content)
    assert f"Weekly report {WEEK_LABEL}" in text
    assert "Monday 2 March 2026 to Sunday 8 March 2026 (UTC)" in text
    assert "4 new enrollments and 1 completion in 2 courses." in text
    # titles are printed literally, markup and all, in a font that has their letters
    assert PYTHON_TITLE in text and SQL_TITLE in text
    assert "New enrollments" in text and "Completions" in text  # legend and table header
    assert summary == {
        "week": WEEK_LABEL,
        "week_start": "2026-03-02",
        "courses": 2,
        "enrollments": 4,
        "completions": 1,
        "recipients": 2,
        "file": FILE_NAME,
    }


def test_weekly_report_generate_records_the_report(week, at_report_time):
    weekly_report_generate(week_start=WEEK_START + timedelta(days=3))  # any day of the week

    report = WeeklyReport.objects.get()
    assert (report.week_start, report.iso_week, report.file.name) == (WEEK_START, WEEK_LABEL, FILE_NAME)
    assert report.generated_at == REPORT_TIME
    assert len(report.sha256) == 64
    assert rows(report.figures) == [(PYTHON_TITLE, 3, 1), (SQL_TITLE, 1, 0)]


def test_weekly_chart_plots_enrollments_and_completions_per_course():
    # given
    course_rows = [CourseRow("Python", 3, 1), CourseRow("SQL", 1, 0)]

    # when
    flowable = weekly_chart(course_rows, width=480)

    # then
    chart = flowable.drawing.chart
    assert isinstance(chart, HorizontalBarChart)
    assert chart.data == [(3, 1), (1, 0)]
    assert chart.categoryAxis.categoryNames == ["Python", "SQL"]
    assert [name for _, name in flowable.drawing.legend.colorNamePairs] == ["New enrollments", "Completions"]
    (python, python_baseline), (sql, sql_baseline) = flowable.labels
    assert (python, sql) == ("Python", "SQL") and python_baseline > sql_baseline  # first course on top


def test_weekly_chart_sets_an_arabic_course_title_shaped_right_to_left_beside_its_bars():
    # given
    title = "مقدمة في بايثون"
    flowable = weekly_chart([CourseRow(title, 3, 1)], width=480)

    # when the chart alone is drawn on a page
    buffer = io.BytesIO()
    canvas = Canvas(buffer)
    flowable.wrapOn(canvas, 480, 400)
    flowable.drawOn(canvas, 0, 0)
    canvas.save()

    # then the title reads as typed, its first letter at the right end, within the label column
    page = pypdfium2.PdfDocument(buffer.getvalue())[0].get_textpage()
    text = page.get_text_range()
    start = text.index(title)
    first, last = page.get_charbox(start), page.get_charbox(start + len(title) - 1)
    assert first[0] > last[0]  # (left, bottom, right, top): right to left
    assert first[2] <= CHART_LABEL_WIDTH + 0.5


def test_weekly_report_pdf_draws_the_chart_as_vector_bars():
    content = render_weekly_report_pdf(
        week_label=WEEK_LABEL,
        week_start=WEEK_START,
        rows=[CourseRow("Python", 3, 1)],
        generated_at=REPORT_TIME,
    )

    page = PdfReader(io.BytesIO(content)).pages[0]
    operations = page.get_contents().get_data()
    assert operations.count(b" re") >= 2  # a rectangle per bar (and the legend swatches)


def test_weekly_report_pdf_with_many_courses_charts_the_busiest_and_tables_them_all():
    course_rows = [CourseRow(f"Course {n:02d}", 100 - n, n % 7) for n in range(45)]

    content = render_weekly_report_pdf(
        week_label=WEEK_LABEL, week_start=WEEK_START, rows=course_rows, generated_at=REPORT_TIME
    )

    reader = PdfReader(io.BytesIO(content))
    assert len(reader.pages) >= 2
    text = pdf_text(content)
    assert f"The chart shows the {CHART_MAX_COURSES} busiest of 45 courses" in text
    assert "Course 00" in text and "Course 44" in text
    assert text.count("New enrollments") >= 3  # the legend, and the table header on every page


def test_weekly_report_pdf_of_a_quiet_week_says_so():
    content = render_weekly_report_pdf(week_label=WEEK_LABEL, week_start=WEEK_START, rows=[], generated_at=REPORT_TIME)

    assert "No enrollments or completions this week." in pdf_text(content)


def test_weekly_report_pdf_is_deterministic():
    def render():
        return render_weekly_report_pdf(
            week_label=WEEK_LABEL, week_start=WEEK_START, rows=[CourseRow("Python", 3, 1)], generated_at=REPORT_TIME
        )

    assert render() == render()


# --- e-mail and idempotency ----------------------------------------------------------------


def test_generate_weekly_report_task_run_twice_emails_each_staff_member_once(
    week, staff_members, at_report_time, django_capture_on_commit_callbacks
):
    # when the scheduled task runs, and is delivered a second time
    with django_capture_on_commit_callbacks(execute=True):
        first = generate_weekly_report.apply().get()
    with django_capture_on_commit_callbacks(execute=True):
        second = generate_weekly_report.apply().get()

    # then each active staff member got one e-mail, with the PDF attached; nobody else got one
    emails = weekly_emails()
    assert sorted(m.to[0] for m in emails) == ["ada@example.com", "grace@example.com"]
    for message in emails:
        ((filename, content, mimetype),) = message.attachments
        assert (filename, mimetype) == (f"{WEEK_LABEL}.pdf", "application/pdf")
        assert content == stored_pdf()
    assert Notification.objects.filter(kind=Notification.Kind.WEEKLY_REPORT).count() == 2
    assert first == second
    assert WeeklyReport.objects.count() == 1
    assert default_storage.listdir("reports/weekly")[1] == [f"{WEEK_LABEL}.pdf"]


def test_weekly_report_email_states_the_week_and_links_to_the_admin(week, staff_members, at_report_time, settings):
    settings.FRONTEND_URL = "https://lms.example.com"

    weekly_report_generate(week_start=WEEK_START)

    notification = Notification.objects.get(user=staff_members["ada"], kind=Notification.Kind.WEEKLY_REPORT)
    report = WeeklyReport.objects.get()
    admin_url = f"https://lms.example.com/admin/enrollments/weeklyreport/{report.pk}/pdf/"
    assert notification.subject == f"Weekly report {WEEK_LABEL}: 4 enrollments, 1 completion"
    assert notification.dedupe_key == f"weekly_report:{WEEK_LABEL}:{staff_members['ada'].pk}"
    assert notification.attachment.name == FILE_NAME
    assert "2 March to 8 March 2026" in notification.body
    assert f"- {PYTHON_TITLE}: 3 new, 1 completed" in notification.body  # text part: literal
    assert admin_url in notification.body and admin_url in notification.body_html
    assert "Python &lt;b&gt;basics&lt;/b&gt; &amp; more" in notification.body_html  # HTML part: escaped


def test_weekly_report_rerun_overwrites_the_file_with_late_data_and_emails_nobody_again(
    week, staff_members, at_report_time, django_capture_on_commit_callbacks
):
    # given a report already sent
    python, _ = week
    with django_capture_on_commit_callbacks(execute=True):
        weekly_report_generate(week_start=WEEK_START)
    first = WeeklyReport.objects.get()
    mail.outbox.clear()

    # when an enrollment of that week arrives late and the week is generated again
    late = UserFactory()
    with time_machine.travel(datetime(2026, 3, 4, 12, 0, tzinfo=UTC), tick=False):
        services.enrollment_create(student=late, course=python)
    with django_capture_on_commit_callbacks(execute=True):
        summary = weekly_report_generate(week_start=WEEK_START)

    # then the one file and row hold the new figures, and no second e-mail went out
    report = WeeklyReport.objects.get()
    assert report.pk == first.pk and report.file.name == FILE_NAME
    assert report.sha256 != first.sha256
    assert summary["enrollments"] == 5
    assert "5 new enrollments and 1 completion in 2 courses." in pdf_text(stored_pdf())
    assert weekly_emails() == []


def test_weekly_report_reaches_staff_who_joined_since_the_first_run(week, staff_members, at_report_time):
    weekly_report_generate(week_start=WEEK_START)
    newcomer = StaffFactory()

    summary = weekly_report_generate(week_start=WEEK_START)

    assert summary["recipients"] == 3
    assert Notification.objects.filter(kind=Notification.Kind.WEEKLY_REPORT, user=newcomer).count() == 1
    assert Notification.objects.filter(kind=Notification.Kind.WEEKLY_REPORT).count() == 3


# --- refusals and the task's settings ------------------------------------------------------


def test_weekly_report_generate_refuses_a_week_that_has_not_ended(week):
    with (
        time_machine.travel(datetime(2026, 3, 8, 23, 0, tzinfo=UTC), tick=False),
        pytest.raises(InvalidInput, match="The week 2026-W10 has not ended yet"),
    ):
        weekly_report_generate(week_start=WEEK_START)

    assert not WeeklyReport.objects.exists()


@pytest.mark.parametrize("week_start", ["last week", "2026-02-30", "2026-03-02T00:00:00"])
def test_generate_weekly_report_task_fails_fast_on_a_bad_date(week_start):
    result = generate_weekly_report.apply(kwargs={"week_start": week_start})

    assert result.failed()
    assert "YYYY-MM-DD" in str(result.result)


def test_generate_weekly_report_task_takes_an_explicit_week(week, at_report_time):
    summary = generate_weekly_report.apply(kwargs={"week_start": "2026-03-05"}).get()

    assert (summary["week"], summary["enrollments"]) == (WEEK_LABEL, 4)


def test_generate_weekly_report_task_is_bounded_and_routed_to_the_default_queue(settings):
    from lms.celery import app

    task = generate_weekly_report
    assert task.soft_time_limit < task.time_limit <= settings.TASK_MAX_DELAY_SECONDS
    assert task.retry_backoff_max <= settings.TASK_MAX_DELAY_SECONDS
    assert app.amqp.router.route({}, task.name)["queue"].name == "default"


# --- admin ---------------------------------------------------------------------------------


def test_weekly_report_admin_serves_the_pdf_to_staff(week, at_report_time, admin_client, client):
    weekly_report_generate(week_start=WEEK_START)
    report = WeeklyReport.objects.get()
    url = reverse("admin:enrollments_weeklyreport_pdf", args=[report.pk])

    response = admin_client.get(url)
    changelist = admin_client.get(reverse("admin:enrollments_weeklyreport_changelist"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content) == stored_pdf()
    assert url in changelist.content.decode()
    assert client.get(url).status_code == 302  # anonymous: to the login page


def test_weekly_report_admin_is_read_only(week, at_report_time, admin_client):
    weekly_report_generate(week_start=WEEK_START)
    report = WeeklyReport.objects.get()

    assert admin_client.get(reverse("admin:enrollments_weeklyreport_add")).status_code == 403
    assert admin_client.get(reverse("admin:enrollments_weeklyreport_delete", args=[report.pk])).status_code == 403
    assert admin_client.get(reverse("admin:enrollments_weeklyreport_change", args=[report.pk])).status_code == 200


def test_weekly_report_admin_says_when_the_pdf_is_gone(week, at_report_time, admin_client):
    weekly_report_generate(week_start=WEEK_START)
    default_storage.delete(FILE_NAME)
    report = WeeklyReport.objects.get()

    response = admin_client.get(reverse("admin:enrollments_weeklyreport_pdf", args=[report.pk]))

    assert response.status_code == 404
