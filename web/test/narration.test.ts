// What a screen-reader user is told and where focus goes (narration.ts, run by
// update): each change of the call's state announced once, in words, the
// title following it; focus where the next action is.

import { describe, expect, it } from "vitest";
import type { Effect, Model, Msg } from "../src/model";
import { initialModel } from "../src/model";
import { dialLabel, dialPlaceholder } from "../src/call";
import { connectionLine } from "../src/connection";
import { NAME_RULE, nameProblem } from "../src/names";
import { nextAction, pageTitle } from "../src/narration";
import { pageIdentity, signInQuery } from "../src/socket";
import { update } from "../src/update";
import { conf, conference, connectedAs, ended, leg, offer, server } from "./fixtures";

interface Step {
  /** The announcement this message made, if it made one. */
  said: string | null;
  urgent: boolean;
  /** Where this message sent focus, if it did. */
  focus: string | null;
  title: string;
  effects: Effect[];
}

/** Runs msgs in order, recording what each one announced, where it sent focus and the title after it. */
function narrate(model: Model, msgs: Msg[]): { model: Model; steps: Step[] } {
  const steps: Step[] = [];
  let current = model;
  for (const msg of msgs) {
    const [next, effects] = update(current, msg);
    const said = next.announcement !== null && next.announcement.id !== current.announcement?.id;
    const focused = next.focus !== null && next.focus.id !== current.focus?.id;
    steps.push({
      said: said ? next.announcement!.text : null,
      urgent: said ? next.announcement!.urgent : false,
      focus: focused ? next.focus!.target : null,
      title: pageTitle(next),
      effects,
    });
    current = next;
  }
  return { model: current, steps };
}

const spoken = (steps: Step[]) => steps.flatMap((step) => (step.said === null ? [] : [step.said]));
const focuses = (steps: Step[]) => steps.flatMap((step) => (step.focus === null ? [] : [step.focus]));
const sent = (effects: Effect[]) => effects.flatMap((e) => (e.type === "send" ? [e.frame] : []));

const queued = conference([leg("l-a", "alice", "queued"), leg("l-b", "bob", "queued")]);
const chairUp = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "initiated")]);
const ringingBob = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "ringing")]);
const live = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress")]);
const bobHungUp = ended(
  [leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "completed", "hung-up")],
  "hung-up",
);

/** The caller's whole call, from typing bob to bob hanging up. */
const aliceCalls: Msg[] = [
  { type: "dial-changed", text: "bob" },
  { type: "dial-submitted" },
  conf(queued),
  offer("l-a", { autoAnswer: true }),
  { type: "media-answer-ready", legId: "l-a", sdp: "answer" },
  conf(chairUp),
  { type: "media-connected", legId: "l-a" },
  conf(ringingBob),
  conf(ringingBob),
  conf(live),
  conf(live),
];

function aliceInCall(): Model {
  return narrate(connectedAs("alice"), aliceCalls).model;
}

