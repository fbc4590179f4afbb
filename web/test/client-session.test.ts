// The embeddable client against a fake Talkbox: what it sends for each call and what it tells the
// application, over a fake WebSocket and fake WebRTC (the real ones are in tests/e2e/test_embeddable_client.py).

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Call } from "../src/client/calls";
import { TalkboxClient, TalkboxError } from "../src/client/client";

class FakeSocket {
  static OPEN = 1;
  static made: FakeSocket[] = [];
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {
    FakeSocket.made.push(this);
  }
  send(text: string): void {
    this.sent.push(JSON.parse(text) as Record<string, unknown>);
  }
  close(): void {
    this.readyState = 3;
  }
  /** Talkbox accepts the socket and says who the user is. */
  open(user = "alice"): void {
    this.readyState = 1;
    this.onopen?.();
    this.deliver({ type: "welcome", user, provider: "builtin", ice_servers: [] });
  }
  deliver(message: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  drop(code: number, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  types(): unknown[] {
    return this.sent.map((frame) => frame.type);
  }
}

class FakePeerConnection {
  iceGatheringState = "complete";
  connectionState = "new";
  localDescription: { sdp: string } | null = null;
  ontrack: unknown = null;
  onconnectionstatechange: (() => void) | null = null;
  addTrack(): void {}
  getSenders(): unknown[] {
    return [];
  }
  async setRemoteDescription(): Promise<void> {}
  async createAnswer(): Promise<{ type: string; sdp: string }> {
    return { type: "answer", sdp: "answer-sdp" };
  }
  async setLocalDescription(description: { sdp: string }): Promise<void> {
    this.localDescription = description;
  }
  addEventListener(): void {}
  removeEventListener(): void {}
  close(): void {}
}

function last(socket: FakeSocket): Record<string, unknown> | undefined {
  return socket.sent[socket.sent.length - 1];
}

const track = { kind: "audio", stop: () => undefined, addEventListener: () => undefined };
const audio = { srcObject: null, autoplay: false, play: () => Promise.resolve() } as unknown as HTMLAudioElement;

beforeEach(() => {
  FakeSocket.made = [];
  vi.stubGlobal("WebSocket", FakeSocket);
  vi.stubGlobal("RTCPeerConnection", FakePeerConnection);
  const stream = { getTracks: () => [track], getAudioTracks: () => [track] };
  vi.stubGlobal("navigator", { mediaDevices: { getUserMedia: async () => stream } });
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

const leg = (id: string, destination: string, status: string) => ({
  id,
  destination,
  status,
  kind: "browser",
  muted: false,
  held: false,
  held_by_chair: false,
  end_reason: null,
});

function conference(legs: ReturnType<typeof leg>[], chair = "alice", status = "active", end_reason: string | null = null) {
  return { type: "conference", conference: { id: "c-1", chair, status, end_reason, legs, transfer: null, recording: null } };
}

async function connected(user = "alice"): Promise<{ client: TalkboxClient; socket: FakeSocket }> {
  const connecting = TalkboxClient.connect({ url: "https://talkbox.example.org", token: "a.b.c", audio });
  const socket = FakeSocket.made[0]!;
  socket.open(user);
  return { client: await connecting, socket };
}

describe("TalkboxClient", () => {
  it("connects with the token as a subprotocol and knows its user from welcome", async () => {
    const { client, socket } = await connected();
    expect(socket.url).toBe("wss://talkbox.example.org/ws");
    expect(socket.protocols).toEqual(["talkbox", "talkbox.token.a.b.c"]);
    expect(client.user).toBe("alice");
    expect(client.connectionState).toBe("open");
  });

  it("refuses to connect with the reason Talkbox gave when it closes the socket at once", async () => {
    const connecting = TalkboxClient.connect({ url: "https://talkbox.example.org", token: "expired", audio });
    FakeSocket.made[0]!.drop(4401, "the token has expired");
    await expect(connecting).rejects.toMatchObject({ code: "unauthorized", message: "the token has expired" });
  });

  it("places a call, answers its own leg, and resolves with the call", async () => {
    const { client, socket } = await connected();
    const placing = client.call("bob");
    expect(socket.sent[0]).toEqual({ type: "call", to: "bob" });
    socket.deliver(conference([leg("l-a", "alice", "queued"), leg("l-b", "bob", "queued")]));
    const call = await placing;
    expect(call).toMatchObject({ id: "c-1", direction: "outgoing", peer: "bob", state: "connecting" });

    socket.deliver({ type: "offer", conference_id: "c-1", leg_id: "l-a", caller: "alice", sdp: "offer", auto_answer: true });
    await vi.waitFor(() => expect(socket.sent).toContainEqual({ type: "answer", leg_id: "l-a", sdp: "answer-sdp" }));
  });

  it("rejects a call Talkbox refuses, with its code", async () => {
    const { client, socket } = await connected();
    const placing = client.call("alice");
    socket.deliver({ type: "refused", code: "self_call", message: "You cannot call yourself" });
    await expect(placing).rejects.toEqual(new TalkboxError("self_call", "You cannot call yourself"));
  });

  it("tells the application of an incoming call, and accepting it answers the offer", async () => {
    const { client, socket } = await connected("bob");
    const incoming: Call[] = [];
    client.on("incoming", (call) => incoming.push(call));
    socket.deliver({ type: "offer", conference_id: "c-1", leg_id: "l-b", caller: "alice", sdp: "offer", auto_answer: false });
    expect(incoming).toMatchObject([{ id: "c-1", direction: "incoming", peer: "alice", state: "ringing", legId: "l-b" }]);
    expect(socket.types()).not.toContain("answer");

    await client.accept();
    expect(socket.sent).toContainEqual({ type: "answer", leg_id: "l-b", sdp: "answer-sdp" });
  });

  it("declines a call ringing here with reject, and leaves an answered one with hang_up", async () => {
    const { client, socket } = await connected("bob");
    socket.deliver(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "ringing")]));
    client.hangUp("c-1");
    expect(last(socket)).toEqual({ type: "reject", leg_id: "l-b" });

    socket.deliver(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress")]));
    client.mute(true);
    expect(last(socket)).toEqual({ type: "mute", conference_id: "c-1", leg_id: "l-b", muted: true });
    client.sendDigits("12#");
    expect(last(socket)).toEqual({ type: "dtmf", conference_id: "c-1", digits: "12#" });
    expect(() => client.sendDigits("12x")).toThrow(TalkboxError);
    client.hangUp();
    expect(last(socket)).toEqual({ type: "hang_up", conference_id: "c-1" });
  });

  it("says how a call ended, then forgets it", async () => {
    const { client, socket } = await connected();
    const seen: Call[] = [];
    client.on("call", (call) => seen.push(call));
    socket.deliver(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress")]));
    socket.deliver(conference([leg("l-a", "alice", "completed"), leg("l-b", "bob", "busy")], "alice", "ended", "busy"));
    expect(seen.map((call) => [call.state, call.endReason])).toEqual([
      ["connected", null],
      ["ended", "busy"],
    ]);
    expect(client.activeCalls()).toEqual([]);
  });

  it("reconnects after the socket drops, and asks again for the media of a live leg it has none of", async () => {
    vi.useFakeTimers();
    const { client, socket } = await connected();
    const states: string[] = [];
    client.on("state", (state) => states.push(state));
    socket.drop(1012, "service restart");
    expect(states).toEqual(["reconnecting"]);
    await vi.advanceTimersByTimeAsync(1000);
    const again = FakeSocket.made[1]!;
    again.open();
    expect(states).toEqual(["reconnecting", "open"]);
    // A reloaded page (or a new client) finds its user's call going on: its media comes back with `resume`.
    again.deliver(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress")]));
    expect(again.sent).toContainEqual({ type: "resume", leg_id: "l-a" });
  });
});
