"""The queues page (/admin/jobs/) in a real browser, on each broker the deployment may use:
messages waiting and their age, the workers consuming, the outbox, the last hour per task."""

import contextlib
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from lms.models import OutboxMessage
from lms.users.models import User
from tests.faults.infra import RedisServer, app_on_broker, rabbitmq_vhost, send
from tests.processes import ROOT, start_worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PASSWORD = "an-admin-passw0rd-for-tests"
SCREENSHOTS = ROOT / "var" / "screenshots"
TOKENS = "lms.users.tasks.cleanup_expired_tokens"


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request, tmp_path, settings):
    """A broker of this test's own: a throw-away redis-server, or a RabbitMQ virtual host."""
    with contextlib.ExitStack() as stack:
        if request.param == "redis":
            server = RedisServer(tmp_path)
            server.start()
            stack.callback(server.stop)
            url = server.url
        else:
            url = stack.enter_context(rabbitmq_vhost())
        stack.enter_context(app_on_broker(url))
        settings.CELERY_BROKER_URL = url
        settings.TASKS_FORCE_INLINE = False
        yield request.param, url


def test_the_queues_page_shows_queues_workers_outbox_and_the_last_hour(live_server, browser, broker, tmp_path):
    from selenium.webdriver.common.by import By

    kind, url = broker
    # given a worker on two queues only, jobs it ran (two succeeded, one failed) ...
    worker = start_worker(
        name=f"jobs-page-{kind}", tmp_dir=tmp_path, queues=("default", "progress"), concurrency=1,
        env_overrides={"CELERY_BROKER_URL": url},
    )  # fmt: skip
    try:
        ran = [send(TOKENS), send(TOKENS), send(TOKENS, "unexpected")]
        from django_celery_results.models import TaskResult

        wait_for(lambda: TaskResult.objects.filter(task_id__in=ran).exclude(status="STARTED").count() == 3,
                 timeout=60, what="the three jobs")  # fmt: skip
        # ... three e-mails waiting in a queue nobody consumes, and a job stuck in the outbox
        for _ in range(3):
            send("notifications.tasks.send_notification", "00000000-0000-0000-0000-000000000000")
        time.sleep(1.5)
        row = OutboxMessage.objects.create(task_name="certificates.tasks.generate_certificate", args=["x"])
        OutboxMessage.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(minutes=5))
        # (bulk_create: no welcome e-mail joins the queue)
        ops = User(email="ops@example.com", full_name="Ops", is_staff=True, is_superuser=True, is_verified=True)
        ops.set_password(PASSWORD)
        User.objects.bulk_create([ops])

        # when staff sign in and open the page
        browser.get(f"{live_server.url}/admin/login/?next=/admin/jobs/")
        browser.find_element(By.ID, "id_username").send_keys("ops@example.com")
        browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()

        # then it shows each queue: waiting messages and their age, consumers, outbox
        assert browser.find_element(By.ID, "broker").text == {"redis": "Redis", "rabbitmq": "RabbitMQ"}[kind]
        emails = browser.find_element(By.ID, "queue-emails")
        assert emails.find_element(By.CLASS_NAME, "waiting").text == "3"
        age = emails.find_element(By.CLASS_NAME, "oldest").text
        assert age.endswith(" s") and 1 <= int(age[:-2]) < 120, age
        assert emails.find_element(By.CLASS_NAME, "workers").text == "none"
        default = browser.find_element(By.ID, "queue-default")
        assert default.find_element(By.CLASS_NAME, "workers").text == worker.name
        assert default.find_element(By.CLASS_NAME, "waiting").text == "0"
        certificates = browser.find_element(By.ID, "queue-certificates")
        assert certificates.find_element(By.CLASS_NAME, "outbox").text == "1"
        # and per task the last hour, with a chart drawn on the page and a link to the failures
        tokens = browser.find_element(By.CSS_SELECTOR, f'tr.task[data-task="{TOKENS}"]')
        assert tokens.find_element(By.CLASS_NAME, "succeeded").text == "2"
        failed = tokens.find_element(By.CSS_SELECTOR, ".failed a")
        assert failed.text == "1"
        assert "status__exact=FAILURE" in failed.get_attribute("href")
        assert tokens.find_elements(By.CSS_SELECTOR, "svg rect[fill='#2e7d32']")
        assert tokens.find_elements(By.CSS_SELECTOR, "svg rect[fill='#c62828']")
        assert browser.find_element(By.ID, "flower-link").get_attribute("href")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOTS / f"admin-jobs-{kind}.png"))
        assert Path(SCREENSHOTS / f"admin-jobs-{kind}.png").stat().st_size > 10_000

        # and the page did not take the waiting messages: they are all still there
        failed.click()
        assert "FAILURE" in browser.page_source
    finally:
        worker.stop()
    from tests.faults.infra import queue_sizes

    assert queue_sizes(url, ("emails",))["emails"] == 3
