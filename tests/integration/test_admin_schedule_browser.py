"""Staff edit a schedule in Django admin, in a real browser; the running beat follows it."""

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_results.models import TaskResult

from lms.users.models import User
from tests.processes import beat_sends, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PASSWORD = "an-admin-passw0rd-for-tests"


def test_staff_change_a_schedule_in_admin_and_the_running_beat_picks_it_up(live_server, browser, start_beats):
    # Imported here: without selenium the `browser` fixture fails (or skips) with what to install.
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    # given staff, a token clean-up scheduled hourly, and a beat running that schedule
    User.objects.create_superuser(email="ops@example.com", password=PASSWORD, full_name="Ops")
    hourly = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    every_2s = IntervalSchedule.objects.create(every=2, period=IntervalSchedule.SECONDS)
    schedule = PeriodicTask.objects.create(
        name="tokens", task="lms.users.tasks.cleanup_expired_tokens", interval=hourly
    )
    (beat,) = start_beats("beat")
    beat.wait_log("acquired: this beat schedules")

    # when staff sign in to the admin, open the schedule and set it to every 2 seconds
    browser.get(f"{live_server.url}/admin/login/?next=/admin/django_celery_beat/periodictask/{schedule.pk}/change/")
    browser.find_element(By.ID, "id_username").send_keys("ops@example.com")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    interval = Select(browser.find_element(By.ID, "id_interval"))
    assert interval.first_selected_option.text == str(hourly)
    interval.select_by_visible_text(str(every_2s))
    browser.find_element(By.NAME, "_save").click()

    # then the admin confirms, and the database holds the new interval
    assert "was changed successfully" in browser.find_element(By.CSS_SELECTOR, ".messagelist").text
    schedule.refresh_from_db()
    assert schedule.interval_id == every_2s.pk
    # and the beat, still running, notices the change and sends it every 2 seconds
    beat.wait_log("DatabaseScheduler: Schedule changed.", timeout=15)
    wait_for(lambda: beat_sends(beat, "tokens") >= 2, timeout=20, what="beat to send the edited schedule twice")
    result = wait_for(
        lambda: TaskResult.objects.filter(periodic_task_name="tokens", status="SUCCESS").first(),
        timeout=20,
        what="the worker to run it",
    )
    assert result.task_name == "lms.users.tasks.cleanup_expired_tokens"
