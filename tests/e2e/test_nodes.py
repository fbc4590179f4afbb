"""Issue 12 end to end: two Talkbox nodes on one Redis behind the repo's nginx (deploy/nginx.conf), real Chromium.

Every page is opened through nginx. Nobody clicks anything after a node is
killed or stopped: the pages reconnect through nginx by themselves, and the
node that takes a call over offers its media again, which the pages answer.
"""

from __future__ import annotations

import contextlib
import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from playwright.sync_api import Browser, Page, Playwright, expect

from tests.e2e.conftest import TalkboxProcess, record
from tests.e2e.listen import assert_hears_only, wait_until_heard, wait_until_silent
from tests.e2e.test_browser_calls_browser import connect
from tests.e2e.test_conference import ALICE_HZ, BOB_HZ, CAROL_HZ, three_way
from tests.support.chromium import CHROMIUM, CHROMIUM_FLAGS, FAKE_MICROPHONE
from tests.support.nodes import Balancer
from tests.support.redis_server import RedisServer, redis_server
from tests.support.server import free_port

OpenPage = Callable[..., Page]
LEASE = "2"
# A node told to stop waits this long for its calls to end before they move: short, for the tests to move them.
DRAIN_TIMEOUT = "3"
AUDIO_BACK_WITHIN = 10.0


@dataclass
class Cluster:
    redis: RedisServer
    nodes: dict[str, TalkboxProcess]
    balancer: Balancer

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.redis.port, socket_timeout=5)

    def sockets_of(self, user: str) -> set[str]:
        """The nodes holding the user's sockets, as the cluster-wide presence says."""
        with self.client() as client:
            return {node.decode() for node in client.hvals(f"talkbox:presence:{user}")}

    def carrier(self) -> str:
        """The node whose engine carries the (one) call: the one advertising legs on it."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self.client() as client:
                running = [name for name, node in self.nodes.items() if node.process.poll() is None]
                loaded = [name for name in running if int(client.get(f"talkbox:load:{name}") or 0) > 0]
            if len(loaded) == 1:
                return loaded[0]
            time.sleep(0.2)
        raise AssertionError(f"no single node carries the call: {loaded}")

    def other(self, name: str) -> str:
        return next(node for node in self.nodes if node != name)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    (tmp_path / "redis").mkdir()
    with redis_server(tmp_path / "redis", persistent=True) as store:
        env = {
            "TALKBOX_REDIS_URL": store.url,
            "TALKBOX_REDIS_LEASE": LEASE,
            "TALKBOX_STOP_DELAY": "1",
            "TALKBOX_DRAIN_TIMEOUT": DRAIN_TIMEOUT,
            "TALKBOX_TRUSTED_PROXIES": "127.0.0.1",
            "TALKBOX_MEDIA_WORKERS": "1",
        }
        nodes: dict[str, TalkboxProcess] = {}
        balancer: Balancer | None = None
        try:
            for name in ("one", "two"):
                nodes[name] = TalkboxProcess({**env, "TALKBOX_NODE_ID": name}, tmp_path / f"{name}.sqlite3")
            balancer = Balancer(tmp_path / "nginx", free_port(), [node.port for node in nodes.values()])
            balancer.start()
            wait_for_balancer(balancer)
            yield Cluster(store, nodes, balancer)
        finally:
            if balancer is not None:
                balancer.stop()
            for node in nodes.values():
                if node.process.poll() is None:
                    node.kill()


def wait_for_balancer(balancer: Balancer) -> None:
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{balancer.url}/healthz", timeout=1):
            return
        assert time.monotonic() < deadline, "nginx did not answer within 10 s"
        time.sleep(0.05)


@pytest.fixture
def through_nginx(
    playwright: Playwright, cluster: Cluster, tones: Callable[[float], Path]
) -> Iterator[Callable[..., Page]]:
    """open_page("alice", 440): alice's page through nginx, her microphone playing 440 Hz."""
    browsers: list[Browser] = []

    def open_as(name: str, tone_hz: float) -> Page:
        flags = [*CHROMIUM_FLAGS, FAKE_MICROPHONE, f"--use-file-for-fake-audio-capture={tones(tone_hz)}"]
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=flags)
        browsers.append(browser)
        page = browser.new_page()
        page.goto(f"{cluster.balancer.url}/?client_name={name}&audio_processing=off")
        page.locator('#connection[data-state="open"]').wait_for()
        return page

    yield open_as
    for browser in browsers:
        browser.close()


def on_other_nodes(cluster: Cluster, first: Page, second: Page) -> None:
    """nginx's round robin counts every request (a page load is several), so while the second page's socket
    is on the first's node, one request more shifts the count and the page is loaded again."""
    for _attempt in range(8):
        if len(cluster.sockets_of("alice") | cluster.sockets_of("bob")) == 2:
            return
        with urllib.request.urlopen(f"{cluster.balancer.url}/healthz", timeout=5):
            pass
        second.reload()
        second.locator('#connection[data-state="open"]').wait_for()
        time.sleep(0.2)  # the presence is registered just after `welcome`
    raise AssertionError("alice's and bob's sockets never landed on different nodes")