describe("the caller is told each step once, politely, and the title follows", () => {
  it("from dialling to connected", () => {
    const { steps } = narrate(connectedAs("alice"), aliceCalls);
    expect(spoken(steps)).toEqual([
      "Calling bob…",
      "Connecting audio…",
      "Audio connected.",
      "Ringing bob…",
      "In call with bob.",
    ]);
    expect(steps.every((step) => !step.urgent)).toBe(true);
    expect(steps.map((step) => step.title)).toContain("Ringing bob… — Talkbox");
    expect(steps[steps.length - 1]?.title).toBe("In call with bob — Talkbox");
    // Placing the call leaves focus in the dial box, which now adds to the call.
    expect(focuses(steps)).toEqual([]);
  });

  it("the end is said by the status line alone, the title shows it, and focus goes back to the dial box", () => {
    const { model, steps } = narrate(aliceInCall(), [conf(bobHungUp)]);
    expect(model.outcome).toBe("bob hung up");
    // Nothing else speaks over the status line (a role=status region).
    expect(spoken(steps)).toEqual([]);
    expect(focuses(steps)).toEqual(["dial"]);
    expect(steps[0]?.title).toBe("bob hung up — Talkbox");
  });

  it("the same frame twice says nothing the second time", () => {
    const speaking = server({ type: "speaking", conference_id: "c-1", legs: ["l-b"] });
    const { steps } = narrate(aliceInCall(), [conf(live), conf(live), speaking]);
    expect(spoken(steps)).toEqual([]);
  });

  it("a conference: who joins, who is ringing, who is muted", () => {
    const carolRinging = conference([...live.legs, leg("l-c", "carol", "ringing")]);
    const carolIn = conference([...live.legs, leg("l-c", "carol", "in-progress")]);
    const carolMuted = conference([...live.legs, { ...leg("l-c", "carol", "in-progress"), muted: true }]);
    const meMuted = conference([{ ...leg("l-a", "alice", "in-progress"), muted: true }, ...carolMuted.legs.slice(1)]);
    const frames = [carolRinging, carolIn, carolMuted, meMuted, carolIn].map(conf);
    const { steps } = narrate(aliceInCall(), frames);
    expect(spoken(steps)).toEqual([
      "In call with bob; ringing carol…",
      "In call with bob and carol.",
      "carol is muted.",
      "You are muted.",
      "You are unmuted. carol is unmuted.",
    ]);
    expect(steps[3]?.title).toBe("In call with bob and carol (muted) — Talkbox");
  });
});

describe("the callee", () => {
  const ringing = conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "ringing")]);

  it("hears an incoming call urgently, whatever has focus, and focus is offered to Accept", () => {
    const { steps } = narrate(connectedAs("bob"), [conf(ringing), offer("l-b")]);
    expect(steps[1]).toMatchObject({ said: "Call from alice: Accept or Reject", urgent: true, focus: "accept" });
    expect(steps[1]?.title).toBe("alice is calling — Talkbox");
  });

  it("after Accept focus goes to Hang up, and the call is announced", () => {
    const { steps } = narrate(connectedAs("bob"), [
      conf(ringing),
      offer("l-b"),
      { type: "accept-clicked" },
      { type: "media-answer-ready", legId: "l-b", sdp: "answer" },
      conf(live),
      { type: "media-connected", legId: "l-b" },
    ]);
    expect(focuses(steps)).toEqual(["accept", "hang-up"]);
    expect(spoken(steps)).toEqual([
      "Call from alice: Accept or Reject",
      "In call with alice. Connecting audio…",
      "Audio connected.",
    ]);
  });

  it("after Reject focus goes to the dial box", () => {
    const { steps } = narrate(connectedAs("bob"), [conf(ringing), offer("l-b"), { type: "reject-clicked" }]);
    expect(focuses(steps)).toEqual(["accept", "dial"]);
  });

  it("after the other side hangs up focus goes to the dial box", () => {
    const { steps } = narrate(connectedAs("bob"), [
      conf(ringing),
      offer("l-b"),
      { type: "accept-clicked" },
      conf(live),
      conf(ended([leg("l-a", "alice", "completed", "hung-up"), leg("l-b", "bob", "completed", "ended")], "hung-up")),
    ]);
    expect(focuses(steps)).toEqual(["accept", "hang-up", "dial"]);
  });
});

describe("the connection", () => {
  it("is announced once it knows who I am, and again when it drops", () => {
    const { steps } = narrate(initialModel(), [
      { type: "socket-opened" },
      server({ type: "welcome", user: "alice", provider: "builtin", ice_servers: [] }),
      { type: "socket-closed", code: 1006, reason: "" },
      { type: "socket-connecting" },
    ]);
    expect(spoken(steps)).toEqual(["Connected as alice.", "Disconnected — reconnecting…"]);
    expect(steps[3]?.title).toBe("Disconnected — reconnecting… — Talkbox");
  });
});

