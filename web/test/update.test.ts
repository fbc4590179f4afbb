import { connectionLine } from "../src/connection";
import { describe, expect, it } from "vitest";
import type { Effect, Model } from "../src/model";
import { initialModel, reconnectDelay } from "../src/model";
import { dialButtonLabel, dialMode, mySide } from "../src/call";
import { update } from "../src/update";
import { conf, conference, connectedAs, ended, leg, offer, run, server } from "./fixtures";

const types = (effects: Effect[]) => effects.map((e) => e.type);
const sent = (effects: Effect[]) => effects.flatMap((e) => (e.type === "send" ? [e.frame] : []));
const statusText = (m: Model) => m.notice ?? m.outcome;

describe("connection", () => {
  it("starts connecting, opens, and learns who I am", () => {
    const start = initialModel();
    expect(start.connection).toBe("connecting");
    const { model, effects } = run(start, [
      { type: "socket-opened" },
      server({ type: "welcome", user: "alice", provider: "builtin", ice_servers: [] }),
    ]);
    expect(model.connection).toBe("open");
    expect(model.me).toBe("alice");
    expect(model.provider).toBe("builtin");
    // The provider from welcome selects the media adapter; the library and the directory are asked for.
    expect(effects).toEqual([
      { type: "use-media", provider: "builtin" },
      { type: "fetch-library" },
      { type: "send", frame: { type: "directory" } },
    ]);
    expect(model.device).toBeNull();
  });

  it("without an identity in the URL it does not connect", () => {
    const start = initialModel({ identityMissing: true });
    expect(start.connection).toBe("closed");
    expect(start.identityMissing).toBe(true);
  });

  it("on close shows disconnected and reconnects with a doubling backoff capped at 10 s", () => {
    let model = connectedAs("alice");
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      const [next, effects] = update(model, { type: "socket-closed", code: 1006, reason: "" });
      expect(next.connection).toBe("closed");
      expect(effects).toHaveLength(1);
      const effect = effects[0];
      if (effect?.type !== "reconnect-later") throw new Error("expected reconnect-later");
      delays.push(effect.delayMs);
      model = update(next, { type: "socket-connecting" })[0];
      expect(model.connection).toBe("connecting");
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 10000, 10000]);
  });

  it("does not reconnect when the server says too many pages are open (4429)", () => {
    const [next, effects] = update(connectedAs("alice"), {
      type: "socket-closed",
      code: 4429,
      reason: "too many open sockets for alice",
    });
    expect(effects.some((effect) => effect.type === "reconnect-later")).toBe(false);
    expect(next.notice).toContain("too many open sockets for alice");
    expect(connectionLine(next).text).toBe("Not connected: too many pages open");
  });

  it("reconnects, for the whole state again, when the server closed it as too slow to read (4408)", () => {
    const [next, effects] = update(connectedAs("alice"), {
      type: "socket-closed",
      code: 4408,
      reason: "too slow to read its messages; reconnect",
    });
    expect(effects).toEqual([{ type: "reconnect-later", delayMs: 500 }]);
    expect(connectionLine(next).text).toBe("Fell behind the server — reconnecting…");
    const [reopened] = update(update(next, { type: "socket-connecting" })[0], { type: "socket-opened" });
    expect(reopened.known).toEqual({}); // the snapshot that follows rebuilds the page
    expect(connectionLine(reopened).text).toBe("Connected as alice");
  });

  it("a successful open resets the backoff", () => {
    const { model, effects } = run(connectedAs("alice"), [
      { type: "socket-closed", code: 1006, reason: "" },
      { type: "socket-closed", code: 1006, reason: "" },
      { type: "socket-opened" },
      { type: "socket-closed", code: 1001, reason: "going away" },
    ]);
    expect(effects).toEqual([
      { type: "reconnect-later", delayMs: 500 },
      { type: "reconnect-later", delayMs: 1000 },
      { type: "reconnect-later", delayMs: 500 },
    ]);
    expect(model.reconnectAttempt).toBe(1);
  });

  it("a 4401 close (bad identity) says why in people's words and does not reconnect", () => {
    const [model, effects] = update(initialModel(), { type: "socket-closed", code: 4401, reason: "invalid token" });
    expect(effects).toEqual([]);
    expect(model.authFailed).toBe(true);
    expect(model.notice).toBe(
      "Not signed in: this server signs people in with a link that carries a token; ask for a new link",
    );
    const [named] = update(initialModel(), {
      type: "socket-closed",
      code: 4401,
      reason: "client_name must be 1-64 letters, digits, '.', '_' or '-'",
    });
    expect(named.notice).toBe(
      "Not signed in: that name cannot be used. Use only letters, digits, dots (.), dashes (-) and underscores (_), up to 64 characters.",
    );
  });

  it("a close while ringing stops the ringtone and drops the offer", () => {
    const { model, effects } = run(connectedAs("bob"), [
      offer("l-b"),
      { type: "socket-closed", code: 1006, reason: "" },
    ]);
    expect(types(effects)).toEqual(["start-ringtone", "stop-ringtone", "reconnect-later"]);
    expect(model.incoming).toBeNull();
    expect(model.ringing).toBe(false);
  });

  it("reconnecting reports reconnectDelay's schedule", () => {
    expect([0, 1, 2, 3, 4, 5, 50].map(reconnectDelay)).toEqual([500, 1000, 2000, 4000, 8000, 10000, 10000]);
  });

  it("warns about a media provider the page has no adapter for", () => {
    const [model] = update(initialModel(), server({ type: "welcome", user: "alice", provider: "carrier-pigeon", ice_servers: [] }));
    expect(model.notice).toContain("carrier-pigeon");
  });
});