def back_in_rotation(cluster: Cluster, name: str, timeout: float = 20.0) -> None:
    """The restarted node holds its share of the bus and nginx sends it requests again (nginx keeps a node
    it saw fail out of rotation for `fail_timeout`)."""
    node, deadline = cluster.nodes[name], time.monotonic() + timeout
    while True:
        with cluster.client() as client:
            leases = client.mget([f"talkbox:lease:{p}" for p in range(16)])
        holds = any((lease or b"").startswith(f"{name}:".encode()) for lease in leases)
        seen = node.output().count('"GET /healthz')
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{cluster.balancer.url}/healthz", timeout=2):
            pass
        if holds and node.output().count('"GET /healthz') > seen:
            return
        assert time.monotonic() < deadline, f"node {name} is not back in rotation"
        time.sleep(0.2)


def hear_each_other(alice: Page, bob: Page, timeout: float = AUDIO_BACK_WITHIN) -> None:
    wait_until_heard(alice, BOB_HZ, timeout=timeout)
    wait_until_heard(bob, ALICE_HZ, timeout=timeout)


def hears_steadily(page: Page, heard: list[float], own: float, timeout: float = AUDIO_BACK_WITHIN) -> None:
    """Within `timeout`, two seconds in which the page hears `heard` and not `own`: after a node has left, the
    audio a page still had buffered from it may play out first, and the new node's may take a moment."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            for frequency in heard:
                wait_until_heard(page, frequency, timeout=max(0.5, deadline - time.monotonic()))
            assert_hears_only(page, heard=heard, own=own)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def test_alice_on_one_node_and_bob_on_the_other_hear_each_other_and_a_kill_of_the_carrier(
    cluster: Cluster, through_nginx: OpenPage
) -> None:
    alice, bob = through_nginx("alice", ALICE_HZ), through_nginx("bob", BOB_HZ)
    on_other_nodes(cluster, alice, bob)
    connect(alice, bob)
    assert_hears_only(alice, heard=BOB_HZ, own=ALICE_HZ)
    assert_hears_only(bob, heard=ALICE_HZ, own=BOB_HZ)

    carrier = cluster.carrier()
    cluster.nodes[carrier].kill()
    killed = time.monotonic()
    wait_until_silent(alice, BOB_HZ)  # what the pages still had buffered has played out
    hear_each_other(alice, bob)
    record("kill-to-audio-back", time.monotonic() - killed)
    assert time.monotonic() - killed < AUDIO_BACK_WITHIN, time.monotonic() - killed
    assert cluster.carrier() == cluster.other(carrier)
    for page in (alice, bob):
        expect(page.locator("#connection")).to_have_attribute("data-state", "open", timeout=15_000)
        expect(page.get_by_role("button", name="Hang up")).to_be_visible()


def test_sigterm_to_node_one_mid_call_then_its_start_again(cluster: Cluster, through_nginx: OpenPage) -> None:
    alice, bob = through_nginx("alice", ALICE_HZ), through_nginx("bob", BOB_HZ)
    on_other_nodes(cluster, alice, bob)
    connect(alice, bob)
    one = cluster.nodes["one"]
    assert one.stop() in (0, -15)  # drained: if it carried the call, it waited DRAIN_TIMEOUT, then let it move
    hears_steadily(alice, [BOB_HZ], ALICE_HZ)
    hears_steadily(bob, [ALICE_HZ], BOB_HZ)
    assert cluster.sockets_of("alice") == cluster.sockets_of("bob") == {"two"}
    one.start()
    hears_steadily(alice, [BOB_HZ], ALICE_HZ)
    hears_steadily(bob, [ALICE_HZ], BOB_HZ)
    expect(alice.locator("#connection")).to_contain_text(re.compile("connected as alice", re.I))


def test_a_rolling_restart_of_both_nodes_during_a_three_person_call(cluster: Cluster, through_nginx: OpenPage) -> None:
    alice, bob, carol = three_way(through_nginx)
    first = cluster.carrier()
    for name in (first, cluster.other(first)):  # the node carrying the call first, then the other
        node = cluster.nodes[name]
        assert node.stop() in (0, -15)  # it exits only once its media is gone: what is heard next is the other's
        left = time.monotonic()
        for page, others, own in (
            (alice, [BOB_HZ, CAROL_HZ], ALICE_HZ),
            (bob, [ALICE_HZ, CAROL_HZ], BOB_HZ),
            (carol, [ALICE_HZ, BOB_HZ], CAROL_HZ),
        ):
            hears_steadily(page, others, own, timeout=AUDIO_BACK_WITHIN + (time.monotonic() - left))
        node.start()
        back_in_rotation(cluster, name)  # as an operator waits before stopping the next node
    for page in (alice, bob, carol):
        expect(page.get_by_role("button", name="Hang up")).to_be_visible()
