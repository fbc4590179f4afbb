"""Issue 10, the soak: good calls under every attack at once, on one real `talkbox serve`, briefly.

The same code as `make bench ONLY=soak` (bench/soak.py), 25 s with three pairs (one with its
tones checked and flooded) instead of five minutes with six. The criteria are the issue's and
are not eased for the shorter run, but for one: how fast calls ring is a figure (p99 under
RING_P99_LIMIT), which the bench reports, not a timed assertion, which a busy CI machine makes
flaky (a p99 of 1.1-3 s was seen here at a load of 5-9 on two cores). Here every good call must
ring and connect within the soak's step timeout, or it counts as dropped.
"""

from __future__ import annotations

import json

from bench.common import table
from bench.soak import Config, soak, tables


async def test_no_good_call_drops_under_every_attack_at_once() -> None:
    result = await soak(Config(seconds=25.0, pairs=3, media_pairs=1))
    for title, header, rows in tables(result):
        print(table(title, header, rows))
    print(json.dumps(result["drops"], indent=1))

    assert result["calls"]["completed"] >= 6, result["calls"]
    assert result["criteria"]["no good call dropped"], result["drops"]
    assert result["criteria"]["memory bounded"], result["rss_mib"]
    assert result["criteria"]["nothing lost from the store"], result["store"]
    # The attacks were refused, not merely sent: each got the answer the edge or the gateway gives.
    attacks = result["attacks"]
    assert set(attacks["bad Host"]) == {"400"} and set(attacks["bad Origin"]) == {"403"}, attacks
    assert set(attacks["webhook: 1 MiB declared"]) == {"413"}, attacks
    assert attacks["sockets from one address"].get("4429", 0) > 0, attacks
    assert attacks["storm frames"].get("error rate_limited", 0) > 0, attacks
    assert attacks["UDP flood"]["datagrams"] > 0, attacks
    assert result["server_log_tracebacks"] == 0
