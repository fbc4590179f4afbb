// A ringtone made with Web Audio, no sound file: 440 Hz + 480 Hz together,
// 2 s on, 4 s off (the North American ring cadence). A call waiting, which
// comes while another call is in the ear, is one short 440 Hz beep every 10 s.

import { routeContext } from "./meter";

export const RING_FREQUENCIES_HZ = [440, 480] as const;
export const RING_ON_S = 2;
export const RING_OFF_S = 4;
/** What sounds, and its on/off rhythm. */
export interface Cadence {
  frequencies: readonly number[];
  onS: number;
  offS: number;
}
export const RING: Cadence = { frequencies: RING_FREQUENCIES_HZ, onS: RING_ON_S, offS: RING_OFF_S };
export const CALL_WAITING: Cadence = { frequencies: [440], onS: 0.3, offS: 9.7 };
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
  private cadence: Cadence = RING;
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

  /** Start ringing (with `cadence`); does nothing if already ringing so. */
  start(cadence: Cadence = RING): void {
    if (this.playing && this.cadence === cadence) return;
    this.stop();
    this.cadence = cadence;
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
    this.oscillators = cadence.frequencies.map((frequency) => {
      const osc = context.createOscillator();
      osc.type = "sine";
      osc.frequency.value = frequency;
      osc.connect(gain);
      osc.start();
      return osc;
    });

    this.scheduledUntil = context.currentTime + 0.05;
    this.scheduleCycles();
    this.timer = setInterval(() => this.scheduleCycles(), (cadence.onS + cadence.offS) * 1000);
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
    const { onS, offS } = this.cadence;
    const cycle = onS + offS;
    const horizon = context.currentTime + SCHEDULE_AHEAD_CYCLES * cycle;
    // If the context was suspended and time jumped, start from now.
    if (this.scheduledUntil < context.currentTime) this.scheduledUntil = context.currentTime + 0.05;
    while (this.scheduledUntil < horizon) {
      const on = this.scheduledUntil;
      const off = on + onS;
      gain.gain.setValueAtTime(0, on);
      gain.gain.linearRampToValueAtTime(LEVEL, on + RAMP_S);
      gain.gain.setValueAtTime(LEVEL, off - RAMP_S);
      gain.gain.linearRampToValueAtTime(0, off);
      this.scheduledUntil = on + cycle;
    }
  }
}
