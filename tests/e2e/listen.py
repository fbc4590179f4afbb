"""What a page hears: a Web Audio analyser on the remote <audio> element's stream.

The analyser reads the MediaStream the page plays, so this is the audio the
user hears, not a number the page reports about itself.
"""

from __future__ import annotations

import statistics
import time

from playwright.sync_api import Page

_PROBE_JS = """
async ({frequencies, untilHeard, timeoutMs, heardDb}) => {
  const started = performance.now();
  const probe = () => {
    const element = document.getElementById('remote-audio');
    const stream = element && element.srcObject;
    if (!stream || stream.getAudioTracks().length === 0) return null;
    if (!window.__probe || window.__probe.stream !== stream) {
      const context = new AudioContext();
      const analyser = context.createAnalyser();
      analyser.fftSize = 4096;
      analyser.smoothingTimeConstant = 0;
      context.createMediaStreamSource(stream).connect(analyser);
      window.__probe = {stream, context, analyser, since: performance.now()};
    }
    return window.__probe;
  };
  const read = (p) => {
    const data = new Float32Array(p.analyser.frequencyBinCount);
    p.analyser.getFloatFrequencyData(data);
    const binHz = p.context.sampleRate / p.analyser.fftSize;
    const levels = {};
    for (const f of frequencies) {
      let loudest = -200;
      for (let i = Math.floor((f - 15) / binHz); i <= Math.ceil((f + 15) / binHz); i++) {
        loudest = Math.max(loudest, data[i]);
      }
      levels[f] = loudest;
    }
    return levels;
  };
  let last = Object.fromEntries(frequencies.map((f) => [f, -200]));
  while (performance.now() - started < timeoutMs) {
    const p = probe();
    if (p) {
      await p.context.resume();
      // A fresh analyser needs one full window of audio before it reads true.
      if (performance.now() - p.since > 100) {
        last = read(p);
        if (!untilHeard || frequencies.every((f) => last[f] > heardDb)) {
          return {levels: last, elapsedMs: performance.now() - started};
        }
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {levels: last, elapsedMs: null};
}
"""

HEARD_DB = -50.0  # the test tones read about -20 dB after Opus and the mixer
SILENT_DB = -80.0
# An unheard tone beside heard ones: this far below the loudest of them, and never louder than OWN_TONE_DB.
NOT_HEARD_BELOW_DB = 50.0
OWN_TONE_DB = -70.0


def _probe(page: Page, frequencies: tuple[float, ...], until_heard: bool, timeout: float) -> dict:
    result = page.evaluate(
        _PROBE_JS,
        {"frequencies": list(frequencies), "untilHeard": until_heard, "timeoutMs": timeout * 1000, "heardDb": HEARD_DB},
    )
    result["levels"] = {float(f): level for f, level in result["levels"].items()}
    return result


def levels(page: Page, *frequencies: float) -> dict[float, float]:
    """dB per frequency in the remote audio now (-200 when nothing plays)."""
    return _probe(page, frequencies, until_heard=False, timeout=2.0)["levels"]


def wait_until_heard(page: Page, frequency: float, timeout: float = 15.0) -> None:
    result = _probe(page, (frequency,), until_heard=True, timeout=timeout)
    assert result["elapsedMs"] is not None, f"{frequency} Hz never heard; last levels {result['levels']}"


