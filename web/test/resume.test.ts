// Coming back: reloads, reconnects, restarts (docs/protocol.md), and two
// tabs of the same user.

import { describe, expect, it } from "vitest";
import type { Effect, Model, Msg } from "../src/model";
import { NO_MEDIA, initialModel } from "../src/model";
import { mySide } from "../src/call";
import { connectionLine } from "../src/connection";
import { update } from "../src/update";
import { conf, conference, connectedAs, ended, leg, offer, run, server } from "./fixtures";

const types = (effects: Effect[]) => effects.map((e) => e.type);
const sent = (effects: Effect[]) => effects.flatMap((e) => (e.type === "send" ? [e.frame] : []));
const resumes = (effects: Effect[]) => sent(effects).filter((f) => f.type === "resume");

const closed = (code = 1006): Msg => ({ type: "socket-closed", code, reason: "" });
const reopened = (me: string): Msg[] => [
  { type: "socket-connecting" },
  { type: "socket-opened" },
  server({ type: "welcome", user: me, provider: "builtin", ice_servers: [] }),
];

const live = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress")]);
const ringingForBob = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "ringing")]);

/** alice placed a call to bob here, and it is connected with media. */
function aliceInCall(): Model {
  return run(connectedAs("alice"), [
    { type: "dial-changed", text: "bob" },
    { type: "call-clicked" },
    conf(conference([leg("l-a", "alice", "queued"), leg("l-b", "bob", "queued")])),
    offer("l-a", { autoAnswer: true, sdp: "first" }),
    { type: "media-answer-ready", legId: "l-a", sdp: "answer" },
    { type: "media-connected", legId: "l-a" },
    conf(live),
  ]).model;
}

describe("resume: a fresh page finds its leg in progress", () => {
  it("a reloaded chair shows the call and sends resume once", () => {
    const { model, effects } = run(connectedAs("alice"), [conf(live), conf(live)]);
    expect(model.conference).toEqual(live);
    expect(resumes(effects)).toEqual([{ type: "resume", leg_id: "l-a" }]);
    expect(model.resumeSent).toEqual(["l-a"]);
  });

  it("a reloaded guest shows the call and sends resume", () => {
    const { model, effects } = run(connectedAs("bob"), [conf(live)]);
    expect(model.conference).toEqual(live);
    expect(effects).toEqual([{ type: "send", frame: { type: "resume", leg_id: "l-b" } }]);
  });

  it("the resume offer is answered at once, and the call goes on", () => {
    const { model, effects } = run(connectedAs("bob"), [
      conf(live),
      offer("l-b", { autoAnswer: true, sdp: "resumed" }),
      { type: "media-answer-ready", legId: "l-b", sdp: "answer" },
      { type: "media-connected", legId: "l-b" },
      conf(live),
    ]);
    expect(effects).toEqual([
      { type: "send", frame: { type: "resume", leg_id: "l-b" } },
      { type: "answer-media", conferenceId: "c-1", legId: "l-b", sdp: "resumed" },
      { type: "send", frame: { type: "answer", leg_id: "l-b", sdp: "answer" } },
    ]);
    expect(model.media).toMatchObject({ phase: "connected", legId: "l-b" });
    expect(mySide(model, live).inAnotherTab).toBe(false);
  });

  it("no resume for a leg still ringing, queued, or over", () => {
    const { effects } = run(connectedAs("bob"), [
      conf(ringingForBob),
      conf(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "queued")], { id: "c-2" })),
      conf(ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "completed", "hung-up")], "hung-up", "alice", "c-3")),
    ]);
    expect(resumes(effects)).toEqual([]);
  });

  it("a page with media for the leg does not resume it after a reconnect", () => {
    const { effects } = run(aliceInCall(), [closed(), ...reopened("alice"), conf(live)]);
    expect(resumes(effects)).toEqual([]);
  });

  it("resume is sent again only after the socket reconnects", () => {
    const first = run(connectedAs("alice"), [conf(live), conf(live)]);
    expect(resumes(first.effects)).toHaveLength(1);
    const again = run(first.model, [closed(), ...reopened("alice"), conf(live), conf(live)]);
    expect(resumes(again.effects)).toEqual([{ type: "resume", leg_id: "l-a" }]);
  });
});

