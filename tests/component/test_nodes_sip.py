"""A telephone's call moves between two real nodes on one Redis: the node left takes it up with a re-INVITE.

baresip (a real SIP telephone) calls node one's SIP port and alice's page takes
the call. Node one is killed; node two takes the partition over, reads the
dialog from the Redis call book, and re-INVITEs the telephone from its own SIP
address (its Contact: the telephone sends its next requests there). The call
goes on: alice hears the telephone again, the telephone hears alice, and
alice's hang-up reaches it. UDP only: TCP/TLS telephones are not covered here.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path

from talkbox.events.redis_bus import partition_of, redis_client
from tests.sip.baresip import PHONE_RATE, baresip
from tests.sip.sipp import free_udp_port
from tests.support.audio import level_at
from tests.support.nodes import node_of, nodes_behind_nginx, owners
from tests.support.peer import Peer

ALICE_HZ, PHONE_HZ = 600.0, 1000.0
HEARD = -30.0
LEASE = 2.0


async def test_a_telephone_call_goes_on_after_the_node_carrying_it_is_killed(redis_url: str, tmp_path: Path) -> None:
    sip_ports = {"one": free_udp_port(), "two": free_udp_port()}
    own = {name: {"TALKBOX_SIP_LISTEN": f"udp:127.0.0.1:{port}"} for name, port in sip_ports.items()}
    client = redis_client(redis_url)
    async with (
        nodes_behind_nginx(
            tmp_path, redis_url, own,
            TALKBOX_REDIS_LEASE=str(LEASE), TALKBOX_SIP_RING="alice", TALKBOX_SIP_ALLOW="127.0.0.0/8",
            TALKBOX_VOICEMAIL="0",
        ) as (nginx, nodes),
        contextlib.AsyncExitStack() as pages,
    ):  # fmt: skip
        one = nodes[0]
        async with asyncio.timeout(10):  # node one hands half its partitions to node two, which has no call yet
            while (await owners(client)).count("two") < 8:
                await asyncio.sleep(0.05)
        alice = await pages.enter_async_context(Peer(nginx.url, "alice", ALICE_HZ, auto_accept=True))
        [alice_node] = await node_of(client, "alice")
        phone = await pages.enter_async_context(
            baresip(tmp_path / "phone", PHONE_HZ, seconds=60, dial=f"sip:+15005550006@127.0.0.1:{sip_ports['one']}")
        )
        await alice.wait_for(lambda: alice.level(PHONE_HZ) > HEARD, timeout=20)
        lease = f"talkbox:lease:{partition_of('conference:' + alice.active_conference()['id'])}"
        carrier = (await client.get(lease)).decode().split(":")[0]
        assert carrier == "one", "a call that came in at node one is carried there, where its media is"
        # Node two's book entry, read after the kill, is all it knows of the dialog.
        assert [key async for key in client.scan_iter("talkbox:sip:call:*")], "the answered call is in the book"

        one.signal(signal.SIGKILL)
        killed = time.monotonic()
        async with asyncio.timeout(3 * LEASE):
            while not (await client.get(lease) or b"").startswith(b"two:"):
                await asyncio.sleep(0.05)
        if alice_node == "one":  # her socket died with it: the page reconnects through nginx, to node two
            await alice.__aexit__(None, None, None)
            alice = await pages.enter_async_context(Peer(nginx.url, "alice", ALICE_HZ, auto_accept=True))
        await alice.resume()
        alice.heard.clear()
        await alice.wait_for(lambda: len(alice.heard) > 20 and alice.level(PHONE_HZ) > HEARD, timeout=15)
        back = time.monotonic() - killed
        print(f"the telephone heard on alice's page again {back:.2f} s after node one was killed")
        trace = (phone.folder / "baresip.log").read_text(errors="replace")  # -s: every SIP message it saw
        # Node two's re-INVITE, to the telephone's Contact, with node two's own address as the new Contact.
        contact = f"Contact: <sip:talkbox@127.0.0.1:{sip_ports['two']}>"
        invites = trace.split("INVITE sip:")[1:]
        reinvites = [m for m in invites if not m.startswith("+15005550006") and contact in m.split("\n\n")[0]]
        await asyncio.sleep(3)  # for the telephone's recording to hold alice again
        await alice.hang_up()
        async with asyncio.timeout(10):  # node two's BYE, to the telephone, in the dialog node one made
            while not phone.took_our_bye():
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        heard = phone.heard()
        assert level_at(heard[-2 * PHONE_RATE :], ALICE_HZ, rate=PHONE_RATE) > HEARD, phone.log()
        assert reinvites, phone.log()
    await client.aclose()