describe("a restart of Talkbox", () => {
  it("is announced, shown as reconnecting, and the call's return announced", () => {
    const { steps } = narrate(aliceInCall(), [
      { type: "socket-closed", code: 1012, reason: "" },
      { type: "socket-connecting" },
      { type: "socket-opened" },
      server({ type: "welcome", user: "alice", provider: "builtin", ice_servers: [] }),
      conf(live),
      offer("l-a", { autoAnswer: true, sdp: "resumed" }),
      { type: "media-answer-ready", legId: "l-a", sdp: "answer" },
      { type: "media-connected", legId: "l-a" },
    ]);
    expect(spoken(steps)).toEqual([
      "Talkbox is restarting — reconnecting… Reconnecting the call with bob… Audio lost.",
      "Connected as alice. In call with bob.",
      "Connecting audio…",
      "Audio connected.",
    ]);
    expect(steps[0]?.title).toBe("Reconnecting the call with bob… — Talkbox");
    expect(steps[steps.length - 1]?.title).toBe("In call with bob — Talkbox");
  });
});

describe("a restart that outlasts the first reconnect", () => {
  it("still says Talkbox is restarting while attempts find it down, and is not announced again", () => {
    const { model, steps } = narrate(aliceInCall(), [
      { type: "socket-closed", code: 1012, reason: "" },
      { type: "socket-connecting" },
      { type: "socket-closed", code: 1006, reason: "" },
      { type: "socket-connecting" },
      { type: "socket-closed", code: 1006, reason: "" },
    ]);
    expect(connectionLine(model).text).toBe("Talkbox is restarting — reconnecting…");
    expect(spoken(steps).filter((words) => words.includes("Disconnected"))).toEqual([]);
  });

  it("a drop after the server came back is a new story", () => {
    const { model } = narrate(aliceInCall(), [
      { type: "socket-closed", code: 1012, reason: "" },
      { type: "socket-connecting" },
      { type: "socket-opened" },
      { type: "socket-closed", code: 1006, reason: "" },
    ]);
    expect(connectionLine(model).text).toBe("Disconnected — reconnecting…");
  });
});

describe("the disconnected state does not trap the user", () => {
  const offline = (): Model => update(aliceInCall(), { type: "socket-closed", code: 1006, reason: "" })[0];

  it("Mute while offline sends nothing and says why", () => {
    const [model, effects] = update(offline(), { type: "mute-clicked", legId: "l-a" });
    expect(sent(effects)).toEqual([]);
    expect(model.notice).toBe("Talkbox cannot be reached right now: try again once it is back");
  });

  it("Hang up while offline leaves on this page, and hangs up once Talkbox is back", () => {
    const { model, steps } = narrate(offline(), [
      { type: "hang-up-clicked" },
      { type: "socket-connecting" },
      { type: "socket-opened" },
      server({ type: "welcome", user: "alice", provider: "builtin", ice_servers: [] }),
      conf(live),
      conf(live),
    ]);
    expect(steps[0]?.effects).toEqual([{ type: "stop-media", legId: "l-a" }]);
    expect(steps[0]?.focus).toBe("dial");
    expect(model.conference).toBeNull();
    expect(model.outcome).toBe("You left the call. Talkbox will end it for you once it can be reached");
    const hangUps = steps.flatMap((step) => sent(step.effects)).filter((frame) => frame.type !== "directory");
    expect(hangUps).toEqual([{ type: "hang_up", conference_id: "c-1" }]);
    // The call stays gone: nothing sends focus or media back to it.
    expect(steps.slice(1).every((step) => step.effects.every((e) => e.type !== "answer-media"))).toBe(true);
    const [after] = update(model, conf(bobHungUp));
    expect(after.leftOffline).toEqual([]);
    expect(after.conference).toBeNull();
  });
});

