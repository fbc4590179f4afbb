"""(2b) Latency browser to browser: a tone burst sent by one Chromium page, the time until another hears it.

Talkbox (bench/server.py, the real built-in engine) runs on core 0; one Debian Chromium
(/usr/bin/chromium, through Playwright) runs on core 1 with two pages, alice and bob. The pages
do not drive the app's UI: each is opened on the server's origin (`/api/health`) and runs this
module's script, which speaks the websocket protocol (docs/protocol.md) itself: it opens
`/ws?client_name=NAME` and answers every `offer` with an RTCPeerConnection whose outgoing track
is a Web Audio MediaStreamDestination (no microphone in the audio path). Alice calls bob; the
call of two is forwarded by the engine. Path `conference3` adds a third page, carol, whose track
stays silent: the conference is then mixed, and alice's burst reaches bob through the mix.

Alice's track is silence, and every PERIOD a BURST of a 1 kHz tone (a GainNode switched on and
off on the AudioContext clock). Bob's remote stream plays in a muted <audio> element (without
one, remote WebRTC audio does not reach Web Audio: research/media.md) and feeds an AudioWorklet.
The same worklet taps alice's burst just before her MediaStreamDestination. It posts the context
time of the first sample over AMPLITUDE after QUIET_QUANTA quiet 128-sample quanta (resolution:
one sample). Each page converts its context time to epoch ms with `getOutputTimestamp()`
(`performance.timeOrigin + performanceTime + (t - contextTime)`); both pages are in one browser,
so they share the machine's clock, and both ends are timed the same way (the output latency the
conversion includes is the same on both sides and cancels).

What is timed: the burst entering alice's outgoing track to the burst leaving bob's decoder
(Chromium's NetEq jitter buffer included) into his Web Audio graph. Not included: a real
microphone's capture buffer and the loudspeaker's output buffer (a true mouth-to-ear figure adds
those, typically 10-40 ms each depending on the device). WARMUP bursts are sent first and
not counted. Lost packets are not simulated here (latency.py does it for aiortc clients).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Sequence
from typing import Any

from tests.support.chromium import CHROMIUM, CHROMIUM_FLAGS, FAKE_MICROPHONE

from bench.common import (
    CLIENT_CORE,
    SERVER_CORE,
    cell,
    core_busy_seconds,
    cpu_seconds,
    percentile,
    pin_self,
    server,
    summary,
)

FLAGS = [*CHROMIUM_FLAGS, FAKE_MICROPHONE]
BURSTS = 30
WARMUP = 3
PERIOD = 1.0  # s between bursts
BURST = 0.03  # s of tone
LEVEL = 0.5  # the tone's amplitude at the sender
AMPLITUDE = 0.02  # a sample over this starts a burst...
QUIET_QUANTA = 40  # ...after this many quiet quanta (~107 ms at 48 kHz)
PATHS = {
    "direct": "direct (no server)",
    "talkbox": "call of two through Talkbox (forwarded)",
    "conference3": "conference of three through Talkbox (mixed; carol silent)",
}
MATCH_MS = 950  # a detection this long after a burst at most is that burst's (bursts are 1 s apart)

WORKLET = """
class Onset extends AudioWorkletProcessor {
  constructor() { super(); this.quiet = 1e9; }
  process(inputs, outputs) {
    const ch = inputs[0] && inputs[0][0];
    if (ch) {
      let first = -1;
      for (let i = 0; i < ch.length; i++) { if (Math.abs(ch[i]) > AMPLITUDE) { first = i; break; } }
      if (first >= 0) {
        if (this.quiet >= QUIET_QUANTA) this.port.postMessage({t: currentTime + first / sampleRate});
        this.quiet = 0;
      } else {
        this.quiet++;
      }
    }
    return true;
  }
}
registerProcessor('onset', Onset);
"""

PAGE = """
async ({name, worklet}) => {
  const S = window.S = {name, sent: [], heard: [], errors: [], pcs: [], welcome: false, tracks: 0,
                        clock: null, conference: null};
  // Chromium hides host addresses behind mDNS names until the page has had a capture device.
  try { S.mic = await navigator.mediaDevices.getUserMedia({audio: true}); } catch (e) { S.errors.push('gum ' + e); }
  const ctx = new AudioContext({latencyHint: 'interactive'});
  await ctx.resume();
  await ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([worklet], {type: 'application/javascript'})));
  const sink = ctx.createGain(); sink.gain.value = 0; sink.connect(ctx.destination);
  const epoch = (t) => {
    const ts = ctx.getOutputTimestamp();
    if (ts.performanceTime > 0) {
      S.clock = 'getOutputTimestamp';
      return performance.timeOrigin + ts.performanceTime + (t - ts.contextTime) * 1000;
    }
    S.clock = 'currentTime';
    return performance.timeOrigin + performance.now() - (ctx.currentTime - t) * 1000;
  };
  const detector = (list) => {
    const node = new AudioWorkletNode(ctx, 'onset', {numberOfInputs: 1, numberOfOutputs: 1});
    node.port.onmessage = (e) => list.push(epoch(e.data.t));
    node.connect(sink);
    return node;
  };
  const dest = ctx.createMediaStreamDestination();
  const osc = ctx.createOscillator(); osc.frequency.value = 1000;
  const gain = ctx.createGain(); gain.gain.value = 0;
  osc.connect(gain); gain.connect(dest); osc.start();
  gain.connect(detector(S.sent));
  const hearing = detector(S.heard);
  window.sendBursts = async (n, period, burst, level) => {
    for (let i = 0; i < n; i++) {
      const t = ctx.currentTime + 0.05;
      gain.gain.setValueAtTime(level, t);
      gain.gain.setValueAtTime(0, t + burst);
      await new Promise((r) => setTimeout(r, period * 1000));
    }
  };
  const gathered = async (pc) => {
    if (pc.iceGatheringState !== 'complete') {
      await new Promise((r) => pc.addEventListener('icegatheringstatechange',
        () => pc.iceGatheringState === 'complete' && r()));
    }
    return pc.localDescription.sdp;
  };
  const peer = () => {
    const pc = new RTCPeerConnection({iceServers: []});
    S.pcs.push(pc);
    pc.addTrack(dest.stream.getAudioTracks()[0], dest.stream);
    pc.ontrack = (e) => {
      const stream = e.streams[0] || new MediaStream([e.track]);
      const audio = new Audio(); audio.muted = true; audio.srcObject = stream;
      audio.play().catch((err) => S.errors.push('play ' + err));
      S.audio = audio;
      ctx.createMediaStreamSource(stream).connect(hearing);
      S.tracks++;
    };
    return pc;
  };
  window.answerOffer = async (sdp) => {
    const pc = peer();
    await pc.setRemoteDescription({type: 'offer', sdp});
    await pc.setLocalDescription(await pc.createAnswer());
    return await gathered(pc);
  };
  // The direct path (no server): the bench relays the SDP between the two pages.
  window.directOffer = async () => {
    const pc = peer();
    await pc.setLocalDescription(await pc.createOffer());
    return await gathered(pc);
  };
  window.directAnswer = async (sdp) => { await S.pcs[0].setRemoteDescription({type: 'answer', sdp}); };
  const ws = S.ws = new WebSocket(`ws://${location.host}/ws?client_name=${name}`);
  ws.onmessage = async (event) => {
    const m = JSON.parse(event.data);
    try {
      if (m.type === 'welcome') S.welcome = true;
      else if (m.type === 'conference') S.conference = m.conference;
      else if (m.type === 'refused' || m.type === 'error') S.errors.push(JSON.stringify(m));
      else if (m.type === 'offer') {
        const sdp = await window.answerOffer(m.sdp);
        ws.send(JSON.stringify({type: 'answer', leg_id: m.leg_id, sdp}));
      }
    } catch (e) { S.errors.push(String(e)); }
  };
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
}
"""

LIVE = """(legs) => S.conference && S.conference.status === 'active' && S.conference.legs.length === legs
  && S.conference.legs.every((l) => l.status === 'in-progress') && S.tracks > 0
  && S.pcs.some((pc) => pc.connectionState === 'connected')"""


DIRECT_LIVE = "() => S.tracks > 0 && S.pcs.some((pc) => pc.connectionState === 'connected')"


def by_burst(sent: list[float], heard: list[float]) -> list[float | None]:
    """For each burst sent, the first detection after it within MATCH_MS (latency in ms), or None if unheard."""
    out: list[float | None] = []
    for s in sent:
        later = [h - s for h in heard if 0 < h - s <= MATCH_MS]
        out.append(min(later) if later else None)
    return out


def pair(sent: list[float], heard: list[float]) -> list[float]:
    """The latencies of the bursts that were heard."""
    return [latency for latency in by_burst(sent, heard) if latency is not None]


def server_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/bench/stats", timeout=5) as response:
        return json.loads(response.read())


def once(url: str, path: str, pid: int, chromium: str = CHROMIUM, flags: Sequence[str] = ()) -> dict[str, Any]:
    """One path's bursts. `chromium` and `flags` let browser_loss.py launch it inside a lossy namespace."""
    from playwright.sync_api import sync_playwright

    worklet = WORKLET.replace("QUIET_QUANTA", str(QUIET_QUANTA)).replace("AMPLITUDE", str(AMPLITUDE))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=[*FLAGS, *flags])
        try:
            # The bench runs its own script and worklet (a blob: URL), not the app: past the page CSP.
            context = browser.new_context(bypass_csp=True)
            context.grant_permissions(["microphone"], origin=url)
            pages = {}
            names = ("alice", "bob", "carol") if path == "conference3" else ("alice", "bob")
            for name in names:
                page = context.new_page()
                page.goto(f"{url}/api/health")
                page.evaluate(PAGE, {"name": name, "worklet": worklet})
                page.wait_for_function("() => S.welcome", timeout=10_000)
                pages[name] = page
            alice, bob = pages["alice"], pages["bob"]
            if path in ("talkbox", "conference3"):
                alice.evaluate("() => S.ws.send(JSON.stringify({type: 'call', to: 'bob'}))")
                # bob answers his ringing leg (his page answers every offer), alice her own.
                for page in (alice, bob):
                    page.wait_for_function(LIVE, arg=2, timeout=30_000)
                if path == "conference3":
                    # carol joins silent: the conference is mixed, alice's burst reaches bob in the mix.
                    alice.evaluate(
                        "() => S.ws.send(JSON.stringify({type: 'add', conference_id: S.conference.id, to: 'carol'}))"
                    )
                    for page in pages.values():
                        page.wait_for_function(LIVE, arg=3, timeout=30_000)
            else:  # direct: alice's page offers, bob's answers, the bench carries the SDP
                answer = bob.evaluate("sdp => answerOffer(sdp)", alice.evaluate("() => directOffer()"))
                alice.evaluate("sdp => directAnswer(sdp)", answer)
                for page in (alice, bob):
                    page.wait_for_function(DIRECT_LIVE, timeout=30_000)
            time.sleep(2)  # let both ends settle, as latency.py does
            alice.evaluate("() => { S.sent.length = 0; }")
            bob.evaluate("() => { S.heard.length = 0; }")
            before, busy0, own0 = server_stats(url), core_busy_seconds(), cpu_seconds(pid)
            began = time.monotonic()
            alice.evaluate("([n, p, b, l]) => sendBursts(n, p, b, l)", [WARMUP + BURSTS, PERIOD, BURST, LEVEL])
            after, busy1, own1 = server_stats(url), core_busy_seconds(), cpu_seconds(pid)
            wall = time.monotonic() - began
            core = int(SERVER_CORE)
            server_load = {
                "ticks": after["ticks"] - before["ticks"],
                "late_ticks": after["late_ticks"] - before["late_ticks"],
                "server_cpu_pct": 100 * (own1 - own0) / wall,
                # busy time on the server's core that was not the server's (Chromium is on the other core)
                "others_on_server_core_pct": 100 * max(0.0, (busy1[core] - busy0[core]) - (own1 - own0)) / wall,
            }
            time.sleep(1)
            sent = alice.evaluate("() => S.sent")
            heard = bob.evaluate("() => S.heard")
            clocks = [p.evaluate("() => S.clock") for p in (alice, bob)]
            errors = alice.evaluate("() => S.errors") + bob.evaluate("() => S.errors")
            stats = bob.evaluate(
                """async () => { const out = {}; const r = await S.pcs[0].getStats();
                r.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'audio') {
                  out.jitterBufferDelay = s.jitterBufferDelay;
                  out.jitterBufferEmittedCount = s.jitterBufferEmittedCount;
                  out.jitterBufferTargetDelay = s.jitterBufferTargetDelay; out.packetsLost = s.packetsLost;
                  out.packetsReceived = s.packetsReceived; out.jitter = s.jitter; } }); return out; }"""
            )
        finally:
            browser.close()
    latencies = pair(sent[WARMUP:], heard)
    buffer_ms = None
    if stats.get("jitterBufferEmittedCount"):
        buffer_ms = 1000 * stats["jitterBufferDelay"] / stats["jitterBufferEmittedCount"]
    return {
        "latencies_ms": latencies,
        "sent_at": sent[WARMUP:],
        "heard_at": heard,
        "sent": len(sent) - WARMUP,
        "heard": len(latencies),
        "detections": len(heard),
        "clocks": clocks,
        "errors": errors,
        "bob_inbound": stats,
        "bob_jitter_buffer_ms": buffer_ms,
        "server": server_load,
    }