describe("placing a call", () => {
  it("dial text changes the model only", () => {
    const [model, effects] = update(connectedAs("alice"), { type: "dial-changed", text: "bob" });
    expect(model.dialText).toBe("bob");
    expect(effects).toEqual([]);
  });

  it("Call sends a call frame with the trimmed destination", () => {
    const { model, effects } = run(connectedAs("alice"), [
      { type: "dial-changed", text: "  bob " },
      { type: "call-clicked" },
    ]);
    expect(effects).toEqual([{ type: "send", frame: { type: "call", to: "bob" } }]);
    expect(model.placing).toBe("bob");
  });

  it("Call with nothing typed sends nothing and says why", () => {
    const [model, effects] = update(connectedAs("alice"), { type: "call-clicked" });
    expect(effects).toEqual([]);
    expect(model.notice).toMatch(/Type the name of the person to (call|add)/);
  });

  it("Call while disconnected sends nothing", () => {
    const { model, effects } = run(initialModel(), [{ type: "dial-changed", text: "bob" }, { type: "call-clicked" }]);
    expect(effects).toEqual([]);
    expect(model.notice).toBe("Talkbox cannot be reached right now: try again once it is back");
  });

  it("Call clears the last outcome", () => {
    const { model } = run(connectedAs("alice"), [
      { type: "dial-changed", text: "bob" },
      { type: "call-clicked" },
      conf(ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "busy", "rejected")], "busy")),
    ]);
    expect(model.outcome).toBe("bob declined");
    const [again] = update(model, { type: "call-clicked" });
    expect(again.outcome).toBeNull();
  });
});

describe("refusals and errors", () => {
  it.each([
    ["self_call", "You cannot call yourself"],
    ["invalid_destination", "'bob smith' is not a valid destination"],
    ["already_in_call", "You are already in a call"],
  ])("%s shows the server's message", (code, message) => {
    const { model } = run(connectedAs("alice"), [
      { type: "dial-changed", text: "alice" },
      { type: "call-clicked" },
      server({ type: "refused", code, message }),
    ]);
    expect(statusText(model)).toBe(message);
    expect(model.placing).toBeNull();
  });

  it("a refusal without a message gets words for its code", () => {
    const [model] = update(connectedAs("alice"), server({ type: "refused", code: "self_call", message: "" }));
    expect(model.notice).toBe("You cannot call yourself");
  });

  it("rate_limited shows the server's words and changes nothing else", () => {
    const before = connectedAs("alice");
    const message = "Too many requests: at most 10 'mute' messages a second per page. Wait a moment and try again.";
    const [model, effects] = update(before, server({ type: "error", code: "rate_limited", message }));
    expect(statusText(model)).toBe(message);
    expect({ ...model, notice: before.notice }).toEqual(before);
    expect(effects).toEqual([]);
    const [bare] = update(before, server({ type: "error", code: "rate_limited", message: "" }));
    expect(bare.notice).toBe("Too many requests: wait a moment and try again");
  });

  it("an error shows its message", () => {
    const [model, effects] = update(
      connectedAs("alice"),
      server({ type: "error", code: "unavailable", message: "Talkbox could not take that now. Try again." }),
    );
    expect(model.notice).toBe("Talkbox could not take that now. Try again.");
    expect(effects).toEqual([]);
  });
});

