// Hold and resume, call waiting and switching between calls: the update function and what it says.

import { describe, expect, it } from "vitest";
import type { Effect, Model } from "../src/model";
import type { Leg } from "../src/protocol";
import { describeLegStatus } from "../src/outcome";
import { heldSummary, pageTitle } from "../src/narration";
import { update } from "../src/update";
import { aliceInCall, conf, conference, leg, offer, run, server } from "./fixtures";

const sent = (effects: Effect[]) => effects.flatMap((e) => (e.type === "send" ? [e.frame] : []));
const held = (l: Leg, byChair = false): Leg => ({ ...l, held: true, held_by_chair: byChair });

const A = "l-a";
const B = "l-b";

function withBob(model: Model, bob: Leg): Model {
  return update(model, conf(conference([leg(A, "alice", "in-progress"), bob])))[0];
}

describe("the chair holds a guest", () => {
  it("sends hold for bob, then resume; the list says he is on hold, and so does the screen reader", () => {
    const model = aliceInCall();
    const [, effects] = update(model, { type: "hold-clicked", legId: B });
    expect(sent(effects)).toEqual([{ type: "hold", conference_id: "c-1", leg_id: B, held: true }]);

    const bobHeld = withBob(model, held(leg(B, "bob", "in-progress"), true));
    expect(bobHeld.announcement?.text).toBe("Bob on hold."); // the call's heading, which says who is on hold
    expect(bobHeld.conference).not.toBeNull(); // a guest on hold: the call stays mine, on its panel
    expect(describeLegStatus(bobHeld.conference!.legs[1]!)).toBe("on hold");
    const [, resumed] = update(bobHeld, { type: "hold-clicked", legId: B });
    expect(sent(resumed)).toEqual([{ type: "hold", conference_id: "c-1", leg_id: B, held: false }]);
    expect(withBob(bobHeld, leg(B, "bob", "in-progress")).announcement?.text).toBe("In call with bob.");
  });

  it("a guest held by the chair is told so", () => {
    const bob = run(aliceInCall(), []).model;
    const asBob: Model = { ...bob, me: "bob", media: { ...bob.media, legId: B } };
    const [next] = update(
      asBob,
      conf(conference([leg(A, "alice", "in-progress"), held(leg(B, "bob", "in-progress"), true)])),
    );
    expect(next.announcement?.text).toContain("alice put you on hold");
    expect(next.held).toEqual([]); // not my hold: the call stays on my panel
  });

  it("a hold the provider refused: bob is shown not held again, and the chair is told it failed", () => {
    const bobHeld = withBob(aliceInCall(), held(leg(B, "bob", "in-progress"), true));
    const { model } = run(bobHeld, [
      conf(conference([leg(A, "alice", "in-progress"), leg(B, "bob", "in-progress")])),
      server({ type: "refused", code: "hold_failed", message: "Hold failed: bob could not be put on hold" }),
    ]);
    expect(describeLegStatus(model.conference!.legs[1]!)).not.toBe("on hold");
    expect(model.notice).toBe("Hold failed: bob could not be put on hold");
    expect(model.conference).not.toBeNull(); // the call goes on
  });

  it("nothing is sent while Talkbox cannot be reached", () => {
    const offline: Model = { ...aliceInCall(), connection: "closed" };
    const [next, effects] = update(offline, { type: "hold-clicked", legId: B });
    expect(effects).toEqual([]);
    expect(next.notice).toMatch(/cannot be reached/);
  });
});

