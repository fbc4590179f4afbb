// One test per row of protocol.md's end_reason table, from both sides.

import { describe, expect, it } from "vitest";
import { describeDeparture, describeLegStatus, describeOutcome } from "../src/outcome";
import { conference, ended, leg } from "./fixtures";

// alice calls bob: alice is the chair, l-a her leg, l-b bob's.
const bothSides = (c: ReturnType<typeof ended>) => ({
  caller: describeOutcome(c, "alice"),
  callee: describeOutcome(c, "bob"),
});

describe("outcome: completed / hung-up (this party hung up)", () => {
  it("bob hung up", () => {
    const c = ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "completed", "hung-up")], "hung-up");
    expect(bothSides(c)).toEqual({ caller: "bob hung up", callee: "You hung up" });
  });

  it("alice hung up", () => {
    const c = ended([leg("l-a", "alice", "completed", "hung-up"), leg("l-b", "bob", "completed", "ended")], "hung-up");
    expect(bothSides(c)).toEqual({ caller: "You hung up", callee: "alice hung up" });
  });
});

describe("outcome: completed / ended (Talkbox hung it up because the call was over)", () => {
  it("names the party who hung up, not the leg Talkbox ended", () => {
    const c = ended(
      [leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "completed", "hung-up"), leg("l-c", "carol", "completed", "ended")],
      "hung-up",
    );
    expect(describeOutcome(c, "alice")).toBe("bob hung up");
    expect(describeOutcome(c, "carol")).toBe("bob hung up");
  });

  it("my leg ended by Talkbox while the conference goes on", () => {
    const c = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "completed", "ended"), leg("l-c", "carol", "in-progress")]);
    expect(describeOutcome(c, "bob")).toBe("Call ended");
  });
});

describe("outcome: busy / rejected", () => {
  it("caller reads that bob declined, not that he is busy; callee that they declined", () => {
    const c = ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "busy", "rejected")], "busy");
    expect(bothSides(c)).toEqual({ caller: "bob declined", callee: "You declined the call" });
  });
});

describe("outcome: busy / busy-signal (Twilio: \"received a busy signal\")", () => {
  it("caller sees busy; callee is not told they rejected it", () => {
    const c = ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "busy", "busy-signal")], "busy");
    expect(bothSides(c)).toEqual({ caller: "bob is busy", callee: "Missed call from alice (the line was busy)" });
  });
});

describe("outcome: busy / in-another-call", () => {
  it("caller: busy on another call; callee: missed while on another call", () => {
    const c = ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "busy", "in-another-call")], "busy");
    expect(bothSides(c)).toEqual({
      caller: "bob is busy on another call",
      callee: "Missed call from alice (you were on another call)",
    });
  });
});

describe("outcome: completed or canceled / removed", () => {
  it("the chair removed the only other party", () => {
    const c = ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "completed", "removed")], "hung-up");
    expect(bothSides(c)).toEqual({
      caller: "You removed bob from the call",
      callee: "alice removed you from the call",
    });
  });

  it("removed from a conference that goes on", () => {
    const c = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "completed", "removed"), leg("l-c", "carol", "in-progress")]);
    expect(describeOutcome(c, "bob")).toBe("alice removed you from the call");
  });

  it("removed by a chair named as a leg id: the chair's name", () => {
    const c = {
      ...conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "completed", "removed"), leg("l-c", "carol", "in-progress")]),
      chair: "l-a",
    };
    expect(describeOutcome(c, "bob")).toBe("alice removed you from the call");
  });

  it("removed while still ringing", () => {
    const c = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "canceled", "removed"), leg("l-c", "carol", "in-progress")]);
    expect(describeOutcome(c, "bob")).toBe("alice ended the call before it could be connected");
  });

  it("the chair removing the only ringing party cancels the call", () => {
    const c = ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "canceled", "removed")], "canceled");
    expect(describeOutcome(c, "alice")).toBe("Call canceled");
  });
});

describe("outcome: the chair left a conference that goes on", () => {
  it("reads as the chair hanging up", () => {
    const c = conference([leg("l-a", "alice", "completed", "hung-up"), leg("l-b", "bob", "in-progress"), leg("l-c", "carol", "in-progress")]);
    expect(describeOutcome(c, "alice")).toBe("You hung up");
  });
});

describe("outcome: no-answer / timeout", () => {
  it("caller: not answered; callee: missed call", () => {
    const c = ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "no-answer", "timeout")], "no-answer");
    expect(bothSides(c)).toEqual({ caller: "bob did not answer", callee: "Missed call from alice" });
  });
});

describe("outcome: no-answer / not-answered (Twilio: \"no answer or the call was rejected\")", () => {
  it("caller: not answered; callee: neither a missed call nor a rejection is claimed", () => {
    const c = ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "no-answer", "not-answered")], "no-answer");
    expect(bothSides(c)).toEqual({ caller: "bob did not answer", callee: "The call from alice was not answered" });
  });
});

