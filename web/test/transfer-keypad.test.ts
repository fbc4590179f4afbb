// The call panel's Transfer box and keypad: what they send, and what the page says around a transfer.

import { describe, expect, it } from "vitest";
import { KEYPAD, canTransfer, canUseKeypad } from "../src/call";
import type { Effect, Model } from "../src/model";
import { callSummary, ringingText } from "../src/narration";
import { describeOutcome } from "../src/outcome";
import { parseServerFrame } from "../src/protocol";
import { aliceInCall, conf, conference, connectedAs, leg, offer, run, server } from "./fixtures";

const sent = (effects: Effect[]) => effects.flatMap((e) => (e.type === "send" ? [e.frame] : []));

function twilioAliceInCall(): Model {
  const model = run(connectedAs("alice"), [server({ type: "welcome", user: "alice", provider: "twilio", ice_servers: [] })]).model;
  return aliceInCall(model);
}

describe("the keypad", () => {
  it("has twelve keys in a telephone's order, * and # named in words", () => {
    expect(KEYPAD.map((key) => key.digit).join("")).toBe("123456789*0#");
    expect(KEYPAD.find((key) => key.digit === "*")?.label).toBe("Star");
    expect(KEYPAD.find((key) => key.digit === "#")?.label).toBe("Pound");
  });

  it("sends each key as a dtmf frame on the built-in engine and shows it by my leg", () => {
    const { model, effects } = run(aliceInCall(), [
      { type: "keypad-pressed", digit: "1" },
      { type: "keypad-pressed", digit: "#" },
    ]);
    expect(sent(effects)).toEqual([
      { type: "dtmf", conference_id: "c-1", digits: "1" },
      { type: "dtmf", conference_id: "c-1", digits: "#" },
    ]);
    expect(model.digits).toEqual({ "l-a": "1#" });
    // The server's echo of my keys (meant for the others' pages) does not show them twice.
    const echoed = run(model, [server({ type: "digit", conference_id: "c-1", leg_id: "l-a", digit: "1" })]).model;
    expect(echoed.digits).toEqual({ "l-a": "1#" });
    const theirs = run(model, [server({ type: "digit", conference_id: "c-1", leg_id: "l-b", digit: "5" })]).model;
    expect(theirs.digits).toEqual({ "l-a": "1#", "l-b": "5" });
  });

  it("with Twilio plays the key into my own call through the SDK, not the server", () => {
    const { effects } = run(twilioAliceInCall(), [{ type: "keypad-pressed", digit: "7" }]);
    expect(effects).toEqual([{ type: "send-digits", legId: "l-a", digits: "7" }]);
  });

  it("ignores what is not a key, and keys while not connected on a call", () => {
    expect(run(aliceInCall(), [{ type: "keypad-pressed", digit: "A" }]).effects).toEqual([]);
    const ringing = run(connectedAs("alice"), [
      { type: "dial-changed", text: "bob" },
      { type: "call-clicked" },
      conf(conference([leg("l-a", "alice", "ringing"), leg("l-b", "bob", "queued")])),
    ]).model;
    expect(canUseKeypad(ringing, ringing.conference!)).toBe(false);
    expect(run(ringing, [{ type: "keypad-pressed", digit: "1" }]).effects).toEqual([]);
  });

  it("while Talkbox is away says so and sends nothing", () => {
    const { model, effects } = run(aliceInCall(), [
      { type: "socket-closed", code: 1006, reason: "" },
      { type: "keypad-pressed", digit: "5" },
    ]);
    expect(sent(effects)).toEqual([]);
    expect(model.notice).toMatch(/cannot be reached/);
  });
});