describe("the caller's flow", () => {
  const queued = conference([leg("l-a", "alice", "queued"), leg("l-b", "bob", "queued")]);
  const placed = () =>
    run(connectedAs("alice"), [{ type: "dial-changed", text: "bob" }, { type: "call-clicked" }, conf(queued)]);

  it("the first conference becomes the call panel", () => {
    const { model } = placed();
    expect(model.conference).toEqual(queued);
    expect(model.placing).toBeNull();
  });

  it("an auto_answer offer is answered at once and does not ring", () => {
    const { model } = placed();
    const [next, effects] = update(model, offer("l-a", { autoAnswer: true, sdp: "v=0 offer" }));
    expect(effects).toEqual([{ type: "answer-media", conferenceId: "c-1", legId: "l-a", sdp: "v=0 offer" }]);
    expect(types(effects)).not.toContain("start-ringtone");
    expect(next.incoming).toBeNull();
    expect(next.ringing).toBe(false);
    expect(next.media).toEqual({ phase: "connecting", legId: "l-a", conferenceId: "c-1", offerSdp: "v=0 offer" });
  });

  it("the media's answer goes to the server as an answer frame", () => {
    const { model } = run(placed().model, [offer("l-a", { autoAnswer: true })]);
    const [, effects] = update(model, { type: "media-answer-ready", legId: "l-a", sdp: "v=0 answer" });
    expect(effects).toEqual([{ type: "send", frame: { type: "answer", leg_id: "l-a", sdp: "v=0 answer" } }]);
  });

  it("media connected is shown", () => {
    const { model } = run(placed().model, [offer("l-a", { autoAnswer: true }), { type: "media-connected", legId: "l-a" }]);
    expect(model.media.phase).toBe("connected");
  });

  it("Hang up while ringing out sends hang_up (cancel)", () => {
    const ringing = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "ringing")]);
    const { model } = run(placed().model, [offer("l-a", { autoAnswer: true }), conf(ringing)]);
    const [, effects] = update(model, { type: "hang-up-clicked" });
    expect(effects).toEqual([{ type: "send", frame: { type: "hang_up", conference_id: "c-1" } }]);
  });

  it("Hang up with no call does nothing", () => {
    expect(update(connectedAs("alice"), { type: "hang-up-clicked" })[1]).toEqual([]);
  });

  it("the ended conference stops media, clears the panel and says how it ended", () => {
    const { model } = run(placed().model, [
      offer("l-a", { autoAnswer: true }),
      conf(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "ringing")])),
    ]);
    const [next, effects] = update(
      model,
      conf(ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "busy", "rejected")], "busy")),
    );
    expect(effects).toEqual([{ type: "stop-media", legId: "l-a" }]);
    expect(next.conference).toBeNull();
    expect(next.media.phase).toBe("idle");
    expect(statusText(next)).toBe("bob declined");
  });

  it("a call that ended before its first frame still gets an outcome", () => {
    const { model } = run(connectedAs("alice"), [
      { type: "dial-changed", text: "bob" },
      { type: "call-clicked" },
      conf(ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "failed", "unavailable")], "unavailable")),
    ]);
    expect(model.outcome).toBe("bob is unavailable");
    expect(model.conference).toBeNull();
  });

  it("names a leg the final frame dropped, from the frame before", () => {
    const { model } = run(placed().model, [
      offer("l-a", { autoAnswer: true }),
      conf(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "ringing")])),
      conf(ended([leg("l-a", "alice", "completed", "ended")], "no-answer")),
    ]);
    expect(model.outcome).toBe("bob did not answer");
  });

  it("the chair leaving a conference that goes on stops media and offers to rejoin", () => {
    const { model } = run(placed().model, [
      offer("l-a", { autoAnswer: true }),
      conf(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress"), leg("l-c", "carol", "in-progress")])),
    ]);
    const dropped = conference([leg("l-a", "alice", "completed", "hung-up"), leg("l-b", "bob", "in-progress"), leg("l-c", "carol", "in-progress")]);
    const [next, effects] = update(model, conf(dropped));
    expect(effects).toEqual([{ type: "stop-media", legId: "l-a" }]);
    expect(next.conference).toEqual(dropped);
    expect(next.media.phase).toBe("idle");
    expect(next.outcome).toBe("You hung up");
  });

  it("a guest leaving a conference that goes on stops its media and clears its panel", () => {
    const { model } = run(connectedAs("bob"), [
      offer("l-b"),
      { type: "accept-clicked" },
      conf(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress"), leg("l-c", "carol", "in-progress")])),
    ]);
    const [next, effects] = update(
      model,
      conf(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "completed", "hung-up"), leg("l-c", "carol", "in-progress")])),
    );
    expect(effects).toEqual([{ type: "stop-media", legId: "l-b" }]);
    expect(next.conference).toBeNull();
    expect(next.outcome).toBe("You hung up");
  });

  it("a microphone failure reports leg_failed with reason microphone", () => {
    const { model } = run(placed().model, [offer("l-a", { autoAnswer: true })]);
    const [next, effects] = update(model, { type: "media-failed", legId: "l-a", reason: "microphone" });
    expect(sent(effects)).toEqual([{ type: "leg_failed", leg_id: "l-a", reason: "microphone" }]);
    expect(types(effects)).toContain("stop-media");
    expect(next.media.phase).toBe("failed");
    expect(next.notice).toBe("Could not open the microphone");
  });

  it("a media failure after the media connected does not send leg_failed", () => {
    const { model } = run(placed().model, [offer("l-a", { autoAnswer: true }), { type: "media-connected", legId: "l-a" }]);
    const [, effects] = update(model, { type: "media-failed", legId: "l-a", reason: "media" });
    expect(sent(effects)).toEqual([]);
  });

  it("an answer for a leg given up on stops its media instead of sending", () => {
    const [, effects] = update(connectedAs("alice"), { type: "media-answer-ready", legId: "l-old", sdp: "x" });
    expect(effects).toEqual([{ type: "stop-media", legId: "l-old" }]);
  });
});

