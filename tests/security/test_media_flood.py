"""Issue 10, item 10: a flood at one leg's media port costs that leg, not the calls beside it."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Awaitable

from tests.support.peer import Peer, connect
from tests.support.server import running_server

ALICE_HZ, BOB_HZ, CAROL_HZ, DAVE_HZ = 440.0, 880.0, 660.0, 550.0


# Its own process, so that the flood takes no time from the pages in this one.
FLOOD = """
import socket, sys, time
port, seconds, rate = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
packet = b"\\x81\\xc9\\x00\\x07" + bytes(28)
sent, start = 0, time.monotonic()
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
    while (now := time.monotonic()) < start + seconds:
        while sent < (now - start) * rate:
            sender.sendto(packet, ("127.0.0.1", port))
            sent += 1
        time.sleep(0.001)
print(sent)
"""


async def flood(port: int, seconds: float, rate: int) -> int:
    """RTCP-looking datagrams at one port, `rate` a second (the attack measured: 20k a second)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", FLOOD, str(port), str(seconds), str(rate), stdout=asyncio.subprocess.PIPE
    )
    output, _ = await process.communicate()
    assert int(output) > 0.8 * rate * seconds, "the flood was not sent"
    return int(output)


async def frame_rates(peers: tuple[Peer, ...], period: Awaitable[object]) -> list[float]:
    before, started = [peer.frames for peer in peers], time.monotonic()
    await period
    elapsed = time.monotonic() - started
    return [round((peer.frames - count) / elapsed, 1) for peer, count in zip(peers, before, strict=True)]


async def test_bystanders_keep_their_audio_while_a_leg_is_flooded() -> None:
    async with (
        running_server(media_workers=1) as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
        Peer(url, "carol", CAROL_HZ) as carol,
        Peer(url, "dave", DAVE_HZ) as dave,
    ):
        victim_sdp = await connect(alice, bob)
        await connect(carol, dave)
        port = int(re.search(r"a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+) typ host", victim_sdp).group(1))

        quiet = await frame_rates((carol, dave), asyncio.sleep(4.0))
        flooded = await frame_rates((carol, dave), flood(port, 4.0, 20_000))
        print(f"bystanders heard {quiet} frames/s, then {flooded} while the flood ran")
        # Judged against the same pages just before: what the machine's own load costs is not the flood's.
        assert all(during > 0.9 * before for before, during in zip(quiet, flooded, strict=True)), (quiet, flooded)
        assert carol.level(DAVE_HZ) > -20 and dave.level(CAROL_HZ) > -20
        assert bob.level(ALICE_HZ) > -20, "the flooded leg itself still hears alice"
