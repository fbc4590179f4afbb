// BuiltinMedia with fake WebRTC: a new offer for a leg replaces its media,
// and the remote-audio element ends up holding the new remote stream.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { MediaEvent } from "../src/media";
import { BuiltinMedia, MediaCanceled, MediaFailure, statsReading } from "../src/media";

class FakeTrack extends EventTarget {
  readonly kind = "audio";
  stopped = false;
  stop(): void {
    this.stopped = true;
  }
}

class FakeStream {
  private readonly tracks: FakeTrack[];
  constructor(tracks: FakeTrack[] = []) {
    this.tracks = [...tracks];
  }
  getTracks(): FakeTrack[] {
    return this.tracks;
  }
  getAudioTracks(): FakeTrack[] {
    return this.tracks;
  }
  addTrack(track: FakeTrack): void {
    this.tracks.push(track);
  }
}

class FakePeerConnection {
  static made: FakePeerConnection[] = [];
  closed = false;
  remoteSdp = "";
  iceGatheringState = "complete";
  connectionState = "new";
  localDescription: { type: string; sdp: string } | null = null;
  ontrack: ((event: { streams: FakeStream[]; track: FakeTrack }) => void) | null = null;
  onconnectionstatechange: (() => void) | null = null;
  constructor() {
    FakePeerConnection.made.push(this);
  }
  readonly senders: FakeSender[] = [];
  addTrack(track: FakeTrack): void {
    this.senders.push(new FakeSender(track));
  }
  getSenders(): FakeSender[] {
    return this.senders;
  }
  async setRemoteDescription(description: { sdp: string }): Promise<void> {
    this.remoteSdp = description.sdp;
  }
  async createAnswer(): Promise<{ type: string; sdp: string }> {
    return { type: "answer", sdp: `answer-to-${this.remoteSdp}` };
  }
  async setLocalDescription(description: { type: string; sdp: string }): Promise<void> {
    this.localDescription = description;
  }
  addEventListener(): void {}
  removeEventListener(): void {}
  close(): void {
    this.closed = true;
  }
  /** The remote side sends its audio. */
  receive(): FakeStream {
    const track = new FakeTrack();
    const stream = new FakeStream([track]);
    this.ontrack?.({ streams: [stream], track });
    return stream;
  }
}

class FakeSender {
  constructor(public track: FakeTrack | null) {}
  async replaceTrack(track: FakeTrack): Promise<void> {
    this.track = track;
  }
}

interface FakeAudio {
  srcObject: unknown;
  play(): Promise<void>;
}

let microphones: FakeStream[];
let openMicrophone: () => Promise<FakeStream>;
let asked: MediaStreamConstraints[];

beforeEach(() => {
  FakePeerConnection.made = [];
  microphones = [];
  openMicrophone = async () => {
    const stream = new FakeStream([new FakeTrack()]);
    microphones.push(stream);
    return stream;
  };
  vi.stubGlobal("RTCPeerConnection", FakePeerConnection);
  vi.stubGlobal("MediaStream", FakeStream);
  asked = [];
  const getUserMedia = (constraints: MediaStreamConstraints) => {
    asked.push(constraints);
    return openMicrophone();
  };
  vi.stubGlobal("navigator", { mediaDevices: { getUserMedia } });
});

afterEach(() => {
  vi.unstubAllGlobals();
});

function adapter(): { media: BuiltinMedia; audio: FakeAudio } {
  const audio: FakeAudio = { srcObject: null, play: () => Promise.resolve() };
  const media = new BuiltinMedia({ audioElement: audio as unknown as HTMLAudioElement, audio: true });
  return { media, audio };
}