describe("the callee's flow", () => {
  const ringingFrame = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "ringing")]);
  const ringing = () => run(connectedAs("bob"), [offer("l-b", { caller: "alice", sdp: "v=0 offer" }), conf(ringingFrame)]);

  it("frames before the offer are not shown as a call", () => {
    const { model, effects } = run(connectedAs("bob"), [
      conf(conference([leg("l-a", "alice", "queued"), leg("l-b", "bob", "queued")])),
    ]);
    expect(model.conference).toBeNull();
    expect(effects).toEqual([]);
  });

  it("an offer rings and shows who is calling", () => {
    const [model, effects] = update(connectedAs("bob"), offer("l-b", { caller: "alice" }));
    expect(effects).toEqual([{ type: "start-ringtone" }]);
    expect(model.incoming).toMatchObject({ legId: "l-b", conferenceId: "c-1", caller: "alice", rejected: false });
    expect(model.ringing).toBe(true);
  });

  it("a ringing conference keeps it ringing", () => {
    const { model, effects } = ringing();
    expect(types(effects)).toEqual(["start-ringtone"]);
    expect(model.incoming?.conference).toEqual(ringingFrame);
    expect(model.conference).toBeNull();
  });

  it("Accept stops the ringtone and answers the offer with media", () => {
    const { model } = ringing();
    const [next, effects] = update(model, { type: "accept-clicked" });
    expect(effects).toEqual([
      { type: "stop-ringtone" },
      { type: "answer-media", conferenceId: "c-1", legId: "l-b", sdp: "v=0 offer" },
    ]);
    expect(next.incoming).toBeNull();
    expect(next.ringing).toBe(false);
    expect(next.conference).toEqual(ringingFrame);
    expect(next.media).toEqual({ phase: "connecting", legId: "l-b", conferenceId: "c-1", offerSdp: "v=0 offer" });
  });

  it("after Accept, the answer is sent and the call goes on to its end", () => {
    const { model, effects } = run(ringing().model, [
      { type: "accept-clicked" },
      { type: "media-answer-ready", legId: "l-b", sdp: "v=0 answer" },
      conf(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress")])),
      { type: "hang-up-clicked" },
      conf(ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "completed", "hung-up")], "hung-up")),
    ]);
    expect(sent(effects)).toEqual([
      { type: "answer", leg_id: "l-b", sdp: "v=0 answer" },
      { type: "hang_up", conference_id: "c-1" },
    ]);
    expect(effects[effects.length - 1]).toEqual({ type: "stop-media", legId: "l-b" });
    expect(model.conference).toBeNull();
    expect(statusText(model)).toBe("You hung up");
  });

  it("the caller hanging up is reported", () => {
    const { model } = run(ringing().model, [
      { type: "accept-clicked" },
      conf(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress")])),
      conf(ended([leg("l-a", "alice", "completed", "hung-up"), leg("l-b", "bob", "completed", "ended")], "hung-up")),
    ]);
    expect(model.outcome).toBe("alice hung up");
  });

  it("Reject stops the ringtone and sends reject", () => {
    const { model } = ringing();
    const [next, effects] = update(model, { type: "reject-clicked" });
    expect(effects).toEqual([{ type: "stop-ringtone" }, { type: "send", frame: { type: "reject", leg_id: "l-b" } }]);
    expect(next.ringing).toBe(false);
    expect(next.incoming?.rejected).toBe(true);
  });

  it("after Reject, the end of the call says so", () => {
    const { model, effects } = run(ringing().model, [
      { type: "reject-clicked" },
      conf(ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "busy", "rejected")], "busy")),
    ]);
    expect(types(effects).filter((t) => t === "stop-ringtone")).toHaveLength(1);
    expect(model.incoming).toBeNull();
    expect(statusText(model)).toBe("You declined the call");
  });

  it("Accept and Reject do nothing without an incoming call", () => {
    expect(update(connectedAs("bob"), { type: "accept-clicked" })[1]).toEqual([]);
    expect(update(connectedAs("bob"), { type: "reject-clicked" })[1]).toEqual([]);
  });

  it("a missed call stops the ringtone and says who called", () => {
    const [model, effects] = update(
      ringing().model,
      conf(ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "no-answer", "timeout")], "no-answer")),
    );
    expect(effects).toEqual([{ type: "stop-ringtone" }]);
    expect(model.incoming).toBeNull();
    expect(statusText(model)).toBe("Missed call from alice");
  });

  it("the caller canceling stops the ringtone", () => {
    const [model, effects] = update(
      ringing().model,
      conf(ended([leg("l-a", "alice", "completed", "hung-up"), leg("l-b", "bob", "canceled", "caller-canceled")], "canceled")),
    );
    expect(effects).toEqual([{ type: "stop-ringtone" }]);
    expect(statusText(model)).toBe("alice ended the call before it could be connected");
  });

  it("a leg answered on another page of mine stops ringing here and shows the call there, without media", () => {
    const answered = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress")]);
    const [model, effects] = update(ringing().model, conf(answered));
    expect(effects).toEqual([{ type: "stop-ringtone" }]);
    expect(model.incoming).toBeNull();
    expect(model.conference).toEqual(answered);
    expect(model.media.legId).toBeNull();
    expect(model.outcome).toBe("Answered in another tab");
  });

  it("the same leg offered again does not ring twice", () => {
    const { effects } = run(connectedAs("bob"), [offer("l-b"), offer("l-b", { sdp: "new" })]);
    expect(types(effects)).toEqual(["start-ringtone"]);
  });

  it("a call during another call rings as a call waiting, and Accept puts the first on hold, its media kept", () => {
    const { model, effects: rung } = run(connectedAs("bob"), [
      offer("l-b1", { conferenceId: "c-1", autoAnswer: true }),
      conf(conference([leg("l-b1", "bob", "in-progress"), leg("l-c", "carol", "in-progress")], { chair: "bob", id: "c-1" })),
      offer("l-b2", { conferenceId: "c-2", caller: "dave" }),
    ]);
    expect(model.incoming?.caller).toBe("dave");
    expect(model.incoming?.waiting).toBe(true);
    expect(rung).toContainEqual({ type: "start-ringtone", waiting: true });
    expect(model.announcement?.text).toBe("Call waiting from dave: Accept puts your call on hold, or Reject");
    const [next, effects] = update(model, { type: "accept-clicked" });
    expect(effects).toEqual([
      { type: "stop-ringtone" },
      { type: "answer-media", conferenceId: "c-2", legId: "l-b2", sdp: "offer-sdp-l-b2" },
    ]);
    expect(next.media.legId).toBe("l-b2");
    expect(next.held.map((call) => [call.conference.id, call.media.legId])).toEqual([["c-1", "l-b1"]]);
  });
});

