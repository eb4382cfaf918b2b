import pytest

from tests.processes import broker_purge, start_worker


@pytest.fixture(scope="package")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """One real `celery -A lms worker` on every queue, shared by the integration tests, and
    stopped once they are done: tests after them count what reaches the broker's queues."""
    with django_db_blocker.unblock():
        broker_purge()
        worker = start_worker(name="it", tmp_dir=tmp_path_factory.mktemp("worker"))
    yield worker
    worker.stop()


@pytest.fixture
def live_worker(celery_worker, transactional_db, settings):
    """The shared worker, with this test's jobs going to it through the broker.

    On the way out it waits for the worker to finish every job this test caused, so nothing
    writes into the database while pytest-django flushes it for the next test.
    """
    settings.TASKS_FORCE_INLINE = False
    settings.MEDIA_ROOT = celery_worker.media_dir  # files the worker writes, the test can read
    yield celery_worker
    celery_worker.wait_idle()


@pytest.fixture
def beat_redis():
    """The broker's Redis database (never another), without beat's lock or heartbeat."""
    import redis

    from lms.jobs.beat import BEAT_LAST_TICK_KEY, BEAT_LOCK_KEY
    from tests.processes import broker_url

    client = redis.Redis.from_url(broker_url())
    client.delete(BEAT_LOCK_KEY, BEAT_LAST_TICK_KEY)
    yield client
    client.delete(BEAT_LOCK_KEY, BEAT_LAST_TICK_KEY)


@pytest.fixture
def start_beats(live_worker, beat_redis, tmp_path):
    """Start real beat processes: `start_beats("a", "b")`. They are stopped before the test's
    database is flushed (this fixture's teardown runs before live_worker's)."""
    from tests.processes import start_beat

    started = []

    def start(*names: str, env_overrides: dict[str, str] | None = None):
        beats = []
        for name in names:  # each one registered for teardown as soon as it exists
            beats.append(start_beat(name=name, tmp_dir=tmp_path, env_overrides=env_overrides, wait=False))
            started.append(beats[-1])
        for beat in beats:
            beat.wait_log("beat: Starting...")
        return beats

    yield start
    for beat in started:
        beat.stop()


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def browser():
    """Headless Chromium driven by Selenium (Debian's chromium + chromium-driver packages)."""
    import os
    from pathlib import Path

    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the selenium package (requirements-dev.txt)")
    if missing:
        message = (
            f"Browser tests need {', '.join(missing)}: apt-get install -y chromium chromium-driver "
            "and pip install -r requirements-dev.txt (scripts/test does both)."
        )
        if os.environ.get("LMS_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--window-size=1280,1024",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()