describe("BuiltinMedia: a new offer for a leg", () => {
  it("replaces its media: the old connection and microphone stop, the element plays the new stream", async () => {
    const { media, audio } = adapter();
    expect(await media.answer("l-a", "offer-1")).toBe("answer-to-offer-1");
    const [first] = FakePeerConnection.made;
    const oldStream = first?.receive();
    expect(audio.srcObject).toBe(oldStream);

    // What the runtime does for stop-media then answer-media on the same leg.
    media.hangUp("l-a");
    expect(await media.answer("l-a", "offer-2")).toBe("answer-to-offer-2");
    const second = FakePeerConnection.made[1];
    expect(first?.closed).toBe(true);
    expect(microphones[0]?.getTracks().every((t) => t.stopped)).toBe(true);
    const newStream = second?.receive();
    expect(second?.closed).toBe(false);
    expect(audio.srcObject).toBe(newStream);
  });

  it("a late track on the replaced connection does not take the element back", async () => {
    const { media, audio } = adapter();
    await media.answer("l-a", "offer-1");
    const first = FakePeerConnection.made[0];
    const handler = first?.ontrack;
    await media.answer("l-a", "offer-2");
    const newStream = FakePeerConnection.made[1]?.receive();
    // The old handler was detached on release; even called, it is ignored.
    expect(first?.ontrack).toBeNull();
    handler?.({ streams: [new FakeStream()], track: new FakeTrack() });
    expect(audio.srcObject).toBe(newStream);
  });

  it("an answer overtaken by a newer offer for the leg is canceled, not failed", async () => {
    let release: (stream: FakeStream) => void = () => undefined;
    openMicrophone = () => new Promise((resolve) => (release = resolve));
    const { media } = adapter();
    const overtaken = media.answer("l-a", "offer-1");
    const releaseFirst = release;
    openMicrophone = async () => new FakeStream([new FakeTrack()]);
    const current = media.answer("l-a", "offer-2");
    releaseFirst(new FakeStream([new FakeTrack()]));
    await expect(overtaken).rejects.toBeInstanceOf(MediaCanceled);
    await expect(current).resolves.toBe("answer-to-offer-2");
  });
});

describe("BuiltinMedia: devices", () => {
  it("a microphone chosen mid-call replaces the sender's track: same connection, old microphone stopped", async () => {
    const { media } = adapter();
    await media.answer("l-a", "offer-1");
    const pc = FakePeerConnection.made[0];
    await media.useMicrophone("headset-1");
    expect(FakePeerConnection.made).toHaveLength(1);
    expect(pc?.closed).toBe(false);
    expect(asked[1]).toEqual({ audio: { deviceId: { ideal: "headset-1" } } });
    expect(pc?.senders[0]?.track).toBe(microphones[1]?.getAudioTracks()[0]);
    expect(microphones[0]?.getTracks().every((t) => t.stopped)).toBe(true);
    // The next call opens the chosen one too.
    await media.answer("l-b", "offer-2");
    expect(asked[2]).toEqual({ audio: { deviceId: { ideal: "headset-1" } } });
  });

  it("a call's microphone track that ends by itself (unplugged) is reported; a replaced one is not", async () => {
    const { media } = adapter();
    const events: MediaEvent[] = [];
    media.onEvent((e) => events.push(e));
    await media.answer("l-a", "offer-1");
    const first = microphones[0]?.getAudioTracks()[0];
    await media.useMicrophone("headset-1");
    first?.dispatchEvent(new Event("ended"));
    expect(events).toEqual([]);
    microphones[1]?.getAudioTracks()[0]?.dispatchEvent(new Event("ended"));
    expect(events).toEqual([{ type: "microphone-ended", legId: "l-a" }]);
  });

  it("a denied microphone fails the leg saying it was denied", async () => {
    openMicrophone = () => Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
    const { media } = adapter();
    const failure = await media.answer("l-a", "offer-1").catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(MediaFailure);
    expect((failure as MediaFailure).reason).toBe("microphone");
    expect((failure as MediaFailure).problem).toBe("denied");
  });
});

describe("statsReading", () => {
  it("takes the RTT from the far end's report, jitter and loss from what is received", () => {
    const report = new Map<string, Record<string, unknown>>([
      ["p", { type: "candidate-pair", nominated: true, currentRoundTripTime: 0.002 }],
      ["r", { type: "remote-inbound-rtp", kind: "audio", roundTripTime: 0.12 }],
      ["i", { type: "inbound-rtp", kind: "audio", jitter: 0.015, packetsReceived: 970, packetsLost: 30 }],
      ["v", { type: "inbound-rtp", kind: "video", jitter: 9, packetsReceived: 1, packetsLost: 1 }],
    ]);
    expect(statsReading(report as unknown as RTCStatsReport)).toEqual({
      roundTripTime: 0.12,
      jitter: 0.015,
      packetsReceived: 970,
      packetsLost: 30,
    });
  });

  it("falls back on ICE's round trip before the far end has reported", () => {
    const report = new Map([["p", { type: "candidate-pair", nominated: true, currentRoundTripTime: 0.05 }]]);
    expect(statsReading(report as unknown as RTCStatsReport).roundTripTime).toBe(0.05);
  });
});
