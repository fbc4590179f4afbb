// The page in Twilio mode, through `update` alone: welcome selects the Twilio
// adapter, legs come as incoming Twilio calls (media-offered) instead of
// `offer` frames, the SDK answers Twilio (no `answer` frame), the token is
// refreshed, and nothing is ever `resume`d (Twilio carries the media).

import { describe, expect, it } from "vitest";
import type { Effect, Model, Msg } from "../src/model";
import { initialModel } from "../src/model";
import { providerLine } from "../src/connection";
import { update } from "../src/update";
import { conf, conference, connectedAs, leg, run, server } from "./fixtures";

const types = (effects: Effect[]) => effects.map((e) => e.type);
const sent = (effects: Effect[]) => effects.flatMap((e) => (e.type === "send" ? [e.frame] : []));

function twilioAs(me: string): Model {
  return run(initialModel(), [{ type: "socket-opened" }, server({ type: "welcome", user: me, provider: "twilio", ice_servers: [] })])
    .model;
}

function twilioCall(legId: string, autoAnswer: boolean, options: { caller?: string; sid?: string } = {}): Msg {
  return {
    type: "media-offered",
    conferenceId: "c-1",
    legId,
    caller: options.caller ?? "alice",
    autoAnswer,
    offer: options.sid ?? `CA-${legId}`,
  };
}

const queued = conference([leg("l-a", "alice", "queued"), leg("l-b", "bob", "queued")]);
const live = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress")]);
const ringingForBob = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "ringing")]);

/** alice placed a call to bob here; her own leg came as an auto_answer Twilio call and connected. */
function aliceInCall(): Model {
  return run(twilioAs("alice"), [
    { type: "dial-changed", text: "bob" },
    { type: "call-clicked" },
    conf(queued),
    twilioCall("l-a", true),
    { type: "media-answer-ready", legId: "l-a", sdp: "" },
    { type: "media-connected", legId: "l-a" },
    conf(live),
  ]).model;
}

describe("welcome selects the adapter", () => {
  it("provider twilio: the page uses the Twilio adapter and shows Twilio mode", () => {
    const [model, effects] = update(
      { ...initialModel(), connection: "open" },
      server({ type: "welcome", user: "alice", provider: "twilio", ice_servers: [] }),
    );
    expect(model.provider).toBe("twilio");
    expect(model.notice).toBeNull();
    expect(effects).toEqual([
      { type: "use-media", provider: "twilio" },
      { type: "fetch-library" },
      { type: "send", frame: { type: "directory" } },
    ]);
    expect(model.device).toEqual({ state: "starting", detail: null });
    expect(providerLine(model)).toEqual({ state: "connecting", text: "Twilio: getting a token…" });
  });

  it("provider builtin: the built-in adapter, and no Twilio line", () => {
    const model = connectedAs("alice");
    expect(model.device).toBeNull();
    expect(providerLine(model)).toBeNull();
  });

  it("every welcome (a reconnect) starts the adapter again, keeping the Device's state", () => {
    const registered = update(twilioAs("alice"), { type: "media-device", state: "registered", detail: null })[0];
    const { model, effects } = run(registered, [
      { type: "socket-closed", code: 1006, reason: "" },
      { type: "socket-opened" },
      server({ type: "welcome", user: "alice", provider: "twilio", ice_servers: [] }),
    ]);
    expect(effects.filter((e) => e.type === "use-media")).toEqual([{ type: "use-media", provider: "twilio" }]);
    expect(model.device?.state).toBe("registered");
  });
});

describe("the Device's state", () => {
  it("registering, then an error that stays on show until it registers", () => {
    const { model } = run(twilioAs("alice"), [
      { type: "media-device", state: "registering", detail: null },
      { type: "media-device", state: "failed", detail: "ConnectionError 31005" },
      { type: "media-device", state: "unregistered", detail: null },
    ]);
    expect(model.device).toEqual({ state: "unregistered", detail: "ConnectionError 31005" });
    expect(providerLine(model)?.text).toBe("Twilio: not registered (ConnectionError 31005)");
    const [ready] = update(model, { type: "media-device", state: "registered", detail: null });
    expect(ready.device).toEqual({ state: "registered", detail: null });
    expect(providerLine(ready)).toEqual({ state: "open", text: "Twilio: ready for calls" });
  });

  it("ignored outside Twilio mode", () => {
    const model = connectedAs("alice");
    expect(update(model, { type: "media-device", state: "registered", detail: null })[0]).toBe(model);
  });
});

describe("the token", () => {
  it("tokenWillExpire asks the runtime to refresh the token", () => {
    expect(update(twilioAs("alice"), { type: "media-token-expiring" })[1]).toEqual([{ type: "refresh-media-token" }]);
  });

  it("not in built-in mode", () => {
    expect(update(connectedAs("alice"), { type: "media-token-expiring" })[1]).toEqual([]);
  });
});

