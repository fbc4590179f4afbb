import { describe, expect, it } from "vitest";
import { encodeClientFrame, parseServerFrame } from "../src/protocol";

const conferenceJson = {
  id: "c-3f2a",
  chair: "alice",
  status: "active",
  end_reason: null,
  legs: [
    { id: "l-91", destination: "alice", status: "in-progress", muted: false, end_reason: null },
    { id: "l-a7", destination: "bob", status: "ringing", muted: false, end_reason: null },
  ],
};

describe("parseServerFrame", () => {
  it("parses every server message type", () => {
    expect(parseServerFrame('{"type":"welcome","user":"alice","provider":"builtin"}')).toEqual({
      type: "welcome",
      user: "alice",
      provider: "builtin",
      ice_servers: [],
    });
    const turn = { urls: ["turns:turn.example.org:5349?transport=tcp"], username: "1700000000:alice", credential: "c" };
    expect(parseServerFrame(JSON.stringify({ type: "welcome", user: "alice", provider: "builtin", ice_servers: [turn] })))
      .toEqual({ type: "welcome", user: "alice", provider: "builtin", ice_servers: [turn] });
    expect(parseServerFrame(JSON.stringify({ type: "conference", conference: conferenceJson }))).toEqual({
      type: "conference",
      conference: conferenceJson,
    });
    const offer = { type: "offer", conference_id: "c-1", leg_id: "l-a", caller: "alice", sdp: "v=0", auto_answer: true };
    expect(parseServerFrame(JSON.stringify(offer))).toEqual(offer);
    expect(parseServerFrame({ type: "refused", code: "self_call", message: "You cannot call yourself" })).toEqual({
      type: "refused",
      code: "self_call",
      message: "You cannot call yourself",
    });
    expect(parseServerFrame({ type: "synced", conferences: ["c-1", "c-2"] })).toEqual({
      type: "synced",
      conferences: ["c-1", "c-2"],
    });
    expect(parseServerFrame({ type: "synced", conferences: [1] })).toBeNull();
    expect(parseServerFrame({ type: "synced" })).toBeNull();
    expect(parseServerFrame({ type: "error", code: "too_large", message: "too large" })).toEqual({
      type: "error",
      code: "too_large",
      message: "too large",
    });
  });

  it("parses an ended conference with end reasons", () => {
    const endedJson = {
      ...conferenceJson,
      status: "ended",
      end_reason: "busy",
      legs: [
        { id: "l-91", destination: "alice", status: "completed", muted: false, end_reason: "ended" },
        { id: "l-a7", destination: "bob", status: "busy", muted: false, end_reason: "rejected" },
      ],
    };
    expect(parseServerFrame({ type: "conference", conference: endedJson })).toEqual({
      type: "conference",
      conference: endedJson,
    });
  });

  it.each([
    ["not JSON", "{nope"],
    ["not an object", "[1,2]"],
    ["no type", "{}"],
    ["unknown type", '{"type":"hello"}'],
    ["welcome without user", '{"type":"welcome","provider":"builtin"}'],
    ["welcome with a TURN server without credentials", '{"type":"welcome","user":"a","provider":"builtin","ice_servers":[{"urls":["turn:x"]}]}'],
    ["offer without auto_answer", '{"type":"offer","conference_id":"c","leg_id":"l","caller":"a","sdp":"v=0"}'],
    ["unknown leg status", JSON.stringify({ type: "conference", conference: { ...conferenceJson, legs: [{ ...conferenceJson.legs[0], status: "dancing" }] } })],
    ["unknown conference status", JSON.stringify({ type: "conference", conference: { ...conferenceJson, status: "paused" } })],
    ["legs not a list", JSON.stringify({ type: "conference", conference: { ...conferenceJson, legs: {} } })],
    ["refused without code", '{"type":"refused","message":"no"}'],
  ])("returns null for %s", (_what, frame) => {
    expect(parseServerFrame(frame)).toBeNull();
  });

  it("accepts end reasons it does not know (the server sends free strings)", () => {
    const raw = { type: "conference", conference: { ...conferenceJson, status: "ended", end_reason: "new-thing", legs: [{ ...conferenceJson.legs[0], status: "completed", end_reason: "new-thing" }] } };
    const parsed = parseServerFrame(raw);
    expect(parsed?.type === "conference" && parsed.conference.legs[0]?.end_reason).toBe("new-thing");
  });

  it("accepts a missing muted or end_reason as their defaults", () => {
    const raw = { type: "conference", conference: { ...conferenceJson, end_reason: undefined, legs: [{ id: "l", destination: "bob", status: "queued" }] } };
    const parsed = parseServerFrame(raw);
    expect(parsed?.type === "conference" && parsed.conference.legs[0]).toEqual({
      id: "l",
      destination: "bob",
      status: "queued",
      muted: false,
      end_reason: null,
    });
  });
});

describe("encodeClientFrame", () => {
  it("writes the frames of docs/protocol.md", () => {
    expect(JSON.parse(encodeClientFrame({ type: "call", to: "bob" }))).toEqual({ type: "call", to: "bob" });
    expect(JSON.parse(encodeClientFrame({ type: "hang_up", conference_id: "c-1" }))).toEqual({ type: "hang_up", conference_id: "c-1" });
    expect(JSON.parse(encodeClientFrame({ type: "answer", leg_id: "l-1", sdp: "v=0" }))).toEqual({ type: "answer", leg_id: "l-1", sdp: "v=0" });
    expect(JSON.parse(encodeClientFrame({ type: "reject", leg_id: "l-1" }))).toEqual({ type: "reject", leg_id: "l-1" });
    expect(JSON.parse(encodeClientFrame({ type: "add", conference_id: "c-1", to: "carol" }))).toEqual({ type: "add", conference_id: "c-1", to: "carol" });
    expect(JSON.parse(encodeClientFrame({ type: "remove", conference_id: "c-1", leg_id: "l-2" }))).toEqual({ type: "remove", conference_id: "c-1", leg_id: "l-2" });
    expect(JSON.parse(encodeClientFrame({ type: "mute", conference_id: "c-1", leg_id: "l-2", muted: true }))).toEqual({ type: "mute", conference_id: "c-1", leg_id: "l-2", muted: true });
    expect(JSON.parse(encodeClientFrame({ type: "rejoin", conference_id: "c-1" }))).toEqual({ type: "rejoin", conference_id: "c-1" });
    expect(JSON.parse(encodeClientFrame({ type: "leg_failed", leg_id: "l-1", reason: "microphone" }))).toEqual({
      type: "leg_failed",
      leg_id: "l-1",
      reason: "microphone",
    });
  });
});
