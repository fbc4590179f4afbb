import { describe, expect, it } from "vitest";
import { encodeClientFrame, parseServerFrame } from "../src/protocol";

// As the server writes them (model_dump_json): every field, defaults included.
const conferenceJson = {
  id: "c-3f2a",
  chair: "alice",
  status: "active",
  end_reason: null,
  legs: [
    { id: "l-91", destination: "alice", status: "in-progress", kind: "browser", muted: false, held: false, held_by_chair: false, end_reason: null },
    { id: "l-a7", destination: "bob", status: "ringing", kind: "browser", muted: false, held: false, held_by_chair: false, end_reason: null },
  ],
  transfer: null,
  recording: null,
};
const welcome = { type: "welcome", user: "alice", provider: "builtin", ice_servers: [] };
const offer = { type: "offer", conference_id: "c-1", leg_id: "l-a", caller: "alice", sdp: "v=0", auto_answer: true };
const stats = {
  leg_id: "l-a",
  buffered: true,
  delay_ms: 40,
  target_ms: 40,
  received: 100,
  concealed: 1,
  late: 0,
  dropped: 0,
  loss: 0.01,
  peer_round_trip_ms: null,
  peer_loss: null,
  peer_jitter_ms: null,
};
const call = {
  conference_id: "c-1",
  direction: "outgoing",
  peers: ["bob"],
  started_at: 1700000000.5,
  answered_at: null,
  ended_at: null,
  outcome: null,
  end_reason: null,
};

/** A copy of `value` with `path`'s field set to `to`, or taken out when `to` is undefined. */
function changed(value: object, path: (string | number)[], to?: unknown): unknown {
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (to === undefined) delete node[last];
  else node[last] = to;
  return copy;
}

describe("parseServerFrame", () => {
  it.each([
    ["welcome", welcome],
    ["welcome with TURN", { ...welcome, ice_servers: [{ urls: ["turns:turn.example.org:5349?transport=tcp"], username: "1700000000:alice", credential: "c" }] }],
    ["conference", { type: "conference", conference: conferenceJson }],
    ["conference with a transfer", { type: "conference", conference: { ...conferenceJson, transfer: { by: "alice", to: "carol", status: "ringing" } } }],
    ["offer", offer],
    ["refused", { type: "refused", code: "self_call", message: "You cannot call yourself" }],
    ["error", { type: "error", code: "too_large", message: "too large" }],
    ["retrying", { type: "retrying", conference_id: "c-1", request: "hang_up", message: "" }],
    ["speaking", { type: "speaking", conference_id: "c-1", legs: ["l-a"] }],
    ["digit", { type: "digit", conference_id: "c-1", leg_id: "l-t", digit: "#" }],
    ["resync", { type: "resync" }],
    ["synced", { type: "synced", conferences: ["c-1", "c-2"] }],
    ["presence", { type: "presence", people: [{ name: "bob", status: "dnd" }], complete: true }],
    ["history", { type: "history", calls: [call], before: 1700000000.5 }],
    ["missed", { type: "missed", count: 2 }],
    ["leg_stats", { type: "leg_stats", conference_id: "c-1", legs: [stats] }],
  ])("reads %s as the server sends it", (_what, frame) => {
    expect(parseServerFrame(JSON.stringify(frame))).toEqual(frame);
    expect(parseServerFrame(frame)).toEqual(frame);
  });

  it.each([
    ["not JSON", "{nope"],
    ["not an object", "[1,2]"],
    ["no type", "{}"],
    ["an unknown type", '{"type":"hello"}'],
    ["a type that is not a string", '{"type":7}'],
    ["welcome without user", changed(welcome, ["user"])],
    ["welcome without ice_servers", changed(welcome, ["ice_servers"])],
    ["a TURN server without credentials", changed(welcome, ["ice_servers"], [{ urls: ["turn:x"] }])],
    ["offer without auto_answer", changed(offer, ["auto_answer"])],
    ["offer with auto_answer a string", changed(offer, ["auto_answer"], "yes")],
    ["offer with a numeric sdp", changed(offer, ["sdp"], 0)],
    ["a leg without muted", changed({ type: "conference", conference: conferenceJson }, ["conference", "legs", 0, "muted"])],
    ["an unknown leg status", changed({ type: "conference", conference: conferenceJson }, ["conference", "legs", 0, "status"], "dancing")],
    ["an unknown conference status", changed({ type: "conference", conference: conferenceJson }, ["conference", "status"], "paused")],
    ["legs not a list", changed({ type: "conference", conference: conferenceJson }, ["conference", "legs"], {})],
    ["a malformed transfer", changed({ type: "conference", conference: conferenceJson }, ["conference", "transfer"], { by: "a", to: "b", status: "lost" })],
    ["refused without code", { type: "refused", message: "no" }],
    ["error with a numeric code", { type: "error", code: 4, message: "" }],
    ["a digit that is no key", { type: "digit", conference_id: "c-1", leg_id: "l-t", digit: "X" }],
    ["a negative missed count", { type: "missed", count: -1 }],
    ["a fractional missed count", { type: "missed", count: 1.5 }],
    ["a person with an unknown status", { type: "presence", people: [{ name: "bob", status: "asleep" }], complete: false }],
    ["a call with an unknown outcome", { type: "history", calls: [{ ...call, outcome: "lost" }], before: null }],
    ["leg stats with a string loss", { type: "leg_stats", conference_id: "c-1", legs: [{ ...stats, loss: "1%" }] }],
  ])("refuses %s", (_what, frame) => {
    expect(parseServerFrame(typeof frame === "string" ? frame : JSON.stringify(frame))).toBeNull();
  });

  it("takes words a newer server has and this page does not: end reasons and codes", () => {
    const ended = { ...conferenceJson, status: "ended", end_reason: "new-thing", legs: [{ ...conferenceJson.legs[0], status: "completed", end_reason: "new-thing" }] };
    const parsed = parseServerFrame({ type: "conference", conference: ended });
    expect(parsed?.type === "conference" && parsed.conference.legs[0]?.end_reason).toBe("new-thing");
    expect(parseServerFrame({ type: "refused", code: "new_code", message: "" })).toEqual({ type: "refused", code: "new_code", message: "" });
    expect(parseServerFrame({ type: "error", code: "new_code", message: "" })).toEqual({ type: "error", code: "new_code", message: "" });
  });

  it("takes a frame with fields it does not know (seq, a newer server's), and changes nothing of it", () => {
    const frame = { seq: 7, ...offer, ring_style: "loud" };
    expect(parseServerFrame(frame)).toBe(frame);
    expect(frame).toEqual({ seq: 7, ...offer, ring_style: "loud" });
    const conference = { ...conferenceJson, legs: [{ ...conferenceJson.legs[0], codec: "opus" }] };
    expect(parseServerFrame(JSON.stringify({ type: "conference", conference }))).toEqual({ type: "conference", conference });
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