describe("resuming", () => {
  it("my own live call, seen after a reload, is shown", () => {
    const c = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress")]);
    const [model] = update(connectedAs("alice"), conf(c));
    expect(model.conference).toEqual(c);
  });

  it("someone else's conference, without a leg of mine, is not shown", () => {
    const c = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress")]);
    const [model, effects] = update(connectedAs("carol"), conf(c));
    expect(model.conference).toBeNull();
    expect(effects).toEqual([]);
  });
});

describe("conference controls", () => {
  const live = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress")]);
  const inCall = () => run(connectedAs("alice"), [offer("l-a", { autoAnswer: true }), conf(live)]).model;

  it("Add sends add with the dial box's trimmed text and clears the box", () => {
    const { model, effects } = run(inCall(), [{ type: "dial-changed", text: " carol " }, { type: "add-clicked" }]);
    expect(effects).toEqual([{ type: "send", frame: { type: "add", conference_id: "c-1", to: "carol" } }]);
    expect(model.dialText).toBe("");
    expect(model.placing).toBeNull();
    expect(model.conference).toEqual(live);
  });

  it("Add with nothing typed says why", () => {
    const [model, effects] = update(inCall(), { type: "add-clicked" });
    expect(effects).toEqual([]);
    expect(model.notice).toMatch(/Type the name of the person to (call|add)/);
  });

  it("Add while disconnected sends nothing and keeps the text", () => {
    const { model, effects } = run(inCall(), [
      { type: "dial-changed", text: "carol" },
      { type: "socket-closed", code: 1006, reason: "" },
      { type: "add-clicked" },
    ]);
    expect(sent(effects)).toEqual([]);
    expect(model.dialText).toBe("carol");
    expect(model.notice).toBe("Talkbox cannot be reached right now: try again once it is back");
  });

  it("Add does nothing for a guest on the call", () => {
    const { model: bobInCall } = run(connectedAs("bob"), [
      offer("l-b", { caller: "alice" }),
      { type: "accept-clicked" },
      conf(live),
    ]);
    const { model, effects } = run(bobInCall, [{ type: "dial-changed", text: "carol" }, { type: "add-clicked" }]);
    expect(effects).toEqual([]);
    expect(model.dialText).toBe("carol");
  });

  it("Add does nothing for a chair whose leg dropped", () => {
    const dropped = conference([
      leg("l-a", "alice", "completed", "hung-up"),
      leg("l-b", "bob", "in-progress"),
      leg("l-c", "carol", "in-progress"),
    ]);
    const { model } = run(inCall(), [conf(dropped), { type: "dial-changed", text: "dave" }]);
    expect(model.conference).toEqual(dropped);
    expect(update(model, { type: "add-clicked" })[1]).toEqual([]);
  });

  it("submitting the dial box adds while I chair the call", () => {
    const { model, effects } = run(inCall(), [{ type: "dial-changed", text: "carol" }, { type: "dial-submitted" }]);
    expect(effects).toEqual([{ type: "send", frame: { type: "add", conference_id: "c-1", to: "carol" } }]);
    expect(model.dialText).toBe("");
  });

  it("submitting the dial box calls when I am not on a call", () => {
    const { model, effects } = run(connectedAs("alice"), [{ type: "dial-changed", text: "bob" }, { type: "dial-submitted" }]);
    expect(effects).toEqual([{ type: "send", frame: { type: "call", to: "bob" } }]);
    expect(model.placing).toBe("bob");
  });

  it("submitting the dial box does nothing for a guest on a call", () => {
    const { model } = run(connectedAs("bob"), [offer("l-b", { caller: "alice" }), { type: "accept-clicked" }, conf(live)]);
    expect(update(model, { type: "dial-submitted" })[1]).toEqual([]);
  });

  it("the chair is told when someone they added is busy on another call", () => {
    const { model } = run(inCall(), [
      { type: "dial-changed", text: "carol" },
      { type: "dial-submitted" },
      conf(conference([...live.legs, leg("l-c", "carol", "queued")])),
      conf(conference([...live.legs, leg("l-c", "carol", "busy", "in-another-call")])),
    ]);
    expect(model.conference?.legs.map((l) => l.id)).toEqual(["l-a", "l-b", "l-c"]);
    expect(model.outcome).toBe("carol is busy on another call");
  });

  it("a guest is told when the chair removes someone else, and stays on the call", () => {
    const three = (c: ReturnType<typeof leg>) => conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress"), c]);
    const { model, effects } = run(connectedAs("bob"), [
      offer("l-b", { caller: "alice" }),
      { type: "accept-clicked" },
      conf(three(leg("l-c", "carol", "in-progress"))),
      conf(three(leg("l-c", "carol", "completed", "removed"))),
    ]);
    expect(model.conference).not.toBeNull();
    expect(model.outcome).toBe("alice removed carol from the call");
    expect(types(effects)).not.toContain("stop-media");
  });

  it("a departure already seen is not announced again", () => {
    const gone = conference([...live.legs, leg("l-c", "carol", "completed", "hung-up")]);
    const { model } = run(inCall(), [
      conf(conference([...live.legs, leg("l-c", "carol", "in-progress")])),
      conf(gone),
      { type: "dial-changed", text: "dave" },
      { type: "dial-submitted" },
      conf(gone),
    ]);
    expect(model.outcome).toBeNull();
  });

  it("Remove sends remove for the leg", () => {
    const [, effects] = update(inCall(), { type: "remove-clicked", legId: "l-b" });
    expect(effects).toEqual([{ type: "send", frame: { type: "remove", conference_id: "c-1", leg_id: "l-b" } }]);
  });

  it("Mute toggles a leg: mute when unmuted, unmute when muted", () => {
    expect(update(inCall(), { type: "mute-clicked", legId: "l-a" })[1]).toEqual([
      { type: "send", frame: { type: "mute", conference_id: "c-1", leg_id: "l-a", muted: true } },
    ]);
    const mutedBob = conference([leg("l-a", "alice", "in-progress"), { ...leg("l-b", "bob", "in-progress"), muted: true }]);
    const [model] = update(inCall(), conf(mutedBob));
    expect(update(model, { type: "mute-clicked", legId: "l-b" })[1]).toEqual([
      { type: "send", frame: { type: "mute", conference_id: "c-1", leg_id: "l-b", muted: false } },
    ]);
  });

  it("Mute of a leg not in the call does nothing", () => {
    expect(update(inCall(), { type: "mute-clicked", legId: "l-zzz" })[1]).toEqual([]);
  });

  it("a refusal of add shows the server's words", () => {
    const [model] = update(inCall(), server({ type: "refused", code: "conference_full", message: "A call can have at most 10 people" }));
    expect(model.notice).toBe("A call can have at most 10 people");
    expect(model.conference).toEqual(live);
  });

  it("controls do nothing without a call", () => {
    for (const msg of [
      { type: "add-clicked" },
      { type: "remove-clicked", legId: "l-b" },
      { type: "mute-clicked", legId: "l-b" },
      { type: "rejoin-clicked" },
    ] as const) {
      expect(update(connectedAs("alice"), msg)[1]).toEqual([]);
    }
  });
});

