"""Debian's baresip as a real telephone: its microphone plays a tone from a WAV, it records what it hears.

Headless: the `aufile` module is the microphone, the `sndfile` filter writes
what the telephone hears to dump-*-dec.wav in the call's folder (no audio player
is loaded). `-e` gives the dial command at start; the call ends (BYE) when the
WAV runs out. As a trunk it answers every INVITE at once (answermode=auto).

Its process lives until its fixture ends it. baresip's own quit timer (`-t`) is only a net for a test run
killed outright: set to a test's length, it once quit before the call it was in had even begun, on CI's busy
two cores where starting the server alone has taken 20 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.sip.sipp import free_udp_port

PHONE_RATE = 8000
SAFETY_NET_SECONDS = 600


def write_phone_wav(path: Path, frequency: float, seconds: float) -> Path:
    t = np.arange(int(seconds * PHONE_RATE)) / PHONE_RATE
    samples = (0.4 * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(PHONE_RATE)
        out.writeframes(samples.tobytes())
    return path


def recorded(folder: Path) -> np.ndarray:
    """What the telephone heard (the decoded audio sndfile dumped when the call ended), as 8 kHz samples."""
    dumps = sorted(folder.glob("dump-*-dec.wav"))
    if not dumps:
        return np.zeros(0, dtype=np.int16)
    with wave.open(str(dumps[-1])) as dump:
        return np.frombuffer(dump.readframes(dump.getnframes()), dtype=np.int16)


def took_our_bye(log: str) -> bool:
    """Whether the telephone ended its call on a BYE from us.

    baresip logs "session closed: Connection reset by peer" when the far end ends the session with a BYE. Its
    "Call with ... terminated (duration ...)" summary is no sign: for a call shorter than a second it prints
    none (call.c's print_summary skips a duration of 0 s), and a quick test's call can be that short.
    """
    return "session closed: Connection reset by peer" in log


@dataclass
class Baresip:
    process: asyncio.subprocess.Process
    port: int
    folder: Path

    def heard(self) -> np.ndarray:
        return recorded(self.folder)

    def log(self) -> str:
        path = self.folder / "baresip.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def took_our_bye(self) -> bool:
        return took_our_bye(self.log())

    async def finished(self, timeout: float) -> int:
        async with asyncio.timeout(timeout):
            return await self.process.wait()


def configure(
    folder: Path,
    frequency: float,
    seconds: float,
    *,
    dial: str | None,
    user: str,
    port: int,
    verbose: bool = False,
    certificate: Path | None = None,
) -> list[str]:
    """Write baresip's config and account into `folder`; the command line that runs it.

    With a `certificate` (chain and key in one PEM) it also speaks TLS, listening on `port` + 1.
    """
    binary = shutil.which("baresip")
    assert binary is not None, "baresip is missing: `make system` installs Debian's baresip-core"
    folder.mkdir(parents=True, exist_ok=True)
    tone = write_phone_wav(folder / "tone.wav", frequency, seconds)
    rtp = free_udp_port() // 2 * 2
    (folder / "config").write_text(
        "\n".join(
            [
                f"sip_listen 127.0.0.1:{port}",
                *([f"sip_certificate {certificate}"] if certificate else []),
                "net_interface 127.0.0.1",
                f"dns_server 127.0.0.1:{free_udp_port()}",
                f"audio_source aufile,{tone}",
                "audio_player aufile,/dev/null",
                f"ausrc_srate {PHONE_RATE}",
                f"auplay_srate {PHONE_RATE}",
                "ausrc_channels 1",
                "auplay_channels 1",
                f"rtp_ports {rtp}-{rtp + 20}",
                "module_path /usr/lib/baresip/modules",
                "module g711.so",
                "module aufile.so",
                "module sndfile.so",
                "module_app account.so",
                "module_app menu.so",
                f"snd_path {folder}",
                "",
            ]
        )
    )
    (folder / "accounts").write_text(f"<sip:{user}@127.0.0.1:{port}>;regint=0;answermode=auto;audio_codecs=PCMU,PCMA\n")
    # -s: its SIP trace goes into baresip.log, for the assertion messages. -v: its debug lines too, among
    # them each RFC 4733 event it receives ("received DTMF").
    extra = [*(["-v"] if verbose else []), *(["-e", f"/dial {dial}"] if dial else [])]
    return [binary, "-f", str(folder), "-t", str(SAFETY_NET_SECONDS), "-s", *extra]


@contextlib.asynccontextmanager
async def baresip(
    folder: Path,
    frequency: float,
    seconds: float,
    *,
    dial: str | None = None,
    user: str = "phone",
    port: int | None = None,
    verbose: bool = False,
    certificate: Path | None = None,
) -> AsyncIterator[Baresip]:
    """A telephone named `user` (as a trunk: the number it answers, which baresip matches to its account)."""
    port = port or free_udp_port()
    args = configure(
        folder,
        frequency,
        seconds,
        dial=dial,
        user=user,
        port=port,
        verbose=verbose,
        certificate=certificate,
    )
    with open(folder / "baresip.log", "wb") as log:
        process = await asyncio.create_subprocess_exec(
            *args, cwd=folder, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log
        )
    try:
        yield Baresip(process, port, folder)
    finally:
        if process.returncode is None:
            process.terminate()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