describe("attended transfer", () => {
  const consulting = (): Model =>
    run(aliceInCall(), [
      conf(conference([leg(A, "alice", "in-progress"), held(leg(B, "bob", "in-progress"), true), leg("l-c", "carol", "in-progress")])),
    ]).model;

  it("with bob held and carol added, the chair completes the transfer; her page goes idle once her leg ends", () => {
    const model = consulting();
    expect(model.announcement?.text).toBe("In call with carol; bob on hold.");
    const [, effects] = update(model, { type: "complete-transfer-clicked", legId: B });
    expect(sent(effects)).toEqual([{ type: "complete_transfer", conference_id: "c-1", leg_id: B }]);
    const [done] = update(
      model,
      conf(
        conference(
          [leg(A, "alice", "completed", "transferred"), leg(B, "bob", "in-progress"), leg("l-c", "carol", "in-progress")],
          { chair: "bob" },
        ),
      ),
    );
    expect(done.conference).toBeNull();
    expect(done.outcome).toBe("You transferred bob to carol");
  });

  it("cancelling removes carol and brings bob back", () => {
    const [, effects] = update(consulting(), { type: "cancel-transfer-clicked", legId: B });
    expect(sent(effects)).toEqual([
      { type: "remove", conference_id: "c-1", leg_id: "l-c" },
      { type: "hold", conference_id: "c-1", leg_id: B, held: false },
    ]);
  });

  it("is not offered without someone on hold and someone to hand them to", () => {
    const [, effects] = update(aliceInCall(), { type: "complete-transfer-clicked", legId: B });
    expect(effects).toEqual([]);
  });
});

describe("holding my own call, and switching", () => {
  it("my own hold puts the call on its own panel, media kept, and frees the dial box to call someone else", () => {
    const [model, effects] = update(aliceInCall(), { type: "hold-clicked", legId: A });
    expect(sent(effects)).toEqual([{ type: "hold", conference_id: "c-1", leg_id: A, held: true }]);
    expect(effects.some((e) => e.type === "stop-media")).toBe(false);
    expect(model.conference).toBeNull();
    expect(model.held.map((call) => [call.conference.id, call.media.legId])).toEqual([["c-1", A]]);
    expect(heldSummary(model)).toBe("On hold: the call with bob");
    expect(model.announcement?.text).toContain("On hold: the call with bob");
    expect(pageTitle(model)).toBe("On hold: the call with bob — Talkbox");

    // The server's frame of the held call updates its panel, not the one I am on.
    const [later] = update(model, conf(conference([held(leg(A, "alice", "in-progress")), leg(B, "bob", "in-progress")])));
    expect(later.held[0]?.conference.legs[0]?.held).toBe(true);
    expect(later.conference).toBeNull();
  });

  it("Resume switches back: my leg comes off hold there, its audio plays, and the call I was on goes on hold", () => {
    let model = aliceInCall();
    // carol calls: a call waiting, accepted.
    model = run(model, [offer("l-a2", { conferenceId: "c-2", caller: "carol" })]).model;
    model = run(model, [
      { type: "accept-clicked" },
      conf(conference([leg("l-c", "carol", "in-progress"), leg("l-a2", "alice", "in-progress")], { id: "c-2", chair: "carol" })),
      conf(conference([held(leg(A, "alice", "in-progress")), leg(B, "bob", "in-progress")])),
    ]).model;
    expect(model.conference?.id).toBe("c-2");
    expect(model.held.map((call) => call.conference.id)).toEqual(["c-1"]);

    const [switched, effects] = update(model, { type: "switch-clicked", conferenceId: "c-1" });
    expect(effects).toEqual([
      { type: "send", frame: { type: "hold", conference_id: "c-1", leg_id: A, held: false } },
      { type: "play-media", legId: A },
    ]);
    expect(switched.conference?.id).toBe("c-1");
    expect(switched.media.legId).toBe(A);
    expect(switched.held.map((call) => [call.conference.id, call.media.legId])).toEqual([["c-2", "l-a2"]]);
  });

  it("a call on hold that ends goes from its panel, its media with it, saying how", () => {
    const [model] = update(aliceInCall(), { type: "hold-clicked", legId: A });
    const [next, effects] = update(
      model,
      conf(
        conference([leg(A, "alice", "completed", "ended"), leg(B, "bob", "completed", "hung-up")], {
          end_reason: "hung-up",
        }),
      ),
    );
    expect(next.held).toEqual([]);
    expect(effects).toEqual([{ type: "stop-media", legId: A }]);
    expect(next.outcome).toMatch(/bob/);
  });

  it("Hang up on a held call's panel hangs that call up", () => {
    const [model] = update(aliceInCall(), { type: "hold-clicked", legId: A });
    const [, effects] = update(model, { type: "hang-up-held-clicked", conferenceId: "c-1" });
    expect(sent(effects)).toEqual([{ type: "hang_up", conference_id: "c-1" }]);
  });

  it("a call found on hold after a reload gets its own panel, and its audio is asked for when switched to", () => {
    const onHold = conference([held(leg(A, "alice", "in-progress")), leg(B, "bob", "in-progress")]);
    const fresh = run(aliceInCall(), []).model;
    const reloaded: Model = { ...fresh, conference: null, media: { ...fresh.media, legId: null, conferenceId: null }, mediaLegs: [] };
    const [model] = update(reloaded, conf({ ...onHold, id: "c-9" }));
    expect(model.held.map((call) => call.conference.id)).toEqual(["c-9"]);
    const [, effects] = update(model, { type: "switch-clicked", conferenceId: "c-9" });
    expect(sent(effects)).toEqual([
      { type: "hold", conference_id: "c-9", leg_id: A, held: false },
      { type: "resume", leg_id: A },
    ]);
  });
});