describe("the dial box: Call or Add", () => {
  const live = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress")]);
  const label = (m: Model) => dialButtonLabel(dialMode(m));

  it("reads Call when not on a call, and while placing one", () => {
    const idle = connectedAs("alice");
    expect(dialMode(idle)).toBe("call");
    expect(label(idle)).toBe("Call");
    const placing = run(idle, [{ type: "dial-changed", text: "bob" }, { type: "call-clicked" }]).model;
    expect(label(placing)).toBe("Call");
  });

  it("reads Add for the chair on the call, ringing out or connected", () => {
    const ringingOut = run(connectedAs("alice"), [
      { type: "dial-changed", text: "bob" },
      { type: "call-clicked" },
      offer("l-a", { autoAnswer: true }),
      conf(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "ringing")])),
    ]).model;
    expect(dialMode(ringingOut)).toBe("add");
    expect(label(ringingOut)).toBe("Add");
    const [connected] = update(ringingOut, conf(live));
    expect(label(connected)).toBe("Add");
  });

  it("goes back to Call when the call ends", () => {
    const { model } = run(connectedAs("alice"), [
      offer("l-a", { autoAnswer: true }),
      conf(live),
      conf(ended([leg("l-a", "alice", "completed", "hung-up"), leg("l-b", "bob", "completed", "ended")], "hung-up")),
    ]);
    expect(model.conference).toBeNull();
    expect(label(model)).toBe("Call");
  });

  it("is hidden for a guest on a call, and back to Call once they leave", () => {
    const { model } = run(connectedAs("bob"), [offer("l-b", { caller: "alice" }), { type: "accept-clicked" }, conf(live)]);
    expect(dialMode(model)).toBe("hidden");
    const [after] = update(
      model,
      conf(ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "completed", "hung-up")], "hung-up")),
    );
    expect(dialMode(after)).toBe("call");
  });

  it("is hidden for a guest while their accepted call connects", () => {
    const ringing = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "ringing")]);
    const { model } = run(connectedAs("bob"), [offer("l-b", { caller: "alice" }), conf(ringing), { type: "accept-clicked" }]);
    expect(dialMode(model)).toBe("hidden");
  });

  it("reads Call for a chair whose leg dropped while the others go on", () => {
    const dropped = conference([
      leg("l-a", "alice", "failed", "media"),
      leg("l-b", "bob", "in-progress"),
      leg("l-c", "carol", "in-progress"),
    ]);
    const [model] = update(connectedAs("alice"), conf(dropped));
    expect(model.conference).toEqual(dropped);
    expect(dialMode(model)).toBe("call");
  });

  it("reads Call while someone rings me and I am on no call", () => {
    const [model] = update(connectedAs("bob"), offer("l-b"));
    expect(label(model)).toBe("Call");
  });
});