describe("outcome: failed / unavailable", () => {
  it("caller: unavailable; callee (had it reached them): missed call", () => {
    const c = ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "failed", "unavailable")], "unavailable");
    expect(bothSides(c)).toEqual({ caller: "bob is unavailable", callee: "Missed call from alice" });
  });
});

describe("outcome: failed / media", () => {
  it("the callee's media could not be connected", () => {
    const c = ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "failed", "media")], "failed");
    expect(bothSides(c)).toEqual({
      caller: "The call to bob could not be connected",
      callee: "The call from alice could not be connected",
    });
  });
});

describe("outcome: failed / microphone", () => {
  it("the callee's page could not open a microphone", () => {
    const c = ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "failed", "microphone")], "failed");
    expect(bothSides(c)).toEqual({
      caller: "The call to bob could not be connected (no microphone at their end)",
      callee: "The call from alice could not be connected (no microphone)",
    });
  });

  it("the caller's own page could not open a microphone", () => {
    const c = ended(
      [leg("l-a", "alice", "failed", "microphone"), leg("l-b", "bob", "canceled", "chair-unreachable")],
      "chair-unreachable",
    );
    expect(describeOutcome(c, "alice")).toBe("Your line could not be connected (chairperson cannot be reached)");
  });
});

describe("outcome: failed with a SIP trunk's reason", () => {
  it.each([
    ["forbidden", "The carrier refused the call to +441234567890"],
    ["not-found", "+441234567890 is not a number in service"],
    ["address-incomplete", "+441234567890 is incomplete"],
    ["not-allowed", "+441234567890 may not be dialled from this Talkbox"],
  ])("%s", (reason, words) => {
    const c = ended([leg("l-a", "alice", "completed", "ended"), leg("l-t", "+441234567890", "failed", reason)], "failed");
    expect(describeOutcome(c, "alice")).toBe(words);
    expect(describeLegStatus({ status: "failed", end_reason: reason, held: false, held_by_chair: false })).not.toBe("left (failed)");
  });
});

describe("a callee on do not disturb whose voicemail takes the call", () => {
  it("reads as not to be disturbed, not as a busy line", () => {
    expect(describeLegStatus({ status: "busy", end_reason: "dnd", held: false, held_by_chair: false })).toBe("left (not to be disturbed)");
  });
});

describe("outcome: canceled / caller-canceled", () => {
  it("the caller hung up before it was answered", () => {
    const c = ended([leg("l-a", "alice", "completed", "hung-up"), leg("l-b", "bob", "canceled", "caller-canceled")], "canceled");
    expect(bothSides(c)).toEqual({
      caller: "Call canceled",
      callee: "alice ended the call before it could be connected",
    });
  });
});

describe("outcome: canceled / chair-unreachable", () => {
  it("the chair's own leg never connected", () => {
    const c = ended(
      [leg("l-a", "alice", "failed", "media"), leg("l-b", "bob", "canceled", "chair-unreachable")],
      "chair-unreachable",
    );
    expect(bothSides(c)).toEqual({
      caller: "Your line could not be connected (chairperson cannot be reached)",
      callee: "The call from alice could not be connected",
    });
  });
});

describe("outcome: robustness", () => {
  it("uses the known leg id over the name", () => {
    const c = ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "completed", "hung-up")], "hung-up");
    expect(describeOutcome(c, "bob", "l-b")).toBe("You hung up");
  });

  it("tolerates a chair given as a leg id", () => {
    const c = { ...ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "busy", "rejected")], "busy"), chair: "l-a" };
    expect(describeOutcome(c, "alice")).toBe("bob declined");
    expect(describeOutcome(c, "bob")).toBe("You declined the call");
  });

  it("an end reason the page does not know reads as ended", () => {
    const c = ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "completed", "gremlins")], "gremlins");
    expect(describeOutcome(c, "alice")).toBe("Call ended");
    expect(describeOutcome(c, "bob")).toBe("Call ended");
    expect(describeLegStatus(leg("x", "bob", "completed", "gremlins"))).toBe("left");
  });

  it("names nobody when the final frame lists no other leg", () => {
    const c = ended([leg("l-a", "alice", "completed", "ended")], "no-answer");
    expect(describeOutcome(c, "alice")).toBe("The other party did not answer");
  });
});

describe("leg status words", () => {
  it.each([
    [leg("x", "bob", "queued"), "waiting"],
    [leg("x", "bob", "initiated"), "calling"],
    [leg("x", "bob", "ringing"), "ringing"],
    [leg("x", "bob", "in-progress"), "in call"],
    [leg("x", "bob", "completed", "hung-up"), "left (hung up)"],
    [leg("x", "bob", "completed", "ended"), "left (call over)"],
    [leg("x", "bob", "busy", "rejected"), "left (declined)"],
    [leg("x", "bob", "busy", "in-another-call"), "left (busy on another call)"],
    [leg("x", "bob", "busy", "busy-signal"), "left (busy)"],
    [leg("x", "bob", "no-answer", "not-answered"), "left (not answered)"],
    [leg("x", "bob", "completed", "removed"), "left (removed)"],
    [leg("x", "bob", "canceled", "removed"), "left (removed)"],
    [leg("x", "bob", "no-answer", "timeout"), "left (no answer)"],
    [leg("x", "bob", "failed", "unavailable"), "left (unavailable)"],
    [leg("x", "bob", "canceled", "caller-canceled"), "left (canceled)"],
    [leg("x", "bob", "failed"), "left (failed)"],
    [leg("x", "bob", "busy"), "left (busy)"],
  ])("%o reads %s", (l, words) => {
    expect(describeLegStatus(l)).toBe(words);
  });
});

