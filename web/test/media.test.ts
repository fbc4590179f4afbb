// BuiltinMedia with fake WebRTC: a new offer for a leg replaces its media,
// and the remote-audio element ends up holding the new remote stream.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { BuiltinMedia, MediaCanceled } from "../src/media";

class FakeTrack {
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
  addTrack(): void {}
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

interface FakeAudio {
  srcObject: unknown;
  play(): Promise<void>;
}

let microphones: FakeStream[];
let openMicrophone: () => Promise<FakeStream>;

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
  vi.stubGlobal("navigator", { mediaDevices: { getUserMedia: () => openMicrophone() } });
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
