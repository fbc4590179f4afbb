"""The Redis server the component tests share; each test that asks for it starts from an empty one."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from talkbox.events import Bus, InProcessBus
from talkbox.events.redis_bus import RedisBus
from tests.support.redis_server import RedisServer, redis_server


@pytest.fixture(scope="session")
def redis_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_url(redis_process: RedisServer) -> str:
    redis_process.flush()
    return redis_process.url


@pytest.fixture(params=["in-process", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    """Both columns of DESIGN.md's table: the tests that take it must pass on each."""
    chosen: Bus = (
        InProcessBus()
        if request.param == "in-process"
        else RedisBus(request.getfixturevalue("redis_url"), node_id="test-node", lease=1.0)
    )
    await chosen.start()
    yield chosen
    await chosen.close()


def empty_redis_when_every_test_runs_on_it() -> None:
    """`make test` runs this suite a second time with TALKBOX_REDIS_URL set (DESIGN.md's table: both columns), so
    every server a test starts uses the Redis bus and store; each starts from an empty Redis, as from an empty
    SQLite database."""
    url = os.environ.get("TALKBOX_REDIS_URL")
    if url:
        with redis.Redis.from_url(url, socket_timeout=5) as client:
            client.flushall()


@pytest.fixture(autouse=True)
def _empty_redis() -> Iterator[None]:
    """Per test. A module whose server outlives one test overrides this by name: emptied under a running
    server, Redis would lose that server's streams and leases."""
    empty_redis_when_every_test_runs_on_it()
    yield