describe("removed from a call that goes on", () => {
  const three = (b: ReturnType<typeof leg>) =>
    conference([leg("l-a", "alice", "in-progress"), b, leg("l-c", "carol", "in-progress")]);
  const onCall = () =>
    run(connectedAs("bob"), [
      offer("l-b", { caller: "alice" }),
      { type: "accept-clicked" },
      { type: "media-connected", legId: "l-b" },
      conf(three(leg("l-b", "bob", "in-progress"))),
    ]).model;

  it("goes back to idle, stops my media and names the chair", () => {
    const [model, effects] = update(onCall(), conf(three(leg("l-b", "bob", "completed", "removed"))));
    expect(effects).toEqual([{ type: "stop-media", legId: "l-b" }]);
    expect(model.conference).toBeNull();
    expect(model.media).toEqual({ phase: "idle", legId: null, conferenceId: null, offerSdp: null });
    expect(model.outcome).toBe("alice removed you from the call");
    expect(dialMode(model)).toBe("call");
  });

  it("later frames of that call are not shown again", () => {
    const removed = three(leg("l-b", "bob", "completed", "removed"));
    const { model } = run(onCall(), [conf(removed), conf({ ...removed, legs: [...removed.legs, leg("l-d", "dave", "queued")] })]);
    expect(model.conference).toBeNull();
    expect(model.outcome).toBe("alice removed you from the call");
  });
});

