// A call's quality as the page hears it, from WebRTC's getStats: round-trip
// time, jitter, loss and a MOS estimated with the E-model (ITU-T G.107, in
// the simplified form browser SDKs use), and warnings at Twilio's thresholds.
// In Twilio mode the Voice SDK measures the call itself: its samples and
// warnings become the same CallQuality (sdkQuality).
// Pure: the runtime reads the stats (media.ts, twilio-media.ts), this turns them into words.

import type { LegStats } from "./protocol";

/** What one look at getStats found (cumulative counters, as the browser keeps them). */
export interface StatsReading {
  /** Seconds; null when the browser has not measured it yet. */
  roundTripTime: number | null;
  /** Seconds, of the audio received. */
  jitter: number | null;
  packetsReceived: number;
  packetsLost: number;
}

/** The quality of the last stretch of the call. */
export interface CallQuality {
  rttMs: number | null;
  jitterMs: number | null;
  /** Percent of the packets since the previous reading that never came. */
  lossPercent: number;
  mos: number;
  warnings: QualityWarning[];
}

export type QualityWarning = "rtt" | "jitter" | "loss" | "mos";

/** Twilio Voice SDK's thresholds for its warnings. */
export const THRESHOLDS = { rttMs: 400, jitterMs: 30, lossPercent: 3, mos: 3.5 } as const;

/** One sentence per warning, in what the person hears rather than the metric's name. */
export const WARNING_WORDS: Record<QualityWarning, string> = {
  rtt: "long delay",
  jitter: "choppy audio",
  loss: "audio dropping out",
  mos: "poor call quality",
};

/** The quality between two readings of the same leg (`previous` null: since the call began). */
export function callQuality(current: StatsReading, previous: StatsReading | null): CallQuality {
  const received = current.packetsReceived - (previous?.packetsReceived ?? 0);
  const lost = Math.max(0, current.packetsLost - (previous?.packetsLost ?? 0));
  const lossPercent = received + lost > 0 ? (100 * lost) / (received + lost) : 0;
  const rttMs = current.roundTripTime === null ? null : current.roundTripTime * 1000;
  const jitterMs = current.jitter === null ? null : current.jitter * 1000;
  const mos = estimateMos(rttMs ?? 0, jitterMs ?? 0, lossPercent);
  const warnings: QualityWarning[] = [];
  if (rttMs !== null && rttMs > THRESHOLDS.rttMs) warnings.push("rtt");
  if (jitterMs !== null && jitterMs > THRESHOLDS.jitterMs) warnings.push("jitter");
  if (lossPercent > THRESHOLDS.lossPercent) warnings.push("loss");
  if (mos < THRESHOLDS.mos) warnings.push("mos");
  return { rttMs, jitterMs, lossPercent, mos, warnings };
}

/** The part of one of the Voice SDK's per-second samples (its Call's `sample` event) the page reads. */
export interface SdkSample {
  /** Milliseconds. */
  rtt: number;
  /** Milliseconds. */
  jitter: number;
  /** Percent of the last second's packets that never came. */
  packetsLostFraction: number;
  /** The SDK's own estimate; null until it has two samples. */
  mos: number | null;
}

/** The SDK's network warnings (the names its Call's `warning` event gives), as the page names them. */
export const SDK_WARNINGS: Readonly<Record<string, QualityWarning>> = {
  "high-rtt": "rtt",
  "high-jitter": "jitter",
  // Two of the SDK's: over 1% in a second, and over 3% on average over seven.
  "high-packet-loss": "loss",
  "high-packets-lost-fraction": "loss",
  "low-mos": "mos",
};

const WARNING_ORDER: readonly QualityWarning[] = ["rtt", "jitter", "loss", "mos"];

/**
 * The quality the SDK measured: its last sample's numbers, and the warnings it
 * raised and has not cleared. Its own thresholds and smoothing decide those (a
 * warning after several bad samples), so the page does not judge them again.
 */
export function sdkQuality(sample: SdkSample, raised: Iterable<string>): CallQuality {
  const named = new Set([...raised].map((name) => SDK_WARNINGS[name]));
  const mos = sample.mos ?? estimateMos(sample.rtt, sample.jitter, sample.packetsLostFraction);
  return {
    rttMs: sample.rtt,
    jitterMs: sample.jitter,
    lossPercent: sample.packetsLostFraction,
    mos,
    warnings: WARNING_ORDER.filter((warning) => named.has(warning)),
  };
}

/**
 * The E-model's R factor from the delay a listener feels (the round trip,
 * twice the jitter a buffer absorbs, and the codec's few milliseconds),
 * lowered by loss, then mapped onto a MOS of 1 to 4.5.
 */
export function estimateMos(rttMs: number, jitterMs: number, lossPercent: number): number {
  const BEST_R = 94.768; // G.711-like audio with no impairment
  const delay = rttMs + 2 * jitterMs + 10;
  // Delay hurts little until about 160 ms, then much faster.
  let r = delay < 160 ? BEST_R - delay / 40 : BEST_R - (delay - 120) / 10;
  r -= 2.5 * lossPercent;
  if (r <= 0 || delay >= 1000) return 1;
  r = Math.min(r, 100);
  return 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r);
}

/** The indicator's line: the numbers, rounded for reading. */
export function qualityLine(quality: CallQuality): string {
  const rtt = quality.rttMs === null ? "—" : `${Math.round(quality.rttMs)} ms`;
  const jitter = quality.jitterMs === null ? "—" : `${Math.round(quality.jitterMs)} ms`;
  return `MOS ${quality.mos.toFixed(1)} · delay ${rtt} · jitter ${jitter} · loss ${quality.lossPercent.toFixed(1)}%`;
}

/** The warning spoken and shown, "" when the call sounds fine. */
export function qualityWarning(quality: CallQuality | null): string {
  if (quality === null || quality.warnings.length === 0) return "";
  const words = quality.warnings.map((w) => WARNING_WORDS[w]);
  return `Call quality warning: ${words.join(", ")}`;
}

/** How Talkbox hears a leg, for the chair: "Talkbox hears: 60 ms buffer, 0.4% lost" ("" before it has said). */
export function serverView(stats: LegStats | undefined): string {
  if (stats === undefined) return "";
  const parts: string[] = [];
  if (stats.buffered) parts.push(`${Math.round(stats.delay_ms)} ms buffer`, `${(stats.loss * 100).toFixed(1)}% lost`);
  if (stats.peer_round_trip_ms !== null) parts.push(`${Math.round(stats.peer_round_trip_ms)} ms round trip`);
  if (!stats.buffered && stats.peer_loss !== null) parts.push(`${(stats.peer_loss * 100).toFixed(1)}% lost on the way`);
  return parts.length === 0 ? "" : `Talkbox hears: ${parts.join(", ")}`;
}