describe("incoming Twilio calls", () => {
  it("my own outgoing leg (auto_answer) is accepted at once, and no answer frame is sent", () => {
    const placed = run(twilioAs("alice"), [
      { type: "dial-changed", text: "bob" },
      { type: "call-clicked" },
      conf(queued),
    ]);
    const [model, effects] = update(placed.model, twilioCall("l-a", true, { sid: "CA123" }));
    expect(effects).toEqual([{ type: "answer-media", conferenceId: "c-1", legId: "l-a", sdp: "CA123" }]);
    expect(model.ringing).toBe(false);
    expect(model.incoming).toBeNull();
    expect(model.media).toEqual({ phase: "connecting", legId: "l-a", conferenceId: "c-1", offerSdp: "CA123" });

    const after = run(model, [
      { type: "media-answer-ready", legId: "l-a", sdp: "" },
      { type: "media-connected", legId: "l-a" },
    ]);
    expect(sent(after.effects)).toEqual([]);
    expect(after.model.media.phase).toBe("connected");
  });

  it("the SDK's accept may come before the answer resolves: nothing is stopped", () => {
    const placed = run(twilioAs("alice"), [
      { type: "dial-changed", text: "bob" },
      { type: "call-clicked" },
      conf(queued),
      twilioCall("l-a", true),
      { type: "media-connected", legId: "l-a" },
      { type: "media-answer-ready", legId: "l-a", sdp: "" },
    ]);
    expect(types(placed.effects)).toEqual(["send", "answer-media"]); // the call frame, then the accept
    expect(placed.model.media.phase).toBe("connected");
  });

  it("an auto_answer call for a leg another page of mine placed is left alone", () => {
    // This page did not place the call; its conference shows my leg still queued.
    const { model, effects } = run(twilioAs("alice"), [conf(queued), twilioCall("l-a", true)]);
    expect(effects).toEqual([]);
    expect(model.media.legId).toBeNull();
  });

  it("without auto_answer it rings; Accept accepts the Twilio call", () => {
    const ringing = run(twilioAs("bob"), [conf(ringingForBob), twilioCall("l-b", false, { sid: "CA456" })]);
    expect(types(ringing.effects)).toEqual(["start-ringtone"]);
    expect(ringing.model.ringing).toBe(true);
    expect(ringing.model.incoming).toMatchObject({ legId: "l-b", caller: "alice", sdp: "CA456" });

    const accepted = run(ringing.model, [{ type: "accept-clicked" }, { type: "media-answer-ready", legId: "l-b", sdp: "" }]);
    expect(accepted.effects).toEqual([
      { type: "stop-ringtone" },
      { type: "answer-media", conferenceId: "c-1", legId: "l-b", sdp: "CA456" },
    ]);
    expect(accepted.model.media.phase).toBe("connecting");
  });

  it("Reject sends the reject frame and stops the Twilio call ringing here", () => {
    const ringing = run(twilioAs("bob"), [conf(ringingForBob), twilioCall("l-b", false)]).model;
    const [model, effects] = update(ringing, { type: "reject-clicked" });
    expect(effects).toEqual([
      { type: "stop-ringtone" },
      { type: "send", frame: { type: "reject", leg_id: "l-b" } },
      { type: "stop-media", legId: "l-b" },
    ]);
    expect(model.incoming?.rejected).toBe(true);
  });

  it("no microphone: leg_failed, as with the built-in adapter", () => {
    const ringing = run(twilioAs("bob"), [conf(ringingForBob), twilioCall("l-b", false)]).model;
    const { effects, model } = run(ringing, [
      { type: "accept-clicked" },
      { type: "media-failed", legId: "l-b", reason: "microphone" },
    ]);
    expect(sent(effects)).toEqual([{ type: "leg_failed", leg_id: "l-b", reason: "microphone" }]);
    expect(model.notice).toBe("Could not open the microphone");
  });

  it("Hang up stays a hang_up frame", () => {
    const [, effects] = update(aliceInCall(), { type: "hang-up-clicked" });
    expect(effects).toEqual([{ type: "send", frame: { type: "hang_up", conference_id: "c-1" } }]);
  });

  it("an incoming Twilio call means nothing in built-in mode", () => {
    const model = connectedAs("bob");
    expect(update(model, twilioCall("l-b", false))).toEqual([model, []]);
  });
});

describe("Twilio carries the media: nothing to resume", () => {
  it("Talkbox restarting (1012) leaves the Twilio call alone, and the reconnect sends no resume", () => {
    const { model, effects } = run(aliceInCall(), [
      { type: "socket-closed", code: 1012, reason: "" },
      { type: "socket-opened" },
      server({ type: "welcome", user: "alice", provider: "twilio", ice_servers: [] }),
      conf(live),
    ]);
    expect(types(effects)).not.toContain("stop-media");
    expect(sent(effects)).toEqual([{ type: "directory" }]);
    expect(model.media.phase).toBe("connected");
  });

  it("an interrupted Twilio call is Twilio's to reconnect", () => {
    const { model, effects } = run(aliceInCall(), [{ type: "media-interrupted", legId: "l-a" }]);
    expect(sent(effects)).toEqual([]);
    expect(model.notice).toContain("Twilio is reconnecting");
    expect(update(model, { type: "media-connected", legId: "l-a" })[0].media.phase).toBe("connected");
  });

  it("a fresh page finding my leg in progress sends no resume", () => {
    const { effects } = run(twilioAs("alice"), [conf(live)]);
    expect(sent(effects)).toEqual([]);
  });
});