describe("rejoin", () => {
  const three = (a: ReturnType<typeof leg>) => conference([a, leg("l-b", "bob", "in-progress"), leg("l-c", "carol", "in-progress")]);

  it("the chair who dropped rejoins on a new leg, answered at once", () => {
    const dropped = run(connectedAs("alice"), [
      { type: "dial-changed", text: "bob" },
      { type: "call-clicked" },
      offer("l-a", { autoAnswer: true }),
      conf(three(leg("l-a", "alice", "in-progress"))),
      conf(three(leg("l-a", "alice", "failed", "media"))),
    ]).model;
    expect(dropped.outcome).toBe("Your line could not be connected");

    const [asked, effects] = update(dropped, { type: "rejoin-clicked" });
    expect(effects).toEqual([{ type: "send", frame: { type: "rejoin", conference_id: "c-1" } }]);

    const back = conference([
      leg("l-a", "alice", "failed", "media"),
      leg("l-b", "bob", "in-progress"),
      leg("l-c", "carol", "in-progress"),
      leg("l-a2", "alice", "queued"),
    ]);
    const { model, effects: more } = run(asked, [conf(back), offer("l-a2", { autoAnswer: true })]);
    expect(more).toEqual([{ type: "answer-media", conferenceId: "c-1", legId: "l-a2", sdp: "offer-sdp-l-a2" }]);
    expect(model.conference).toEqual(back);
    expect(model.media.legId).toBe("l-a2");
  });

  it("Rejoin does nothing while I am still on the call", () => {
    const { model } = run(connectedAs("alice"), [offer("l-a", { autoAnswer: true }), conf(three(leg("l-a", "alice", "in-progress")))]);
    expect(update(model, { type: "rejoin-clicked" })[1]).toEqual([]);
  });

  it("after a reload, a conference I chair and dropped from is offered to rejoin", () => {
    const c = three(leg("l-a", "alice", "completed", "hung-up"));
    const [model] = update(connectedAs("alice"), conf(c));
    expect(model.conference).toEqual(c);
  });

  it("when the others leave too, the panel goes", () => {
    const { model } = run(connectedAs("alice"), [
      conf(three(leg("l-a", "alice", "completed", "hung-up"))),
      conf(ended([leg("l-a", "alice", "completed", "hung-up"), leg("l-b", "bob", "completed", "hung-up"), leg("l-c", "carol", "completed", "ended")], "hung-up")),
    ]);
    expect(model.conference).toBeNull();
    expect(model.outcome).toBe("You hung up");
  });

  it("a two-party call the chair leaves is not offered to rejoin, and ends with the right words", () => {
    const start = run(connectedAs("alice"), [
      { type: "dial-changed", text: "bob" },
      { type: "call-clicked" },
      offer("l-a", { autoAnswer: true }),
      conf(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "ringing")])),
    ]).model;
    // The server's frame between the chair's leg ending and the guest's being canceled.
    const between = conference([leg("l-a", "alice", "completed", "hung-up"), leg("l-b", "bob", "ringing")]);
    const [mid, midEffects] = update(start, conf(between));
    expect(midEffects).toEqual([{ type: "stop-media", legId: "l-a" }]);
    expect(mid.conference).toEqual(between);
    expect(mySide(mid, between).canRejoin).toBe(false);
    expect(mid.outcome).toBeNull();
    const [done] = update(
      mid,
      conf(ended([leg("l-a", "alice", "completed", "hung-up"), leg("l-b", "bob", "canceled", "caller-canceled")], "canceled")),
    );
    expect(done.conference).toBeNull();
    expect(done.outcome).toBe("Call canceled");
  });
});

describe("speaking", () => {
  const call = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress")]);

  it("keeps who speaks in my conference and ignores other conferences", () => {
    const { model } = run(connectedAs("alice"), [
      conf(call),
      server({ type: "speaking", conference_id: "c-1", legs: ["l-b"] }),
      server({ type: "speaking", conference_id: "c-other", legs: ["l-x"] }),
    ]);
    expect(model.speaking).toEqual(["l-b"]);
  });

  it("forgets it when the call ends", () => {
    const { model } = run(connectedAs("alice"), [
      conf(call),
      server({ type: "speaking", conference_id: "c-1", legs: ["l-b"] }),
      conf(ended([leg("l-a", "alice", "completed"), leg("l-b", "bob", "completed")], "hung-up")),
    ]);
    expect(model.speaking).toEqual([]);
  });

  it("parses only a well-formed frame", async () => {
    const { parseServerFrame } = await import("../src/protocol");
    expect(parseServerFrame('{"type":"speaking","conference_id":"c-1","legs":["l-b"]}')).toEqual({
      type: "speaking",
      conference_id: "c-1",
      legs: ["l-b"],
    });
    expect(parseServerFrame('{"type":"speaking","conference_id":"c-1","legs":[1]}')).toBeNull();
  });
});

describe("digits from a telephone", () => {
  const call = conference([leg("l-a", "alice", "in-progress"), leg("l-t", "+15551234567", "in-progress")]);

  it("keeps the keys a telephone on my conference pressed, and ignores other conferences", () => {
    const { model } = run(connectedAs("alice"), [
      conf(call),
      server({ type: "digit", conference_id: "c-1", leg_id: "l-t", digit: "5" }),
      server({ type: "digit", conference_id: "c-1", leg_id: "l-t", digit: "#" }),
      server({ type: "digit", conference_id: "c-other", leg_id: "l-x", digit: "1" }),
    ]);
    expect(model.digits).toEqual({ "l-t": "5#" });
  });

  it("forgets them when the call ends", () => {
    const { model } = run(connectedAs("alice"), [
      conf(call),
      server({ type: "digit", conference_id: "c-1", leg_id: "l-t", digit: "5" }),
      conf(ended([leg("l-a", "alice", "completed"), leg("l-t", "+15551234567", "completed")], "hung-up")),
    ]);
    expect(model.digits).toEqual({});
  });

  it("parses only a single keypad key", async () => {
    const { parseServerFrame } = await import("../src/protocol");
    expect(parseServerFrame('{"type":"digit","conference_id":"c-1","leg_id":"l-t","digit":"9"}')).toEqual({
      type: "digit",
      conference_id: "c-1",
      leg_id: "l-t",
      digit: "9",
    });
    expect(parseServerFrame('{"type":"digit","conference_id":"c-1","leg_id":"l-t","digit":"<b>"}')).toBeNull();
  });
});
