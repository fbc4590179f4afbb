// A transfer out of a call of more than two: the chair's per-participant Transfer, and the page of the
// one transferred, whose leg (and media) moves to a call of its own and, if nobody answers, back.

import { describe, expect, it } from "vitest";
import { canTransfer, transferableOut } from "../src/call";
import type { Effect, Model } from "../src/model";
import { conf, conference, connectedAs, leg, offer, run } from "./fixtures";

const sent = (effects: Effect[]) => effects.flatMap((e) => (e.type === "send" ? [e.frame] : []));
const THREE = [leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress"), leg("l-d", "dave", "in-progress")];

function aliceChairsThree(): Model {
  return run(connectedAs("alice"), [
    { type: "dial-changed", text: "bob" },
    { type: "call-clicked" },
    conf(conference(THREE)),
    offer("l-a", { autoAnswer: true }),
    { type: "media-connected", legId: "l-a" },
  ]).model;
}

function bobOnThree(): Model {
  return run(connectedAs("bob"), [
    offer("l-b", { caller: "alice" }),
    { type: "accept-clicked" },
    conf(conference(THREE)),
    { type: "media-connected", legId: "l-b" },
  ]).model;
}

describe("the chair of a call of three", () => {
  it("may transfer each connected participant, not the call as a whole", () => {
    const model = aliceChairsThree();
    expect(canTransfer(model, model.conference!)).toBe(false);
    expect(transferableOut(model, model.conference!).map((l) => l.destination)).toEqual(["bob", "dave"]);
  });

  it("sends the participant's leg with the name typed, and empties the box", () => {
    const { model, effects } = run(aliceChairsThree(), [
      { type: "transfer-changed", text: " carol " },
      { type: "transfer-out-clicked", legId: "l-b" },
    ]);
    expect(sent(effects)).toEqual([{ type: "transfer", conference_id: "c-1", to: "carol", leg_id: "l-b" }]);
    expect(model.transferText).toBe("");
  });

  it("with nothing typed says what to do, and a guest's Transfer sends nothing", () => {
    const { model, effects } = run(aliceChairsThree(), [{ type: "transfer-out-clicked", legId: "l-b" }]);
    expect(sent(effects)).toEqual([]);
    expect(model.notice).toBe("Type who to transfer them to");
    const guest = run(bobOnThree(), [
      { type: "transfer-changed", text: "carol" },
      { type: "transfer-out-clicked", legId: "l-d" },
    ]);
    expect(sent(guest.effects)).toEqual([]);
  });

  it("sees bob gone while he is transferred, and back when nobody answered", () => {
    let model = run(aliceChairsThree(), [conf(conference([THREE[0]!, THREE[2]!]))]).model;
    expect(model.conference?.legs.map((l) => l.destination)).toEqual(["alice", "dave"]);
    model = run(model, [conf(conference(THREE))]).model;
    expect(model.conference?.legs.map((l) => l.destination)).toEqual(["alice", "bob", "dave"]);
  });
});

describe("the participant transferred out", () => {
  it("keeps the media of the leg that moved, and the new call takes the panel", () => {
    const gone = run(bobOnThree(), [conf(conference([THREE[0]!, THREE[2]!]))]);
    expect(gone.effects.filter((e) => e.type === "stop-media")).toEqual([]);
    expect(gone.model.media.legId).toBe("l-b");
    const ringing = conference([leg("l-b", "bob", "in-progress"), leg("l-c", "carol", "queued")], {
      id: "c-1--t",
      chair: "bob",
    });
    const moved = run(gone.model, [conf(ringing)]);
    expect(moved.effects.filter((e) => e.type === "stop-media")).toEqual([]);
    expect(moved.model.conference?.id).toBe("c-1--t");
    expect(moved.model.media).toMatchObject({ legId: "l-b", conferenceId: "c-1--t" });
  });

  it("goes back to the call of three with the same media when the target does not answer", () => {
    const ringing = conference([leg("l-b", "bob", "in-progress"), leg("l-c", "carol", "queued")], {
      id: "c-1--t",
      chair: "bob",
    });
    const unanswered = conference([leg("l-c", "carol", "no-answer", "timeout")], {
      id: "c-1--t",
      chair: "bob",
      end_reason: "no-answer",
    });
    const { model, effects } = run(bobOnThree(), [
      conf(conference([THREE[0]!, THREE[2]!])),
      conf(ringing),
      conf(unanswered),
      conf(conference(THREE)),
    ]);
    expect(effects.filter((e) => e.type === "stop-media")).toEqual([]);
    expect(model.conference?.id).toBe("c-1");
    expect(model.media).toMatchObject({ legId: "l-b", conferenceId: "c-1" });
  });

  it("still loses the media of a leg that ended (removed), as before", () => {
    const removed = run(bobOnThree(), [conf(conference([THREE[0]!, leg("l-b", "bob", "completed", "removed"), THREE[2]!]))]);
    expect(removed.effects).toContainEqual({ type: "stop-media", legId: "l-b" });
  });
});
