// The embeddable client's pure parts: a conference read as a call from one user's side, and its options.

import { describe, expect, it } from "vitest";
import { callOf } from "../src/client/calls";
import { TalkboxError, endpoint } from "../src/client/client";
import type { Conference, Leg } from "../src/protocol";

const leg = (id: string, destination: string, status: Leg["status"], extra: Partial<Leg> = {}): Leg => ({
  id,
  destination,
  status,
  kind: "browser",
  muted: false,
  held: false,
  held_by_chair: false,
  end_reason: null,
  ...extra,
});

const conference = (legs: Leg[], extra: Partial<Conference> = {}): Conference => ({
  id: "c-1",
  chair: "alice",
  status: "active",
  end_reason: null,
  legs,
  transfer: null,
  recording: null,
  ...extra,
});

describe("callOf", () => {
  it("is connecting, then ringing, then connected for the caller", () => {
    expect(callOf(conference([leg("l-a", "alice", "queued"), leg("l-b", "bob", "queued")]), "alice")).toMatchObject({
      direction: "outgoing",
      peer: "bob",
      state: "connecting",
      legId: "l-a",
    });
    const ringing = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "ringing")]);
    expect(callOf(ringing, "alice")?.state).toBe("ringing");
    const up = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress")]);
    expect(callOf(up, "alice")?.state).toBe("connected");
  });

  it("rings for the callee until their leg is answered", () => {
    const ringing = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "ringing")]);
    expect(callOf(ringing, "bob")).toMatchObject({ direction: "incoming", peer: "alice", state: "ringing", legId: "l-b" });
  });

  it("ends with the conference's reason, or with my leg's when I left a call that goes on", () => {
    const ended = conference([leg("l-a", "alice", "completed"), leg("l-b", "bob", "completed")], {
      status: "ended",
      end_reason: "hung-up",
    });
    expect(callOf(ended, "bob")).toMatchObject({ state: "ended", endReason: "hung-up" });
    const removed = conference([
      leg("l-a", "alice", "in-progress"),
      leg("l-b", "bob", "completed", { end_reason: "removed" }),
      leg("l-c", "carol", "in-progress"),
    ]);
    expect(callOf(removed, "bob")).toMatchObject({ state: "ended", endReason: "removed" });
  });

  it("follows a chair who rejoined onto a new leg, and says who is muted", () => {
    const rejoined = conference([
      leg("l-a", "alice", "completed", { end_reason: "hung-up" }),
      leg("l-b", "bob", "in-progress", { muted: true }),
      leg("l-c", "carol", "in-progress"),
      leg("l-a2", "alice", "in-progress", { muted: true }),
    ]);
    const call = callOf(rejoined, "alice");
    expect(call).toMatchObject({ legId: "l-a2", muted: true, state: "connected" });
    expect(call?.participants.map((p) => [p.name, p.muted])).toEqual([
      ["bob", true],
      ["carol", false],
    ]);
  });

  it("is nothing for a user with no leg on it", () => {
    expect(callOf(conference([leg("l-a", "alice", "in-progress")]), "mallory")).toBeNull();
  });
});

describe("endpoint", () => {
  it("puts the token in a subprotocol and a header, never in the socket's URL", () => {
    const where = endpoint({ url: "https://talkbox.example.org/", token: "a.b.c" });
    expect(where.socketUrl).toBe("wss://talkbox.example.org/ws");
    expect(where.protocols).toEqual(["talkbox", "talkbox.token.a.b.c"]);
    expect(where.headers).toEqual({ Authorization: "Bearer a.b.c" });
  });

  it("sends the name in open mode", () => {
    expect(endpoint({ url: "http://127.0.0.1:5000", name: "alice" }).socketUrl).toBe(
      "ws://127.0.0.1:5000/ws?client_name=alice",
    );
  });

  it("refuses a URL that is not http(s), and neither or both of token and name", () => {
    expect(() => endpoint({ url: "ftp://x", token: "t" })).toThrow(TalkboxError);
    expect(() => endpoint({ url: "not a url", token: "t" })).toThrow(/not a URL/);
    expect(() => endpoint({ url: "http://x" })).toThrow(/either token/);
    expect(() => endpoint({ url: "http://x", token: "t", name: "n" })).toThrow(/either token/);
  });
});
