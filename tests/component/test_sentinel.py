"""TALKBOX_REDIS_URL may name a Redis Sentinel: the node asks it where the master is, for every connection."""

from __future__ import annotations

from pathlib import Path

import pytest

from talkbox.app.settings import Settings
from tests.support.peer import Peer, connect
from tests.support.redis_server import redis_server, sentinel_for
from tests.support.server import running_app

ALICE_HZ, BOB_HZ = 440.0, 880.0


async def test_a_call_through_a_node_that_found_its_redis_through_sentinel(tmp_path: Path) -> None:
    with redis_server(tmp_path) as master, sentinel_for(master, tmp_path) as url:
        async with (
            running_app(redis_url=url, node_id="one", redis_lease=1.0, media_workers=0) as (base, app),
            Peer(base, "alice", ALICE_HZ) as alice,
            Peer(base, "bob", BOB_HZ) as bob,
        ):
            await connect(alice, bob)  # the bus, the store, the pages' streams and presence, all on the master
            assert len(app.state.talkbox.bus.owned()) == 16
            assert await app.state.talkbox.ready()
            assert alice.last_seq is not None  # pushed through the user's outbox stream
            await alice.hang_up()
            await bob.wait_for(lambda: bob.last_conference()["status"] == "ended")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+sentinel://127.0.0.1/talkbox", "HOST:PORT"),
        ("redis+sentinel://127.0.0.1:26379", "name the monitored service"),
        ("redis+sentinel://127.0.0.1:26379/talkbox/zero", "database is a number"),
        ("http://127.0.0.1:6379/0", "starts redis://"),
    ],
)
def test_a_redis_url_talkbox_cannot_use_stops_the_start_with_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Settings(redis_url=url)
