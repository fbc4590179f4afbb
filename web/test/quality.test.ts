// Call quality: the E-model's MOS, Twilio's thresholds, and what the page says.

import { describe, expect, it } from "vitest";
import { QUALITY_RECOVERED } from "../src/narration";
import type { StatsReading } from "../src/quality";
import { callQuality, estimateMos, qualityLine, qualityWarning, sdkQuality, serverView } from "../src/quality";
import type { LegStats } from "../src/protocol";
import { update } from "../src/update";
import { aliceInCall, conf, conference, connectedAs, leg, offer, run, server } from "./fixtures";

const reading = (rttS: number, jitterS: number, received: number, lost: number): StatsReading => ({
  roundTripTime: rttS,
  jitter: jitterS,
  packetsReceived: received,
  packetsLost: lost,
});

describe("the estimated MOS", () => {
  it("is near the best for a clean line, and falls with delay, jitter and loss", () => {
    const clean = estimateMos(20, 2, 0);
    expect(clean).toBeGreaterThan(4.3);
    expect(clean).toBeLessThanOrEqual(4.5);
    expect(estimateMos(300, 2, 0)).toBeLessThan(clean);
    expect(estimateMos(20, 40, 0)).toBeLessThan(clean);
    expect(estimateMos(20, 2, 15)).toBeLessThan(3.5);
    expect(estimateMos(1200, 0, 0)).toBe(1);
  });
});

describe("callQuality", () => {
  it("takes loss over the packets since the previous reading", () => {
    const first = reading(0.02, 0.002, 1000, 0);
    const q = callQuality(reading(0.02, 0.002, 1090, 10), first);
    expect(q.lossPercent).toBeCloseTo(10);
    expect(q.rttMs).toBeCloseTo(20);
    expect(q.jitterMs).toBeCloseTo(2);
  });

  it("warns at Twilio's thresholds: RTT > 400 ms, jitter > 30 ms, loss > 3%, MOS < 3.5", () => {
    // At a threshold is not over it (each alone: together they would bring the MOS under 3.5).
    expect(callQuality(reading(0.4, 0.002, 100, 0), null).warnings).not.toContain("rtt");
    expect(callQuality(reading(0.02, 0.03, 100, 0), null).warnings).toEqual([]);
    expect(callQuality(reading(0.02, 0.002, 97, 3), null).warnings).toEqual([]);
    expect(callQuality(reading(0.401, 0.002, 100, 0), null).warnings).toContain("rtt");
    expect(callQuality(reading(0.02, 0.031, 100, 0), null).warnings).toEqual(["jitter"]);
    expect(callQuality(reading(0.02, 0.002, 96, 4), null).warnings).toEqual(["loss"]);
    expect(callQuality(reading(0.02, 0.002, 80, 20), null).warnings).toEqual(["loss", "mos"]);
  });

  it("reads as numbers and warnings in words", () => {
    const q = callQuality(reading(0.123, 0.0045, 90, 10), null);
    expect(qualityLine(q)).toMatch(/^MOS \d\.\d · delay 123 ms · jitter 5 ms · loss 10\.0%$/);
    expect(qualityWarning(q)).toBe("Call quality warning: audio dropping out, poor call quality");
  });
});

describe("sdkQuality: Twilio's Voice SDK measures the call", () => {
  const sample = { rtt: 80, jitter: 12, packetsLostFraction: 2, mos: 4.0 };

  it("takes the sample's numbers and the SDK's own MOS", () => {
    expect(sdkQuality(sample, [])).toEqual({ rttMs: 80, jitterMs: 12, lossPercent: 2, mos: 4.0, warnings: [] });
  });

  it("estimates the MOS until the SDK has one", () => {
    expect(sdkQuality({ ...sample, mos: null }, []).mos).toBeCloseTo(estimateMos(80, 12, 2));
  });

  it("warns as the SDK warned, once each, in the page's order, and nothing of its audio-level warnings", () => {
    const raised = ["low-mos", "high-packet-loss", "high-packets-lost-fraction", "constant-audio-output-level", "high-rtt"];
    expect(sdkQuality(sample, raised).warnings).toEqual(["rtt", "loss", "mos"]);
    expect(qualityWarning(sdkQuality(sample, ["high-jitter"]))).toBe("Call quality warning: choppy audio");
  });
});

