"""/metrics scraped before, during and after a call: the figures follow the call."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.peer import Peer, connect
from tests.support.server import running_server

ALICE_HZ, BOB_HZ = 440.0, 880.0


async def scrape(http: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = await http.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(figures: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return figures.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_a_scrape_during_a_call_sees_it_and_its_end_is_counted() -> None:
    async with running_server() as url, httpx.AsyncClient(base_url=url) as http:
        idle = await scrape(http)
        assert value(idle, "talkbox_conferences_active") == 0
        assert value(idle, "talkbox_websocket_connections") == 0
        async with Peer(url, "alice", ALICE_HZ) as alice, Peer(url, "bob", BOB_HZ) as bob:
            await connect(alice, bob)
            during = await scrape(http)
            assert value(during, "talkbox_conferences_active") == 1
            assert value(during, "talkbox_legs_active", kind="browser") == 2
            assert value(during, "talkbox_websocket_connections") == 2
            assert value(during, "talkbox_media_legs") == 2
            assert ("talkbox_mixer_late_ticks_total", ()) in during
            await asyncio.sleep(0.3)
            later = await scrape(http)
            # The mixer's clock runs while the call does (50 ticks a second).
            assert value(later, "talkbox_mixer_ticks_total") > value(during, "talkbox_mixer_ticks_total")
            assert value(later, "talkbox_call_outcomes_total", reason="hung-up") == 0

            await bob.hang_up()
            await alice.wait_for(lambda: alice.last_conference()["status"] == "ended")
            ended = await scrape(http)
            assert value(ended, "talkbox_conferences_active") == 0
            assert value(ended, "talkbox_legs_active", kind="browser") == 0
            assert value(ended, "talkbox_call_outcomes_total", reason="hung-up") == 1
            assert value(ended, "talkbox_leg_outcomes_total", status="completed", reason="hung-up") >= 1
        await asyncio.sleep(0.2)
        assert value(await scrape(http), "talkbox_websocket_connections") == 0
