import { describe, expect, it } from "vitest";
import { bareNumber, formatNumber, numberProblem } from "../src/numbers";
import { aliceInCall, conf, conference, connectedAs, leg, offer, run } from "./fixtures";

describe("a number formatted as it is typed", () => {
  it.each([
    ["+441234567890", "+44 123 456 7890"],
    ["+14155550100", "+1 415 555 0100"],
    ["+3531234567", "+353 123 4567"],
    ["+44 12", "+44 12"],
    ["+", "+"],
    ["bob", "bob"],
    ["+44 bob", "+44 bob"],
  ])("%s reads %s", (typed, shown) => {
    expect(formatNumber(typed)).toBe(shown);
  });

  it("is grouped while typing at the end, left alone mid-edit, and sent bare", () => {
    const typed = run(connectedAs("alice"), [{ type: "dial-changed", text: "+441234567890", caretAtEnd: true }]);
    expect(typed.model.dialText).toBe("+44 123 456 7890");
    const midEdit = run(typed.model, [{ type: "dial-changed", text: "+44 1293 456 7890", caretAtEnd: false }]);
    expect(midEdit.model.dialText).toBe("+44 1293 456 7890");
    const called = run(typed.model, [{ type: "call-clicked" }]);
    expect(called.effects).toEqual([{ type: "send", frame: { type: "call", to: "+441234567890" } }]);
    expect(bareNumber("+1 (415) 555-0100")).toBe("+14155550100");
  });

  it("a number too long for E.164 is explained", () => {
    expect(numberProblem("+1234567890123456")).toBe("That number has 16 digits: a phone number has at most 15");
    expect(numberProblem("+123456789012345")).toBeNull();
    expect(numberProblem("bob")).toBeNull();
  });
});

describe("the call timer", () => {
  it("starts when both sides are connected and counts from then", () => {
    const ringing = run(connectedAs("alice"), [
      { type: "dial-changed", text: "bob" },
      { type: "call-clicked" },
      conf(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "ringing")])),
      { type: "clock-ticked", now: 1_000 },
    ]).model;
    expect(ringing.callStartedAt).toBeNull();
    const talking = run(ringing, [
      conf(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress")])),
      { type: "clock-ticked", now: 2_000 },
      { type: "clock-ticked", now: 127_000 },
    ]).model;
    expect(talking.callStartedAt).toBe(2_000);
    expect(talking.now - (talking.callStartedAt ?? 0)).toBe(125_000);
  });

  it("stops with the call", () => {
    const talking = run(aliceInCall(), [{ type: "clock-ticked", now: 5_000 }]).model;
    expect(talking.callStartedAt).toBe(5_000);
    const over = run(talking, [
      conf({ ...conference([leg("l-a", "alice", "completed", "hung-up"), leg("l-b", "bob", "completed")]), status: "ended" }),
      { type: "clock-ticked", now: 9_000 },
    ]).model;
    expect(over.callStartedAt).toBeNull();
  });
});

describe("keyboard shortcuts", () => {
  it("Alt+Shift+A answers a ringing call; Alt+Shift+H declines it", () => {
    const ringing = run(connectedAs("bob"), [offer("l-b")]).model;
    const answered = run(ringing, [{ type: "shortcut", action: "answer" }]);
    expect(answered.effects).toContainEqual({ type: "answer-media", conferenceId: "c-1", legId: "l-b", sdp: "offer-sdp-l-b" });
    const declined = run(ringing, [{ type: "shortcut", action: "hang-up" }]);
    expect(declined.effects).toContainEqual({ type: "send", frame: { type: "reject", leg_id: "l-b" } });
  });

  it("Alt+Shift+H hangs up a call; with nothing to act on, nothing happens", () => {
    const { effects } = run(aliceInCall(), [{ type: "shortcut", action: "hang-up" }]);
    expect(effects).toContainEqual({ type: "send", frame: { type: "hang_up", conference_id: "c-1" } });
    expect(run(connectedAs("bob"), [{ type: "shortcut", action: "hang-up" }]).effects).toEqual([]);
    expect(run(connectedAs("bob"), [{ type: "shortcut", action: "answer" }]).effects).toEqual([]);
  });
});