describe("stats in the update", () => {
  it("in Twilio mode the SDK's measure of my connected leg is its quality, announced as from getStats", () => {
    const measured = (warnings: ("rtt" | "jitter" | "loss" | "mos")[]) => ({
      type: "quality-measured" as const,
      legId: "l-a",
      quality: { rttMs: 450, jitterMs: 3, lossPercent: 0, mos: 4.1, warnings },
    });
    const [bad] = update(aliceInCall(), measured(["rtt"]));
    expect(bad.quality?.rttMs).toBe(450);
    expect(bad.announcement?.text).toContain("Call quality warning: long delay");
    const [better] = update(bad, measured([]));
    expect(better.announcement?.text).toBe(`${QUALITY_RECOVERED}.`);
    const model = aliceInCall();
    expect(update(model, { ...measured([]), legId: "l-x" })[0]).toBe(model);
  });

  it("a reading of my connected leg shows its quality", () => {
    const [next] = update(aliceInCall(), { type: "stats-read", legId: "l-a", reading: reading(0.02, 0.002, 100, 0) });
    expect(next.quality?.warnings).toEqual([]);
    expect(next.quality?.rttMs).toBeCloseTo(20);
  });

  it("a warning is announced once when it starts, and its end once", () => {
    const good = update(aliceInCall(), { type: "stats-read", legId: "l-a", reading: reading(0.02, 0.002, 100, 0) })[0];
    const [bad] = update(good, { type: "stats-read", legId: "l-a", reading: reading(0.02, 0.002, 180, 20) });
    expect(bad.announcement?.text).toContain("Call quality warning: audio dropping out");
    const [stillBad] = update(bad, { type: "stats-read", legId: "l-a", reading: reading(0.02, 0.002, 260, 40) });
    expect(stillBad.announcement).toEqual(bad.announcement);
    const [better] = update(stillBad, { type: "stats-read", legId: "l-a", reading: reading(0.02, 0.002, 360, 40) });
    expect(better.announcement?.text).toBe(`${QUALITY_RECOVERED}.`);
  });

  it("audio lost during a warning is not called a recovery", () => {
    const good = update(aliceInCall(), { type: "stats-read", legId: "l-a", reading: reading(0.02, 0.002, 100, 0) })[0];
    const [bad] = update(good, { type: "stats-read", legId: "l-a", reading: reading(0.02, 0.002, 180, 20) });
    const [lost] = update(bad, { type: "media-interrupted", legId: "l-a" });
    expect(lost.announcement?.text).not.toContain(QUALITY_RECOVERED);
  });

  it("a reading of another leg, or of media not connected, is ignored", () => {
    const model = aliceInCall();
    expect(update(model, { type: "stats-read", legId: "l-x", reading: reading(0.02, 0, 1, 0) })[0]).toBe(model);
    const lost = update(model, { type: "media-interrupted", legId: "l-a" })[0];
    expect(update(lost, { type: "stats-read", legId: "l-a", reading: reading(0.02, 0, 1, 0) })[0]).toBe(lost);
  });

  it("a new connection of the media is measured afresh", () => {
    const measured = update(aliceInCall(), { type: "stats-read", legId: "l-a", reading: reading(0.02, 0, 100, 0) })[0];
    const lost = update(measured, { type: "media-interrupted", legId: "l-a" })[0];
    const back = update(lost, { type: "media-connected", legId: "l-a" })[0];
    expect(back.quality).toBeNull();
    expect(back.qualityReading).toBeNull();
  });
});

describe("the server's view of each leg, for the chair", () => {
  const stats = (over: Partial<LegStats> = {}): LegStats => ({
    leg_id: "l-b",
    buffered: true,
    delay_ms: 61.2,
    target_ms: 40,
    received: 1200,
    concealed: 5,
    late: 1,
    dropped: 0,
    loss: 0.004,
    peer_round_trip_ms: 12.4,
    peer_loss: 0,
    peer_jitter_ms: 3.1,
    ...over,
  });

  it("is asked for every few seconds by the chair of a connected call only", () => {
    const chair = run(aliceInCall(), [{ type: "leg-stats-due" }]);
    expect(chair.effects).toEqual([{ type: "send", frame: { type: "leg_stats", conference_id: "c-1" } }]);
    const guest = run(connectedAs("bob"), [
      offer("l-b"),
      { type: "accept-clicked" },
      conf(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress")])),
      { type: "media-connected", legId: "l-b" },
      { type: "leg-stats-due" },
    ]);
    expect(guest.effects.filter((e) => e.type === "send" && e.frame.type === "leg_stats")).toEqual([]);
  });

  it("is kept for the call on the panel and said in words", () => {
    const model = run(aliceInCall(), [
      server({ type: "leg_stats", conference_id: "c-1", legs: [stats()] }),
      server({ type: "leg_stats", conference_id: "c-other", legs: [] }),
    ]).model;
    expect(serverView(model.legStats["l-b"])).toBe("Talkbox hears: 61 ms buffer, 0.4% lost, 12 ms round trip");
    expect(serverView(stats({ buffered: false, peer_loss: 0.031 }))).toBe(
      "Talkbox hears: 12 ms round trip, 3.1% lost on the way",
    );
    expect(serverView(undefined)).toBe("");
  });
});