describe("resume: media lost", () => {
  it("connected media that fails, on a live leg, is resumed at once (no leg_failed)", () => {
    const [model, effects] = update(aliceInCall(), { type: "media-failed", legId: "l-a", reason: "media" });
    expect(effects).toEqual([
      { type: "stop-media", legId: "l-a" },
      { type: "send", frame: { type: "resume", leg_id: "l-a" } },
    ]);
    expect(model.media.phase).toBe("lost");
    expect(model.notice).toMatch(/lost/);
  });

  it("the resume offer for the lost leg brings the media back", () => {
    const { model, effects } = run(aliceInCall(), [
      { type: "media-failed", legId: "l-a", reason: "media" },
      offer("l-a", { autoAnswer: true, sdp: "again" }),
    ]);
    expect(effects.slice(-2)).toEqual([
      { type: "stop-media", legId: "l-a" },
      { type: "answer-media", conferenceId: "c-1", legId: "l-a", sdp: "again" },
    ]);
    expect(model.media).toMatchObject({ phase: "connecting", legId: "l-a", offerSdp: "again" });
  });

  it("a media loss while disconnected resumes on the first frame after reconnecting", () => {
    const { effects } = run(aliceInCall(), [
      closed(),
      { type: "media-failed", legId: "l-a", reason: "media" },
      ...reopened("alice"),
      conf(live),
    ]);
    expect(resumes(effects)).toEqual([{ type: "resume", leg_id: "l-a" }]);
  });

  it("a second media loss resumes again", () => {
    const { effects } = run(aliceInCall(), [
      { type: "media-failed", legId: "l-a", reason: "media" },
      offer("l-a", { autoAnswer: true, sdp: "again" }),
      { type: "media-answer-ready", legId: "l-a", sdp: "answer" },
      { type: "media-connected", legId: "l-a" },
      { type: "media-failed", legId: "l-a", reason: "media" },
    ]);
    expect(resumes(effects)).toHaveLength(2);
  });

  it("media that stalls (Talkbox killed and back) is resumed at once, keeping the old until the new offer", () => {
    const [model, effects] = update(aliceInCall(), { type: "media-interrupted", legId: "l-a" });
    expect(effects).toEqual([{ type: "send", frame: { type: "resume", leg_id: "l-a" } }]);
    expect(model.media.phase).toBe("lost");
    const [replaced, more] = update(model, offer("l-a", { autoAnswer: true, sdp: "again" }));
    expect(more).toEqual([
      { type: "stop-media", legId: "l-a" },
      { type: "answer-media", conferenceId: "c-1", legId: "l-a", sdp: "again" },
    ]);
    expect(replaced.media.phase).toBe("connecting");
  });

  it("a page that resumed after a reload asks again when that media stalls later", () => {
    const { effects } = run(connectedAs("bob"), [
      conf(live),
      offer("l-b", { autoAnswer: true, sdp: "resumed" }),
      { type: "media-answer-ready", legId: "l-b", sdp: "answer" },
      { type: "media-connected", legId: "l-b" },
      { type: "media-interrupted", legId: "l-b" },
    ]);
    expect(resumes(effects)).toHaveLength(2);
  });

  it("a stall that then fails does not ask twice; one that recovers is connected again", () => {
    const failed = run(aliceInCall(), [
      { type: "media-interrupted", legId: "l-a" },
      { type: "media-failed", legId: "l-a", reason: "media" },
    ]);
    expect(resumes(failed.effects)).toHaveLength(1);
    expect(types(failed.effects)).toContain("stop-media");
    const recovered = run(aliceInCall(), [
      { type: "media-interrupted", legId: "l-a" },
      { type: "media-connected", legId: "l-a" },
    ]);
    expect(recovered.model.media.phase).toBe("connected");
  });

  it("a stall while disconnected (Talkbox killed) resumes on the first frame after reconnecting", () => {
    const { effects } = run(aliceInCall(), [
      closed(1006),
      { type: "media-interrupted", legId: "l-a" },
      ...reopened("alice"),
      conf(live),
    ]);
    expect(resumes(effects)).toEqual([{ type: "resume", leg_id: "l-a" }]);
  });

  it("media that never connected is reported with leg_failed and not resumed", () => {
    const { effects } = run(connectedAs("alice"), [
      { type: "dial-changed", text: "bob" },
      { type: "call-clicked" },
      conf(conference([leg("l-a", "alice", "queued"), leg("l-b", "bob", "queued")])),
      offer("l-a", { autoAnswer: true }),
      conf(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "queued")])),
      { type: "media-failed", legId: "l-a", reason: "media" },
      conf(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "queued")])),
    ]);
    expect(sent(effects)).toEqual([
      { type: "call", to: "bob" },
      { type: "leg_failed", leg_id: "l-a", reason: "media" },
    ]);
  });

  it("Talkbox restarting (1012) drops the media; the first frame after reconnecting resumes it", () => {
    const [down, effects] = update(aliceInCall(), closed(1012));
    expect(effects).toEqual([
      { type: "stop-media", legId: "l-a" },
      { type: "reconnect-later", delayMs: 500 },
    ]);
    expect(down.media.phase).toBe("lost");
    expect(down.conference).toEqual(live);
    const back = run(down, [...reopened("alice"), conf(live)]);
    expect(resumes(back.effects)).toEqual([{ type: "resume", leg_id: "l-a" }]);
  });
});