describe("someone else leaves a call that goes on", () => {
  const live = [leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress")];
  const with3 = (c: ReturnType<typeof leg>) => conference([...live, c]);
  const forAlice = (c: ReturnType<typeof leg>) => describeDeparture(with3(c), "alice", c);
  const forBob = (c: ReturnType<typeof leg>) => describeDeparture(with3(c), "bob", c);

  it.each([
    [leg("l-c", "carol", "completed", "hung-up"), "carol hung up", "carol hung up"],
    [leg("l-c", "carol", "completed", "removed"), "You removed carol from the call", "alice removed carol from the call"],
    [leg("l-c", "carol", "canceled", "removed"), "You canceled the call to carol", "alice canceled the call to carol"],
    [leg("l-c", "carol", "busy", "rejected"), "carol declined", "carol declined"],
    [leg("l-c", "carol", "busy", "in-another-call"), "carol is busy on another call", "carol is busy on another call"],
    [leg("l-c", "carol", "no-answer", "timeout"), "carol did not answer", "carol did not answer"],
    [leg("l-c", "carol", "busy", "busy-signal"), "carol is busy", "carol is busy"],
    [leg("l-c", "carol", "no-answer", "not-answered"), "carol did not answer", "carol did not answer"],
    [leg("l-c", "carol", "failed", "unavailable"), "carol is unavailable", "carol is unavailable"],
    [leg("l-c", "carol", "failed", "media"), "The call to carol could not be connected", "The call to carol could not be connected"],
    [leg("l-c", "carol", "completed", "gremlins"), "carol left the call", "carol left the call"],
  ])("%o reads %s to the chair, %s to a guest", (l, chair, guest) => {
    expect(forAlice(l)).toBe(chair);
    expect(forBob(l)).toBe(guest);
  });

  it.each([
    leg("l-c", "carol", "completed", "ended"),
    leg("l-c", "carol", "canceled", "caller-canceled"),
    leg("l-c", "carol", "canceled", "chair-unreachable"),
  ])("%o needs no words", (l) => {
    expect(forAlice(l)).toBeNull();
  });
});

describe("outcome: failed / lost (its page never came back after a server restart)", () => {
  it("both sides: the call was lost when Talkbox restarted", () => {
    const c = ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "failed", "lost")], "failed");
    expect(bothSides(c)).toEqual({
      caller: "The call was lost when Talkbox restarted",
      callee: "The call was lost when Talkbox restarted",
    });
  });

  it("my own leg lost while the conference goes on", () => {
    const c = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "failed", "lost"), leg("l-c", "carol", "in-progress")]);
    expect(describeOutcome(c, "bob")).toBe("The call was lost when Talkbox restarted");
  });

  it("someone else's leg lost while the call goes on", () => {
    const c = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress"), leg("l-c", "carol", "failed", "lost")]);
    const carol = c.legs[2];
    if (carol === undefined) throw new Error("no carol");
    expect(describeDeparture(c, "alice", carol, c.legs[0])).toBe("carol was cut off when Talkbox restarted");
    expect(describeLegStatus(carol)).toBe("left (lost when Talkbox restarted)");
  });

  it("a party who hung up explains the end better", () => {
    const c = ended(
      [leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "completed", "hung-up"), leg("l-c", "carol", "failed", "lost")],
      "hung-up",
    );
    expect(describeOutcome(c, "alice")).toBe("bob hung up");
  });
});

describe("outcome: failed / server-restart (still ringing or connecting when the server went down)", () => {
  it("both sides: Talkbox restarted before the call connected", () => {
    const c = ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "failed", "server-restart")], "failed");
    expect(bothSides(c)).toEqual({
      caller: "Talkbox restarted before the call connected",
      callee: "Talkbox restarted before the call connected",
    });
  });

  it("the chair's own leg cut off while connecting", () => {
    const c = ended(
      [leg("l-a", "alice", "failed", "server-restart"), leg("l-b", "bob", "canceled", "chair-unreachable")],
      "chair-unreachable",
    );
    expect(describeOutcome(c, "alice")).toBe("Talkbox restarted before the call connected");
  });

  it("someone added, still ringing, when the server went down", () => {
    const c = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress"), leg("l-c", "carol", "failed", "server-restart")]);
    const carol = c.legs[2];
    if (carol === undefined) throw new Error("no carol");
    expect(describeDeparture(c, "alice", carol, c.legs[0])).toBe(
      "The call to carol could not be connected (Talkbox restarted)",
    );
    expect(describeLegStatus(carol)).toBe("left (cut off by a restart)");
  });
});
