// A ringtone made with Web Audio, no sound file: 440 Hz + 480 Hz together,
// 2 s on, 4 s off (the North American ring cadence).

import { routeContext } from "./meter";

export const RING_FREQUENCIES_HZ = [440, 480] as const;
export const RING_ON_S = 2;
export const RING_OFF_S = 4;
const LEVEL = 0.08; // each tone; gentle, the two add up
const RAMP_S = 0.02; // soft edges, no clicks
const SCHEDULE_AHEAD_CYCLES = 2;

/** How long a ringtone may take to be heard before the page says the browser blocks its sound. */
export const AUTOPLAY_GRACE_MS = 500;

export class Ringtone {
  /** `onBlocked`: the browser keeps the sound off (its autoplay policy) until the user does something here. */
  constructor(private readonly onBlocked: () => void = () => undefined) {}

  private context: AudioContext | null = null;
  private oscillators: OscillatorNode[] = [];
  private gain: GainNode | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private scheduledUntil = 0;
  /** The ringing device ("" the default). */
  private output = "";

  /** Ring on this device from now on. */
  useOutput(deviceId: string): void {
    this.output = deviceId;
    if (this.context !== null) routeContext(this.context, deviceId).catch(() => undefined);
  }

  get playing(): boolean {
    return this.gain !== null;
  }

  /** Start ringing; does nothing if already ringing. */
  start(): void {
    if (this.playing) return;
    const AudioContextClass = globalThis.AudioContext;
    if (AudioContextClass === undefined) return; // no Web Audio: ring silently
    if (this.context === null) {
      this.context = new AudioContextClass();
      routeContext(this.context, this.output).catch(() => undefined);
    }
    const context = this.context;
    context.resume().catch(() => undefined);
    // A context the autoplay policy holds stays suspended, and its resume() never settles.
    setTimeout(() => {
      if (this.playing && context.state !== "running") this.onBlocked();
    }, AUTOPLAY_GRACE_MS);

    const gain = context.createGain();
    gain.gain.setValueAtTime(0, context.currentTime);
    gain.connect(context.destination);
    this.gain = gain;
    this.oscillators = RING_FREQUENCIES_HZ.map((frequency) => {
      const osc = context.createOscillator();
      osc.type = "sine";
      osc.frequency.value = frequency;
      osc.connect(gain);
      osc.start();
      return osc;
    });

    this.scheduledUntil = context.currentTime + 0.05;
    this.scheduleCycles();
    this.timer = setInterval(() => this.scheduleCycles(), (RING_ON_S + RING_OFF_S) * 1000);
  }

  /** Let the sound out: called from a click (a user activation), which the autoplay policy waits for. */
  async allowSound(): Promise<boolean> {
    if (this.context === null) return true;
    await this.context.resume();
    return this.context.state === "running";
  }

  /** Stop ringing; does nothing if not ringing. */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    const gain = this.gain;
    if (gain === null || this.context === null) return;
    const now = this.context.currentTime;
    gain.gain.cancelScheduledValues(now);
    gain.gain.setValueAtTime(0, now);
    for (const osc of this.oscillators) {
      osc.stop();
      osc.disconnect();
    }
    gain.disconnect();
    this.oscillators = [];
    this.gain = null;
  }

  /** Keep the on/off envelope scheduled a couple of cycles ahead. */
  private scheduleCycles(): void {
    const context = this.context;
    const gain = this.gain;
    if (context === null || gain === null) return;
    const cycle = RING_ON_S + RING_OFF_S;
    const horizon = context.currentTime + SCHEDULE_AHEAD_CYCLES * cycle;
    // If the context was suspended and time jumped, start from now.
    if (this.scheduledUntil < context.currentTime) this.scheduledUntil = context.currentTime + 0.05;
    while (this.scheduledUntil < horizon) {
      const on = this.scheduledUntil;
      const off = on + RING_ON_S;
      gain.gain.setValueAtTime(0, on);
      gain.gain.linearRampToValueAtTime(LEVEL, on + RAMP_S);
      gain.gain.setValueAtTime(LEVEL, off - RAMP_S);
      gain.gain.linearRampToValueAtTime(0, off);
      this.scheduledUntil = on + cycle;
    }
  }
}
