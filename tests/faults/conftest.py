import contextlib

import pytest

from tests.faults.infra import RedisServer, Stack, app_on_broker, purge, rabbitmq_vhost

# (The `faults` mark is set in each test module: pytest ignores `pytestmark` in a conftest.)


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