describe("a draining node moving its pages (4012)", () => {
  it("keeps the call's media, says it is moving, reconnects, and asks for no new media once back", () => {
    const [moving, effects] = update(aliceInCall(), closed(4012));
    expect(effects).toEqual([{ type: "reconnect-later", delayMs: 500 }]);
    expect(moving.media.phase).toBe("connected");
    expect(connectionLine(moving).text).toBe("Moving to another Talkbox server — reconnecting…");
    const back = run(moving, [...reopened("alice"), conf(live)]);
    expect(resumes(back.effects)).toEqual([]);
    expect(back.model.media.phase).toBe("connected");
  });
});

describe("resume: a new offer replaces the media of a leg", () => {
  it("an auto_answer offer for a leg with media stops the old media and answers the new one", () => {
    const [model, effects] = update(aliceInCall(), offer("l-a", { autoAnswer: true, sdp: "restarted" }));
    expect(effects).toEqual([
      { type: "stop-media", legId: "l-a" },
      { type: "answer-media", conferenceId: "c-1", legId: "l-a", sdp: "restarted" },
    ]);
    expect(model.media).toEqual({ phase: "connecting", legId: "l-a", conferenceId: "c-1", offerSdp: "restarted" });
  });

  it("the very offer already answered, sent again, changes nothing", () => {
    const [, effects] = update(aliceInCall(), offer("l-a", { autoAnswer: true, sdp: "first" }));
    expect(effects).toEqual([]);
  });

  it("the answer from the replaced media is not sent; the new one is", () => {
    const { effects } = run(aliceInCall(), [
      offer("l-a", { autoAnswer: true, sdp: "restarted" }),
      { type: "media-answer-ready", legId: "l-a", sdp: "new answer" },
      { type: "media-connected", legId: "l-a" },
    ]);
    expect(sent(effects).slice(-1)[0]).toEqual({ type: "answer", leg_id: "l-a", sdp: "new answer" });
  });
});

describe("which auto_answer offers a page answers", () => {
  const queued = conference([leg("l-a", "alice", "queued"), leg("l-b", "bob", "queued")]);

  it("the page that placed the call answers its leg", () => {
    const { effects } = run(connectedAs("alice"), [
      { type: "dial-changed", text: "bob" },
      { type: "call-clicked" },
      conf(queued),
      offer("l-a", { autoAnswer: true }),
    ]);
    expect(types(effects)).toEqual(["send", "answer-media"]);
  });

  it("an idle second tab does not grab the leg another tab placed", () => {
    const { model, effects } = run(connectedAs("alice"), [conf(queued), offer("l-a", { autoAnswer: true })]);
    expect(effects).toEqual([]);
    expect(model.media.legId).toBeNull();
  });

  it("a page on another call does not answer someone else's auto_answer leg", () => {
    const { effects } = run(aliceInCall(), [offer("l-x", { autoAnswer: true, conferenceId: "c-9" })]);
    expect(effects).toEqual([]);
  });

  it("the page that pressed Rejoin answers the new leg; another idle tab does not", () => {
    const three = (a: ReturnType<typeof leg>, ...more: ReturnType<typeof leg>[]) =>
      conference([a, leg("l-b", "bob", "in-progress"), leg("l-c", "carol", "in-progress"), ...more]);
    const dropped = three(leg("l-a", "alice", "completed", "hung-up"));
    const back = three(leg("l-a", "alice", "completed", "hung-up"), leg("l-a2", "alice", "queued"));
    const here = run(connectedAs("alice"), [conf(dropped), { type: "rejoin-clicked" }, conf(back), offer("l-a2", { autoAnswer: true })]);
    expect(types(here.effects)).toEqual(["send", "answer-media"]);
    const other = run(connectedAs("alice"), [conf(dropped), conf(back), offer("l-a2", { autoAnswer: true })]);
    expect(other.effects).toEqual([]);
  });

  it("after a restart, a page with no media at all answers the server's offer for a live leg", () => {
    const { model, effects } = run(connectedAs("bob"), [offer("l-b", { autoAnswer: true, sdp: "re-offer" })]);
    expect(effects).toEqual([{ type: "answer-media", conferenceId: "c-1", legId: "l-b", sdp: "re-offer" }]);
    expect(model.media.legId).toBe("l-b");
  });

  it("a tab whose leg was answered elsewhere does not answer an offer for it", () => {
    const { effects } = run(connectedAs("bob"), [
      offer("l-b"),
      conf(ringingForBob),
      conf(live),
      closed(1012),
      ...reopened("bob"),
      conf(live),
      offer("l-b", { autoAnswer: true, sdp: "re-offer" }),
    ]);
    expect(types(effects)).not.toContain("answer-media");
    expect(resumes(effects)).toEqual([]);
  });
});

