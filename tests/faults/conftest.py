import contextlib
from pathlib import Path

import pytest

from tests.faults.infra import REPORT, RedisServer, Stack, app_on_broker, purge, rabbitmq_vhost

FAULTS_DIR = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    # Mark every test of this folder `faults` (a pytestmark in a conftest marks nothing), so
    # `-m "not faults"` leaves out the suite that kills workers and restarts PostgreSQL.
    for item in items:
        if FAULTS_DIR in Path(item.fspath).parents:
            item.add_marker(pytest.mark.faults)


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rabbitmq_url():
    with rabbitmq_vhost() as url:
        yield url


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request):
    """Each delivery test runs once per broker the deployment may use."""
    if request.param == "redis":
        yield request.getfixturevalue("redis_server").url
        return
    url = request.getfixturevalue("rabbitmq_url")
    purge(url)
    yield url
    purge(url)


@pytest.fixture
def stack_for(transactional_db, tmp_path):
    """Build the processes of one test on a broker (this process then talks to that broker
    too); all are stopped before the database is flushed."""
    stacks = []
    with contextlib.ExitStack() as exits:

        def build(broker_url: str, **env: str) -> Stack:
            exits.enter_context(app_on_broker(broker_url))
            stack = Stack(broker_url=broker_url, tmp_dir=tmp_path, env=env)
            stacks.append(stack)
            return stack

        yield build
        for stack in stacks:
            stack.stop_all()


@pytest.fixture
def stack(stack_for, broker_url):
    return stack_for(broker_url)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if REPORT:
        terminalreporter.section("fault injection: what was injected, and the invariants after")
        for line in REPORT:
            terminalreporter.write_line(line)