describe("a call on hold when Talkbox restarts", () => {
  // alice took carol's call: her call with bob is on hold, its media kept.
  function twoCalls(): Model {
    let model = run(aliceInCall(), [offer("l-a2", { conferenceId: "c-2", caller: "carol" })]).model;
    model = run(model, [
      { type: "accept-clicked" },
      conf(conference([leg("l-c", "carol", "in-progress"), leg("l-a2", "alice", "in-progress")], { id: "c-2", chair: "carol" })),
      conf(conference([held(leg(A, "alice", "in-progress")), leg(B, "bob", "in-progress")])),
      { type: "media-connected", legId: "l-a2" },
    ]).model;
    expect(model.held.map((call) => [call.conference.id, call.media.legId, call.media.phase])).toEqual([["c-1", A, "connected"]]);
    return model;
  }

  it("its lost media is asked for again at once, and the new offer is answered quietly for its panel", () => {
    const [lost, effects] = update(twoCalls(), { type: "media-interrupted", legId: A });
    expect(effects).toEqual([{ type: "stop-media", legId: A }, { type: "send", frame: { type: "resume", leg_id: A } }]);
    expect(lost.media.legId).toBe("l-a2"); // the call I am on keeps its media

    const [offered, answer] = update(lost, offer(A, { autoAnswer: true, sdp: "after-restart" }));
    expect(answer).toEqual([
      { type: "stop-media", legId: A },
      { type: "answer-media", conferenceId: "c-1", legId: A, sdp: "after-restart", quiet: true },
    ]);
    expect(offered.media.legId).toBe("l-a2");
    const [ready, frames] = update(offered, { type: "media-answer-ready", legId: A, sdp: "answer-sdp" });
    expect(sent(frames)).toEqual([{ type: "answer", leg_id: A, sdp: "answer-sdp" }]);
    const [connected] = update(ready, { type: "media-connected", legId: A });
    expect(connected.held[0]?.media.phase).toBe("connected");

    const [, switched] = update(connected, { type: "switch-clicked", conferenceId: "c-1" });
    expect(switched).toEqual([
      { type: "send", frame: { type: "hold", conference_id: "c-1", leg_id: A, held: false } },
      { type: "play-media", legId: A },
    ]);
  });

  it("lost while the socket is down, it is asked for once the server's state comes again", () => {
    let model = run(twoCalls(), [{ type: "socket-closed", code: 1006, reason: "" }]).model;
    const [lost, effects] = update(model, { type: "media-failed", legId: A, reason: "media" });
    expect(sent(effects)).toEqual([]);
    model = run(lost, [{ type: "socket-opened" }]).model;
    const [, again] = update(model, conf(conference([held(leg(A, "alice", "in-progress")), leg(B, "bob", "in-progress")])));
    expect(sent(again)).toEqual([{ type: "resume", leg_id: A }]);
  });

  it("a media worker's new offer for it is answered quietly too, not left for the server to end", () => {
    const [, effects] = update(twoCalls(), offer(A, { autoAnswer: true, sdp: "new-worker" }));
    expect(effects).toContainEqual({ type: "answer-media", conferenceId: "c-1", legId: A, sdp: "new-worker", quiet: true });
    expect(effects).not.toContainEqual({ type: "stop-media", legId: "l-a2" });
  });
});