describe("transfer", () => {
  it("sends a transfer frame with the trimmed name and empties the box", () => {
    const { model, effects } = run(aliceInCall(), [
      { type: "transfer-changed", text: "  carol " },
      { type: "transfer-submitted" },
    ]);
    expect(sent(effects)).toEqual([{ type: "transfer", conference_id: "c-1", to: "carol" }]);
    expect(model.transferText).toBe("");
  });

  it("with nothing typed says what to do", () => {
    const { model, effects } = run(aliceInCall(), [{ type: "transfer-submitted" }]);
    expect(sent(effects)).toEqual([]);
    expect(model.notice).toBe("Type who to transfer the call to");
  });

  it("is offered to the chair of a connected call of two only", () => {
    const alice = aliceInCall();
    expect(canTransfer(alice, alice.conference!)).toBe(true);
    const three = conference([
      leg("l-a", "alice", "in-progress"),
      leg("l-b", "bob", "in-progress"),
      leg("l-c", "carol", "ringing"),
    ]);
    expect(canTransfer(alice, three)).toBe(false);
    const bob = run(connectedAs("bob"), [
      offer("l-b"),
      { type: "accept-clicked" },
      conf(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress")])),
    ]).model;
    expect(canTransfer(bob, bob.conference!)).toBe(false);
    // A telephone's call: the page that took it may transfer it.
    const phoneCall = conference([leg("l-p", "+441234567890", "in-progress"), leg("l-b", "bob", "in-progress")], {
      chair: "+441234567890",
    });
    expect(canTransfer(bob, phoneCall)).toBe(true);
  });

  it("tells the transferor whom they transferred to whom once their leg has ended", () => {
    const done = conference(
      [leg("l-a", "alice", "completed", "transferred"), leg("l-b", "bob", "in-progress"), leg("l-c", "carol", "ringing")],
      { chair: "bob" },
    );
    const model = run(aliceInCall(), [conf({ ...done, transfer: { by: "alice", to: "carol", status: "ringing" } })]).model;
    expect(model.conference).toBeNull();
    expect(model.outcome).toBe("You transferred bob to carol");
    expect(describeOutcome(done, "alice")).toBe("You transferred bob to carol");
  });

  it("tells the transferred party what is happening, and the transferor why a recall rings", () => {
    const waiting = conference(
      [leg("l-a", "alice", "completed", "transferred"), leg("l-b", "bob", "in-progress"), leg("l-c", "carol", "ringing")],
      { chair: "bob" },
    );
    const bob = run(connectedAs("bob"), [
      offer("l-b"),
      { type: "accept-clicked" },
      conf({ ...waiting, transfer: { by: "alice", to: "carol", status: "ringing" } }),
    ]).model;
    expect(callSummary(bob)).toBe("alice is transferring you to carol…");
    const recalling = {
      ...waiting,
      legs: [...waiting.legs.slice(0, 2), leg("l-c", "carol", "no-answer", "timeout"), leg("l-a2", "alice", "ringing")],
      transfer: { by: "alice", to: "carol", status: "recalling" as const },
    };
    expect(callSummary(run(bob, [conf(recalling)]).model)).toBe("carol did not answer: calling alice back…");
    const alice = run(connectedAs("alice"), [conf(recalling), offer("l-a2", { caller: "bob" })]).model;
    expect(ringingText(alice)).toBe("bob is calling back: carol did not answer the transfer");
    expect(alice.announcement?.text).toBe("bob is calling back: carol did not answer the transfer: Accept or Reject");
  });

  it("reads a conference's transfer from the wire, and refuses a malformed one", () => {
    const legs = [leg("l-b", "bob", "in-progress")];
    const frame = (transfer: unknown) =>
      JSON.stringify({ type: "conference", conference: { ...conference(legs, { chair: "bob" }), transfer } });
    const parsed = parseServerFrame(frame({ by: "alice", to: "carol", status: "ringing" }));
    expect(parsed).toMatchObject({ conference: { transfer: { by: "alice", to: "carol", status: "ringing" } } });
    expect(parseServerFrame(frame({ by: "alice", to: "carol", status: "lost" }))).toBeNull();
  });
});