describe("the state on connect", () => {
  it("a reloaded page rings again for a call still ringing, with its conference", () => {
    const { model, effects } = run(connectedAs("bob"), [conf(ringingForBob), offer("l-b", { caller: "alice" })]);
    expect(effects).toEqual([{ type: "start-ringtone" }]);
    expect(model.incoming).toMatchObject({ legId: "l-b", caller: "alice", conference: ringingForBob });
    const [accepted] = update(model, { type: "accept-clicked" });
    expect(accepted.conference).toEqual(ringingForBob);
  });

  it("after a drop and a reconnect, a ringing call rings again", () => {
    const { model, effects } = run(connectedAs("bob"), [
      offer("l-b"),
      conf(ringingForBob),
      closed(),
      ...reopened("bob"),
      conf(ringingForBob),
      offer("l-b"),
    ]);
    expect(types(effects)).toEqual([
      "start-ringtone",
      "stop-ringtone",
      "reconnect-later",
      "use-media",
      "fetch-library",
      "send",
      "start-ringtone",
    ]);
    expect(model.incoming?.legId).toBe("l-b");
    expect(model.ringing).toBe(true);
  });

  it("the call panel stays while disconnected, and after reconnecting", () => {
    const { model } = run(aliceInCall(), [closed()]);
    expect(model.conference).toEqual(live);
    expect(model.connection).toBe("closed");
    const back = run(model, [...reopened("alice"), conf(live)]);
    expect(back.model.conference).toEqual(live);
    expect(back.model.media.phase).toBe("connected");
  });

  const synced = (conferences: string[]): Msg => server({ type: "synced", conferences });

  it("a call the server's state on reconnect does not list ended while disconnected", () => {
    const { model, effects } = run(aliceInCall(), [closed(), ...reopened("alice"), synced([])]);
    expect(effects.slice(-1)[0]).toEqual({ type: "stop-media", legId: "l-a" });
    expect(model.conference).toBeNull();
    expect(model.media.legId).toBeNull();
    expect(model.outcome).toBe("The call ended while Talkbox was disconnected");
  });

  it("nothing is settled by time: a slow state leaves the call on the panel", () => {
    const { model, effects } = run(aliceInCall(), [closed(), ...reopened("alice")]);
    expect(model.conference).toEqual(live);
    expect(types(effects)).not.toContain("stop-media");
  });

  it("a call the server lists stays, whether its frame came before or after", () => {
    const listed = run(aliceInCall(), [closed(), ...reopened("alice"), synced([live.id])]);
    expect(listed.model.conference).toEqual(live);
    const framed = run(aliceInCall(), [closed(), ...reopened("alice"), conf(live), synced([])]);
    expect(framed.model.conference).toEqual(live);
  });

  it("a call on hold that the state does not list ended too, and its media is let go", () => {
    const call = aliceInCall();
    const aside: Model = { ...call, conference: null, media: NO_MEDIA, held: [{ conference: live, media: call.media }] };
    const { model, effects } = run(aside, [closed(), ...reopened("alice"), synced([])]);
    expect(model.held).toEqual([]);
    expect(effects).toContainEqual({ type: "stop-media", legId: "l-a" });
    expect(run(aside, [closed(), ...reopened("alice"), synced([live.id])]).model.held).toHaveLength(1);
  });

  it("another tab's state, made before this page's call began, does not end it", () => {
    const { model } = run(aliceInCall(), [synced([])]);
    expect(model.conference).toEqual(live);
  });
});