def stats(samples: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "p50_ms": summary([percentile(s["latencies_ms"], 0.5) for s in samples]),
        "p95_ms": summary([percentile(s["latencies_ms"], 0.95) for s in samples]),
        "min_ms": summary([min(s["latencies_ms"], default=float("nan")) for s in samples]),
        "jitter_buffer_ms": summary([s["bob_jitter_buffer_ms"] or float("nan") for s in samples]),
        "heard": [s["heard"] for s in samples],
        "sent": [s["sent"] for s in samples],
        "samples": samples,
    }


def run(runs: int, **_: Any) -> dict[str, Any]:
    pin_self(CLIENT_CORE)  # Chromium, started from here, inherits core 1
    result: dict[str, Any] = {
        "setup": f"{BURSTS} bursts of {BURST * 1000:.0f} ms, one every {PERIOD * 1000:.0f} ms, after {WARMUP} uncounted"
    }
    for path in PATHS:
        samples = []
        for _ in range(runs):
            # The direct path needs no server but its pages need an origin: the same server serves it.
            with server("builtin") as s:
                samples.append(once(s.url, path, s.pid))
            shown = {k: v for k, v in samples[-1].items() if k not in ("latencies_ms", "sent_at", "heard_at")}
            print(path, json.dumps(shown), flush=True)
        result[path] = stats(samples)
    direct = result["direct"]["p50_ms"]["median"]
    for path in list(PATHS)[1:]:
        p50 = result[path]["p50_ms"]["median"]
        result[f"added_ms_{path}"] = p50 - direct if p50 is not None and direct is not None else None
    return result


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    rows = []
    for path, label in PATHS.items():
        if path not in result:
            continue  # a result saved before the path existed
        r = result[path]
        added = result.get(f"added_ms_{path}", result.get("added_ms"))
        rows.append(
            [
                label,
                cell(r["p50_ms"]),
                cell(r["p95_ms"]),
                cell(r["min_ms"]),
                cell(summary([percentile(x["latencies_ms"][-10:], 0.5) for x in r["samples"]])),
                cell(r["jitter_buffer_ms"]),
                "-" if path == "direct" or added is None else f"{added:.0f}",
                f"{sum(r['heard'])} of {sum(r['sent'])}",
            ]
        )
    return [
        (
            "Latency browser to browser, Chromium: burst into alice's track to burst out of bob's decoder (ms)",
            [
                "path",
                "p50",
                "p95",
                "min",
                "p50 of the last 10 bursts",
                "bob's jitter buffer, mean",
                "added vs direct, p50",
                "bursts heard",
            ],
            rows,
        )
    ]
