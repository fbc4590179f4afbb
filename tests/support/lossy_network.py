"""A private loopback that loses a share of its UDP packets, for e2e tests of audio under loss.

`unshare -n` makes a network namespace with a loopback of its own, which a
sleeping process holds open. nftables drops the share on the input hook: on the
output hook the sender's sendto() fails with EPERM and Chromium simply sends
again, so nothing would be lost. All traffic is on loopback, so the one rule
loses packets both ways.

The test's own thread joins the namespace (setns), so the server it starts and
the health checks it makes are inside; Playwright's driver was started before,
outside, so Chromium is launched through an `nsenter` wrapper. Chromium gathers
no ICE candidates on a loopback-only machine without
--allow-loopback-in-peer-connection. A missing `unshare`, `nsenter` or `nft`
is a failure, never a skip: `make test` installs them.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.chromium import CHROMIUM

CLONE_NEWNET = 0x40000000
LOOPBACK_CANDIDATES = "--allow-loopback-in-peer-connection"


@dataclass(frozen=True)
class Network:
    """How a test's browsers reach its server: the machine's own network unless a test asks for loss."""

    chromium: str = CHROMIUM
    flags: tuple[str, ...] = field(default_factory=tuple)
    namespace: str | None = None  # /proc/PID/ns/net of the lossy loopback

    def dropped(self) -> int:
        """UDP packets the loopback has lost so far: proof that a test under loss had some."""
        assert self.namespace, "not a lossy network"
        listing = subprocess.run(
            [_tool("nsenter"), f"--net={self.namespace}", _tool("nft"), "list", "chain", "inet", "loss", "in"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        return int(re.search(r"counter packets (\d+)", listing).group(1))


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"`{name}` is missing: run `make test`, which installs it (nftables, util-linux)"
    return path


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns into the network namespace failed")


def _holder(unshare: str) -> subprocess.Popen[bytes]:
    """A process that sits in a fresh network namespace, so the namespace lives as long as the test."""
    holder = subprocess.Popen([unshare, "--net", "sleep", "infinity"])
    own = os.readlink("/proc/self/ns/net")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        assert holder.poll() is None, "`unshare --net` exited: is the test running as root?"
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{holder.pid}/ns/net") != own:
                return holder
        time.sleep(0.01)
    holder.kill()
    raise RuntimeError("`unshare --net` never made its namespace")


def _lose(nsenter: str, nft: str, namespace: str, percent: int) -> None:
    inside = [nsenter, f"--net={namespace}"]
    subprocess.run([*inside, "ip", "link", "set", "lo", "up"], check=True)
    for rule in (
        ["add", "table", "inet", "loss"],
        ["add", "chain", "inet", "loss", "in", "{ type filter hook input priority 0; }"],
        ["add", "rule", "inet", "loss", "in", "meta", "l4proto", "udp", "numgen", "random", "mod", "100", "<",
         str(percent), "counter", "drop"],
    ):  # fmt: skip
        subprocess.run([*inside, nft, *rule], check=True)


@contextlib.contextmanager
def lossy_loopback(percent: int, folder: Path) -> Iterator[Network]:
    """Inside: this thread, its child processes and the Chromium it returns share a loopback losing `percent`% UDP."""
    unshare, nsenter, nft = _tool("unshare"), _tool("nsenter"), _tool("nft")
    holder = _holder(unshare)
    namespace = f"/proc/{holder.pid}/ns/net"
    original = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        _lose(nsenter, nft, namespace, percent)
        wrapper = folder / "chromium-in-namespace"
        wrapper.write_text(f'#!/bin/sh\nexec {nsenter} --net={namespace} {CHROMIUM} "$@"\n')
        wrapper.chmod(0o755)
        joined = os.open(namespace, os.O_RDONLY)
        try:
            _setns(joined)
        finally:
            os.close(joined)
        try:
            yield Network(chromium=str(wrapper), flags=(LOOPBACK_CANDIDATES,), namespace=namespace)
        finally:
            _setns(original)
    finally:
        os.close(original)
        holder.kill()
        holder.wait(timeout=5)