describe("the socket closing", () => {
  const line = (m: Model) => connectionLine(m).text;

  it("1012 says Talkbox is restarting; other codes say disconnected; both reconnect", () => {
    const [restarting, e1] = update(connectedAs("alice"), closed(1012));
    expect(line(restarting)).toBe("Talkbox is restarting — reconnecting…");
    expect(types(e1)).toEqual(["reconnect-later"]);
    const [dropped, e2] = update(connectedAs("alice"), closed(1006));
    expect(line(dropped)).toBe("Disconnected — reconnecting…");
    expect(types(e2)).toEqual(["reconnect-later"]);
  });

  it("keeps saying why while it tries again, and Connected once back", () => {
    const { model } = run(connectedAs("alice"), [closed(1012), { type: "socket-connecting" }]);
    expect(line(model)).toBe("Talkbox is restarting — reconnecting…");
    expect(connectionLine(model).state).toBe("connecting");
    const [back] = update(model, { type: "socket-opened" });
    expect(line(back)).toBe("Connected as alice");
    expect(connectionLine(back).state).toBe("open");
    expect(line(update(initialModel(), { type: "socket-opened" })[0])).toBe("Connected");
  });

  it("says Connecting… before the first connection, and Not signed in after 4401", () => {
    expect(line(initialModel())).toBe("Connecting…");
    const [refused, effects] = update(initialModel(), { type: "socket-closed", code: 4401, reason: "bad token" });
    expect(line(refused)).toBe("Not signed in");
    expect(effects).toEqual([]);
  });

  it("a socket drop does not end the call or its media", () => {
    const [model, effects] = update(aliceInCall(), closed(1006));
    expect(types(effects)).toEqual(["reconnect-later"]);
    expect(model.media.phase).toBe("connected");
    expect(model.conference).toEqual(live);
  });
});

describe("two tabs of the same user", () => {
  /** bob's second tab: the call rang here, and was answered in the other tab. */
  function answeredElsewhere() {
    return run(connectedAs("bob"), [offer("l-b", { caller: "alice" }), conf(ringingForBob), conf(live)]);
  }

  it("an incoming call rings in both; answered in one, the other stops ringing and shows the call", () => {
    const { model, effects } = answeredElsewhere();
    expect(types(effects)).toEqual(["start-ringtone", "stop-ringtone"]);
    expect(model.incoming).toBeNull();
    expect(model.ringing).toBe(false);
    expect(model.conference).toEqual(live);
    expect(model.outcome).toBe("Answered in another tab");
    expect(model.media.legId).toBeNull();
    expect(mySide(model, live).inAnotherTab).toBe(true);
  });

  it("the other tab never sends resume for it, on later frames or after a reconnect", () => {
    const { model, effects } = run(answeredElsewhere().model, [conf(live), closed(), ...reopened("bob"), conf(live)]);
    expect(resumes(effects)).toEqual([]);
    expect(model.conference).toEqual(live);
    expect(mySide(model, live).inAnotherTab).toBe(true);
  });

  it("Hang up still works from the other tab", () => {
    const [, effects] = update(answeredElsewhere().model, { type: "hang-up-clicked" });
    expect(effects).toEqual([{ type: "send", frame: { type: "hang_up", conference_id: "c-1" } }]);
  });

  it("the other tab clears the call when it ends, with no media to stop", () => {
    const [model, effects] = update(
      answeredElsewhere().model,
      conf(ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "completed", "hung-up")], "hung-up")),
    );
    expect(effects).toEqual([]);
    expect(model.conference).toBeNull();
    expect(model.outcome).toBe("You hung up");
  });

  it("an idle tab watching my own call placed in another tab goes live without media or resume", () => {
    const { model, effects } = run(connectedAs("alice"), [
      conf(conference([leg("l-a", "alice", "queued"), leg("l-b", "bob", "queued")])),
      offer("l-a", { autoAnswer: true }),
      conf(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "ringing")])),
      conf(live),
    ]);
    expect(effects).toEqual([]);
    expect(model.conference).toEqual(live);
    expect(mySide(model, live).inAnotherTab).toBe(true);
  });

  it("the tab that answered is not shown as in another tab", () => {
    const { model } = run(connectedAs("bob"), [offer("l-b"), conf(ringingForBob), { type: "accept-clicked" }, conf(live)]);
    expect(mySide(model, live).inAnotherTab).toBe(false);
  });
});