describe("the dial box in a call", () => {
  it("is cleared once the call is placed, and in add mode says what it does", () => {
    const model = aliceInCall();
    expect(model.dialText).toBe("");
    expect(dialLabel("add")).toBe("Add to the call");
    expect(dialLabel("call")).toBe("Call to");
  });

  it("a refusal goes once the call moves on", () => {
    const ringingCall = narrate(connectedAs("alice"), aliceCalls.slice(0, 9)).model;
    const refusal = server({ type: "refused", code: "already_in_call", message: "bob is already on the call" });
    const [refused] = update(ringingCall, refusal);
    expect(refused.notice).toBe("bob is already on the call");
    const [connected] = update(refused, conf(live));
    expect(connected.notice).toBeNull();
  });

  it("suggests only what can be dialled", () => {
    expect(dialPlaceholder({ provider: "builtin" }, "call")).toBe("bob");
    expect(dialPlaceholder({ provider: null }, "add")).toBe("carol");
    expect(dialPlaceholder({ provider: "twilio" }, "call")).toBe("bob or +441234567890");
    const [model] = update(connectedAs("alice"), { type: "dial-submitted" });
    expect(model.notice).toBe("Type the name of the person to call");
  });
});

describe("the first visit", () => {
  it("a name that cannot be used is explained in people's words, said, and focus stays on it", () => {
    const start = initialModel({ identityMissing: true });
    const { model, steps } = narrate(start, [{ type: "sign-in-submitted", name: "bob smith" }]);
    const problem = `A name cannot contain spaces: use only ${NAME_RULE}`;
    expect(model.signIn).toEqual({ name: "bob smith", problem });
    expect(steps[0]).toMatchObject({ said: problem, focus: "sign-in", effects: [] });
    // Pressing Sign in again says it again.
    expect(narrate(model, [{ type: "sign-in-submitted", name: "bob smith" }]).steps[0]?.said).toBe(problem);
  });

  it("a good name opens the page as that name, the URL's other parameters kept", () => {
    const [, effects] = update(initialModel({ identityMissing: true }), { type: "sign-in-submitted", name: " carol " });
    expect(effects).toEqual([{ type: "sign-in", name: "carol" }]);
    expect(signInQuery("?audio_processing=off", "carol")).toBe("?audio_processing=off&client_name=carol");
  });

  it("a bad name in the URL starts at the sign-in form with the problem, not connected", () => {
    expect(pageIdentity("?client_name=b%3Cb%3E")).toEqual({
      identityMissing: true,
      signInName: "b<b>",
      signInProblem: `A name cannot contain “<” and “>”: use only ${NAME_RULE}`,
    });
    expect(pageIdentity("?client_name=bob")).toEqual({ identityMissing: false });
    expect(pageIdentity("")).toEqual({ identityMissing: true });
    const model = initialModel(pageIdentity("?client_name=b%3Cb%3E"));
    expect(model.connection).toBe("closed");
    expect(model.focus?.target).toBe("sign-in");
    expect(pageTitle(model)).toBe("Sign in — Talkbox");
  });

  it("a server that signs in by token only does not offer the name form", () => {
    const [byToken] = update(initialModel(), { type: "socket-closed", code: 4401, reason: "a token is required" });
    expect(nextAction(byToken)).toBe("dial");
    expect(pageTitle(byToken)).toBe("Not signed in — Talkbox");
    const [byName] = update(initialModel(), { type: "socket-closed", code: 4401, reason: "client_name must be …" });
    expect(nextAction(byName)).toBe("sign-in");
    expect(pageTitle(byName)).toBe("Sign in — Talkbox");
  });

  it("names: empty, too long", () => {
    expect(nameProblem("")).toBe("Type a name: it is what others type to call you");
    expect(nameProblem("a".repeat(65))).toBe("That name has 65 characters: use at most 64");
    expect(nameProblem("alice.b-c_1")).toBeNull();
  });
});
