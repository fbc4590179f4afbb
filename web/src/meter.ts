// The microphone level meter and the speaker test tone: Web Audio, no files.

import { withDevice } from "./media";

const METER_INTERVAL_MS = 100;
const TEST_TONE_HZ = 660;
const TEST_TONE_S = 1.2;
const TEST_TONE_LEVEL = 0.2;

/** Audio output device choice on an AudioContext (Chromium 110+); absent elsewhere. */
interface SinkChoosing {
  setSinkId?: (id: string) => Promise<void>;
}

/** Sends a context's sound to a device ("" the default) where the browser allows it. */
export function routeContext(context: AudioContext, deviceId: string): Promise<void> {
  const sink = context as AudioContext & SinkChoosing;
  return sink.setSinkId === undefined ? Promise.resolve() : sink.setSinkId(deviceId);
}

/** Listens to one microphone and reports its level (0 to 1) ten times a second, until stopped. */
export class LevelMeter {
  private stream: MediaStream | null = null;
  private context: AudioContext | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  /** Tells a start from the one it replaced, when the older getUserMedia resolves late. */
  private generation = 0;

  constructor(
    private readonly audio: MediaTrackConstraints | boolean,
    private readonly onLevel: (level: number) => void,
    private readonly onProblem: (error: unknown) => void,
  ) {}

  async start(deviceId: string): Promise<void> {
    this.stop();
    const generation = this.generation;
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: withDevice(this.audio, deviceId) });
    } catch (err) {
      if (generation === this.generation) this.onProblem(err);
      return;
    }
    if (generation !== this.generation) {
      for (const track of stream.getTracks()) track.stop();
      return;
    }
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 1024;
    context.createMediaStreamSource(stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    this.stream = stream;
    this.context = context;
    this.timer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      this.onLevel(levelOf(samples));
    }, METER_INTERVAL_MS);
  }

  stop(): void {
    this.generation += 1;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
    this.context?.close().catch(() => undefined);
    this.context = null;
  }
}

/** A level that reads like a VU meter: the RMS on a 60 dB scale, 0 for silence and 1 for full scale. */
export function levelOf(samples: Float32Array): number {
  let sum = 0;
  for (const sample of samples) sum += sample * sample;
  const rms = Math.sqrt(sum / Math.max(1, samples.length));
  if (rms <= 0) return 0;
  const db = 20 * Math.log10(rms);
  return Math.min(1, Math.max(0, (db + 60) / 60));
}

/** A short, gentle tone through one output device ("" the default). */
export async function playTestTone(deviceId: string): Promise<void> {
  const context = new AudioContext();
  try {
    await routeContext(context, deviceId);
    await context.resume();
    const gain = context.createGain();
    const now = context.currentTime;
    gain.gain.setValueAtTime(0, now);
    gain.gain.linearRampToValueAtTime(TEST_TONE_LEVEL, now + 0.05);
    gain.gain.setValueAtTime(TEST_TONE_LEVEL, now + TEST_TONE_S - 0.1);
    gain.gain.linearRampToValueAtTime(0, now + TEST_TONE_S);
    gain.connect(context.destination);
    const osc = context.createOscillator();
    osc.frequency.value = TEST_TONE_HZ;
    osc.connect(gain);
    osc.start(now);
    osc.stop(now + TEST_TONE_S);
    await new Promise<void>((resolve) => osc.addEventListener("ended", () => resolve(), { once: true }));
  } finally {
    await context.close();
  }
}