def wait_until_silent(page: Page, frequency: float, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    last: dict[float, float] = {}
    while time.monotonic() < deadline:
        last = levels(page, frequency)
        if last[frequency] < SILENT_DB:
            return
        time.sleep(0.1)
    raise AssertionError(f"{frequency} Hz still heard; last levels {last}")


def assert_hears_only(page: Page, heard: float | list[float], own: float | list[float]) -> None:
    """The `heard` tones are clearly there; the `own` tones (and anyone else's) are not.

    Judged on the median of ten readings over two seconds: the moment audio
    starts, its onset splatters energy over every frequency for a reading or two,
    and for about a second after a restart, on a busy machine, the streams settle
    (jitter buffers concealing while they grow, the browser stretching time) with
    splatter near -70 dB; one's own voice in the mix would read -20 dB throughout.

    "Not heard" is judged against the loudest tone that is heard. Each page's
    Opus encoder (Chromium's, at its default bitrate) leaves noise between two
    loud tones at about 55-60 dB below them (measured: -75 to -83 dB at 700 Hz
    beside tones at 440 and 1000 Hz of -21 dB); the mixer cannot remove noise that
    arrives in its input. One's own voice coming back would sit near the others.
    """
    loud = heard if isinstance(heard, list) else [heard]
    quiet = own if isinstance(own, list) else [own]
    readings = []
    for _ in range(10):
        readings.append(levels(page, *loud, *quiet))
        time.sleep(0.2)
    median = {f: statistics.median(r[f] for r in readings) for f in (*loud, *quiet)}
    for frequency in loud:
        assert median[frequency] > HEARD_DB, f"{frequency} Hz not heard: {readings}"
    ceiling = max(median[f] for f in loud) - NOT_HEARD_BELOW_DB if loud else SILENT_DB
    for frequency in quiet:
        assert median[frequency] < min(ceiling, OWN_TONE_DB), f"{frequency} Hz should not be heard: {readings}"


# Fine-grained: an AudioWorklet measures each tone in every BLOCK_MS of what the page plays, on the audio clock,
# so a gap of a few tens of milliseconds shows (an analyser read from a timer cannot promise 10 ms under load).
# Each block is Blackman-Harris windowed (its sidelobes keep out a tone 400 Hz away) and measured at the tone's
# own frequency (Goertzel); the level is the tone's amplitude in dBFS.
# If the page swaps the <audio> element's stream, the recorder follows it.
BLOCK_MS = 10.0

_RECORDER_WORKLET = """
class ToneLevels extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const {frequencies, blockMs} = options.processorOptions;
    this.frequencies = frequencies;
    this.size = Math.round(sampleRate * blockMs / 1000);
    const x = (i, k) => Math.cos(2 * Math.PI * k * i / this.size);
    this.window = Float32Array.from(
      {length: this.size}, (_, i) => 0.35875 - 0.48829 * x(i, 1) + 0.14128 * x(i, 2) - 0.01168 * x(i, 3));
    this.gain = this.window.reduce((a, b) => a + b, 0) / 2;
    this.block = new Float32Array(this.size);
    this.filled = 0;
  }
  level(f) {
    const coefficient = 2 * Math.cos(2 * Math.PI * f / sampleRate);
    let s1 = 0, s2 = 0;
    for (let i = 0; i < this.size; i++) {
      const s0 = this.block[i] * this.window[i] + coefficient * s1 - s2;
      s2 = s1; s1 = s0;
    }
    const power = Math.max(s1 * s1 + s2 * s2 - coefficient * s1 * s2, 0);
    return 20 * Math.log10(Math.sqrt(power) / this.gain + 1e-10);
  }
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    const samples = channel || new Float32Array(128);
    for (let i = 0; i < samples.length; i++) {
      this.block[this.filled++] = samples[i];
      if (this.filled === this.size) {
        this.port.postMessage(this.frequencies.map((f) => this.level(f)));
        this.filled = 0;
      }
    }
    return true;
  }
}
registerProcessor('tone-levels', ToneLevels);
"""

_START_RECORDING_JS = """
async ({code, frequencies, blockMs}) => {
  const element = document.getElementById('remote-audio');
  const context = new AudioContext();
  await context.audioWorklet.addModule(URL.createObjectURL(new Blob([code], {type: 'application/javascript'})));
  const node = new AudioWorkletNode(context, 'tone-levels', {processorOptions: {frequencies, blockMs}});
  const sink = context.createGain();
  sink.gain.value = 0;
  node.connect(sink).connect(context.destination);
  const recording = {blocks: [], streams: 0, stream: null, source: null};
  node.port.onmessage = (event) => recording.blocks.push(event.data);
  const follow = () => {
    const stream = element.srcObject;
    if (stream === recording.stream || !stream || stream.getAudioTracks().length === 0) return;
    if (recording.source) recording.source.disconnect();
    recording.stream = stream;
    recording.source = context.createMediaStreamSource(stream);
    recording.source.connect(node);
    recording.streams++;
  };
  follow();
  recording.timer = setInterval(follow, 5);
  recording.context = context;
  await context.resume();
  window.__recording = recording;
}
"""

_STOP_RECORDING_JS = """
async () => {
  const recording = window.__recording;
  clearInterval(recording.timer);
  await recording.context.close();
  return {blocks: recording.blocks, streams: recording.streams};
}
"""


def start_recording(page: Page, *frequencies: float) -> None:
    """Begin measuring each frequency in every BLOCK_MS of the page's remote audio."""
    options = {"code": _RECORDER_WORKLET, "frequencies": list(frequencies), "blockMs": BLOCK_MS}
    page.evaluate(_START_RECORDING_JS, options)


def stop_recording(page: Page, *frequencies: float) -> dict[float, list[float]]:
    """The dBFS of each frequency, block by block, from the first block any is heard (frequencies as started)."""
    result = page.evaluate(_STOP_RECORDING_JS)
    assert result["streams"] >= 1, "the page never played a remote stream while recording"
    # The blocks before a freshly connected source delivers its first samples are the recorder's, not the call's.
    blocks = result["blocks"]
    first = next((n for n, block in enumerate(blocks) if max(block) >= HEARD_DB), len(blocks))
    return {f: [block[i] for block in blocks[first:]] for i, f in enumerate(frequencies)}


def longest_below(levels: list[float], threshold_db: float) -> float:
    """Milliseconds of the longest run of consecutive blocks quieter than threshold_db."""
    longest = run = 0
    for level in levels:
        run = run + 1 if level < threshold_db else 0
        longest = max(longest, run)
    return longest * BLOCK_MS
