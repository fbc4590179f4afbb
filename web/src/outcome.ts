// How a call ended, in words, from the point of view of the person reading it.
// Pure functions of a conference and who I am: no DOM, no clock.

import type { Conference, LegEndReason, Leg, LegStatus } from "./protocol";
import { isTerminalLeg } from "./protocol";

/**
 * My leg in a conference: the one with a known id if given, else the live one
 * whose destination is my name, else the last one whose destination is my name.
 */
export function findMyLeg(
  conference: Conference,
  me: string | null,
  knownLegId?: string | null,
): Leg | undefined {
  if (knownLegId) {
    const known = conference.legs.find((leg) => leg.id === knownLegId);
    if (known) return known;
  }
  if (me === null) return undefined;
  const mine = conference.legs.filter((leg) => leg.destination === me);
  return mine.find((leg) => !isTerminalLeg(leg.status)) ?? mine[mine.length - 1];
}

/** The chairperson's name (the protocol sends a name; tolerate a leg id too). */
export function chairName(conference: Conference): string {
  const leg = conference.legs.find((l) => l.id === conference.chair);
  return leg ? leg.destination : conference.chair;
}

export function amChair(conference: Conference, me: string | null, myLeg?: Leg): boolean {
  if (me !== null && conference.chair === me) return true;
  return myLeg !== undefined && conference.chair === myLeg.id;
}

/**
 * Short words for a leg's state, for the call panel: how far it got while
 * live, or that it left and why (a muted leg also shows a "muted" badge).
 */
export function describeLegStatus(leg: Pick<Leg, "status" | "end_reason" | "held" | "held_by_chair">): string {
  if (leg.status === "in-progress" && leg.held === true) return leg.held_by_chair ? "on hold" : "on hold (away)";
  const live: Partial<Record<LegStatus, string>> = {
    queued: "waiting",
    initiated: "calling",
    ringing: "ringing",
    "in-progress": "in call",
  };
  const word = live[leg.status];
  if (word !== undefined) return word;
  const reason = (leg.end_reason && REASON_WORDS[leg.end_reason as LegEndReason]) || STATUS_WORDS[leg.status];
  return reason ? `left (${reason})` : "left";
}

const REASON_WORDS: Record<LegEndReason, string> = {
  "hung-up": "hung up",
  ended: "call over",
  rejected: "declined",
  "in-another-call": "busy on another call",
  removed: "removed",
  timeout: "no answer",
  unavailable: "unavailable",
  media: "media failed",
  microphone: "no microphone",
  "caller-canceled": "canceled",
  "chair-unreachable": "never rung",
  lost: "lost when Talkbox restarted",
  "server-restart": "cut off by a restart",
  // Twilio's words: "received a busy signal"; "no answer or the call was rejected".
  "busy-signal": "busy",
  "not-answered": "not answered",
  forbidden: "refused by the carrier",
  "not-found": "no such number",
  "address-incomplete": "number incomplete",
  "not-allowed": "not allowed from here",
  "voicemail-full": "message at its longest",
  dnd: "not to be disturbed",
  transferred: "transferred the call",
  "transfer-failed": "transfer not answered",
  "answered-elsewhere": "answered elsewhere",
  "provider-error": "could not be placed",
};

/** A live leg whose page never came back after a restart of Talkbox. */
export const LOST_TEXT = "The call was lost when Talkbox restarted";
/** A leg still ringing or connecting when Talkbox went down. */
export const SERVER_RESTART_TEXT = "Talkbox restarted before the call connected";

const STATUS_WORDS: Partial<Record<LegStatus, string>> = {
  busy: "busy",
  "no-answer": "no answer",
  canceled: "canceled",
  failed: "failed",
};

/**
 * Words for another party's leg that has just ended while the call goes on
 * (someone hung up, was removed, or an added person did not come), from my
 * side; null when it needs none (Talkbox ending legs as the call winds down).
 */
export function describeDeparture(conference: Conference, me: string | null, leg: Leg, myLeg?: Leg): string | null {
  const name = leg.destination;
  switch (leg.end_reason) {
    case "hung-up":
      return `${name} hung up`;
    case "removed": {
      const chair = amChair(conference, me, myLeg);
      if (leg.status === "canceled") {
        return chair ? `You canceled the call to ${name}` : `${chairName(conference)} canceled the call to ${name}`;
      }
      return chair ? `You removed ${name} from the call` : `${chairName(conference)} removed ${name} from the call`;
    }
    case "rejected":
      return `${name} declined`;
    case "busy-signal":
      return `${name} is busy`;
    case "in-another-call":
      return `${name} is busy on another call`;
    case "timeout":
    case "not-answered":
      return `${name} did not answer`;
    case "unavailable":
      return `${name} is unavailable`;
    case "microphone":
      return `The call to ${name} could not be connected (no microphone at their end)`;
    case "media":
      return `The call to ${name} could not be connected`;
    case "lost":
      return `${name} was cut off when Talkbox restarted`;
    case "server-restart":
      return `The call to ${name} could not be connected (Talkbox restarted)`;
    case "ended":
    case "caller-canceled":
    case "chair-unreachable":
      return null;
  }
  switch (leg.status) {
    case "busy":
      return `${name} is busy`;
    case "no-answer":
      return `${name} did not answer`;
    case "failed":
      return `The call to ${name} could not be connected`;
    case "completed":
      return `${name} left the call`;
    default:
      return null;
  }
}

/**
 * The human text of how a call ended for `me`, from the conference's final
 * state (status "ended"), or from a still-active conference in which my own
 * leg has ended (I left a conference that goes on).
 *
 * `knownLegId` is my leg's id when the page knows it (from an offer).
 */
export function describeOutcome(
  conference: Conference,
  me: string | null,
  knownLegId?: string | null,
): string {
  const myLeg = findMyLeg(conference, me, knownLegId);
  const others = conference.legs.filter((leg) => leg !== myLeg);
  const chair = amChair(conference, me, myLeg);
  const reason = conference.status === "ended" ? conference.end_reason : null;

  const restart = restartOutcome(conference, myLeg, others);
  if (restart !== null) return restart;
  const transfer = transferOutcome(conference, myLeg, others);
  if (transfer !== null) return transfer;

  // A conference that goes on without me: my own leg tells the story.
  if (reason === null) {
    return chair ? fromMyLegAsCaller(myLeg) : fromMyLegAsCallee(chairName(conference), myLeg);
  }

  return chair
    ? callerOutcome(reason, myLeg, others)
    : calleeOutcome(reason, chairName(conference), myLeg, others);
}

type Reason = NonNullable<Conference["end_reason"]>;

/** I handed the call on (the leg that rang for it is the newest), or it came back to me and ended. */
function transferOutcome(conference: Conference, myLeg: Leg | undefined, others: Leg[]): string | null {
  if (myLeg?.end_reason === "transferred") {
    const target = conference.transfer?.to ?? others[others.length - 1]?.destination;
    const waiting = others.find((leg) => !isTerminalLeg(leg.status) && leg.destination !== target);
    if (target === undefined) return "You transferred the call";
    return waiting ? `You transferred ${waiting.destination} to ${target}` : `You transferred the call to ${target}`;
  }
  if (myLeg?.end_reason === "transfer-failed") return "The transfer was not answered, and nobody took the call back";
  return null;
}

/**
 * A call that a restart of Talkbox ended: my own leg was lost or cut off;
 * or the call is over, another leg was, and nobody hung up or was removed.
 */
function restartOutcome(conference: Conference, myLeg: Leg | undefined, others: Leg[]): string | null {
  const text = (reason: string | null | undefined): string | null =>
    reason === "lost" ? LOST_TEXT : reason === "server-restart" ? SERVER_RESTART_TEXT : null;
  const mine = text(myLeg?.end_reason);
  if (mine !== null || conference.status !== "ended") return mine;
  if (others.some((leg) => leg.end_reason === "hung-up" || leg.end_reason === "removed")) return null;
  if (myLeg?.end_reason === "hung-up") return null;
  return text(others.find((leg) => text(leg.end_reason) !== null)?.end_reason);
}

/** The other leg that best explains the end, by leg end reasons (then statuses). */
function explaining(others: Leg[], reasons: LegEndReason[], statuses: LegStatus[] = []): Leg | undefined {
  return (
    others.find((leg) => leg.end_reason !== null && (reasons as readonly string[]).includes(leg.end_reason)) ??
    others.find((leg) => statuses.includes(leg.status))
  );
}

function nameOf(leg: Leg | undefined, others: Leg[]): string {
  return leg?.destination ?? others[0]?.destination ?? "The other party";
}

function callerOutcome(reason: Reason, myLeg: Leg | undefined, others: Leg[]): string {
  switch (reason) {
    case "hung-up": {
      if (myLeg?.end_reason === "hung-up") return "You hung up";
      const who = explaining(others, ["hung-up"]);
      if (who) return `${who.destination} hung up`;
      const removed = explaining(others, ["removed"]);
      return removed ? `You removed ${removed.destination} from the call` : "Call ended";
    }
    case "canceled":
      return "Call canceled";
    case "busy": {
      const who = explaining(others, ["rejected", "in-another-call"], ["busy"]);
      const name = nameOf(who, others);
      if (who?.end_reason === "rejected") return `${name} declined`;
      return who?.end_reason === "in-another-call" ? `${name} is busy on another call` : `${name} is busy`;
    }
    case "no-answer":
      return `${nameOf(explaining(others, ["timeout"], ["no-answer"]), others)} did not answer`;
    case "unavailable":
      return `${nameOf(explaining(others, ["unavailable"]), others)} is unavailable`;
    case "failed":
      return calleeFailedForCaller(
        explaining(
          others,
          ["media", "microphone", "unavailable", "forbidden", "not-found", "address-incomplete", "not-allowed"],
          ["failed"],
        ),
        others,
        myLeg,
      );
    case "chair-unreachable":
      return "Your line could not be connected (chairperson cannot be reached)";
    case "voicemail": {
      const saved = `Your message for ${nameOf(undefined, others)} was left`;
      return myLeg?.end_reason === "voicemail-full" ? `${saved} (it reached the longest a message can be)` : saved;
    }
    default:
      return fromMyLegAsCaller(myLeg);
  }
}

function calleeFailedForCaller(leg: Leg | undefined, others: Leg[], myLeg: Leg | undefined): string {
  // My own leg failed (rare with the chair rules, but possible).
  if (!leg && myLeg?.status === "failed") return myLineFailed(myLeg);
  const name = nameOf(leg, others);
  switch (leg?.end_reason) {
    case "unavailable":
      return `${name} is unavailable`;
    case "microphone":
      return `The call to ${name} could not be connected (no microphone at their end)`;
    case "forbidden":
      return `The carrier refused the call to ${name}`;
    case "not-found":
      return `${name} is not a number in service`;
    case "address-incomplete":
      return `${name} is incomplete`;
    case "not-allowed":
      return `${name} may not be dialled from this Talkbox`;
    default:
      return `The call to ${name} could not be connected`;
  }
}

function myLineFailed(myLeg: Leg): string {
  return myLeg.end_reason === "microphone"
    ? "Your line could not be connected (no microphone)"
    : "Your line could not be connected";
}

function calleeOutcome(reason: Reason, caller: string, myLeg: Leg | undefined, others: Leg[]): string {
  const mine = myLeg?.end_reason ?? null;
  switch (reason) {
    case "hung-up": {
      if (mine === "removed") return `${caller} removed you from the call`;
      if (mine === "hung-up") return "You hung up";
      const who = explaining(others, ["hung-up"]);
      return who ? `${who.destination} hung up` : `${caller} hung up`;
    }
    case "canceled":
      return `${caller} ended the call before it could be connected`;
    case "busy":
      if (mine === "in-another-call") return `Missed call from ${caller} (you were on another call)`;
      if (mine === "busy-signal") return `Missed call from ${caller} (the line was busy)`;
      if (myLeg === undefined || myLeg.status === "busy") return "You declined the call";
      const who = explaining(others, ["rejected"], ["busy"]);
      return `${nameOf(who, others)} ${who?.end_reason === "rejected" ? "declined" : "is busy"}`;
    case "no-answer":
      if (mine === "not-answered") return `The call from ${caller} was not answered`;
      if (myLeg === undefined || myLeg.status === "no-answer") return `Missed call from ${caller}`;
      return `${nameOf(explaining(others, ["timeout"], ["no-answer"]), others)} did not answer`;
    case "unavailable":
      if (myLeg === undefined || mine === "unavailable") return `Missed call from ${caller}`;
      return `${nameOf(explaining(others, ["unavailable"]), others)} is unavailable`;
    case "failed":
      if (mine === "microphone") return `The call from ${caller} could not be connected (no microphone)`;
      return `The call from ${caller} could not be connected`;
    case "chair-unreachable":
      return `The call from ${caller} could not be connected`;
    default:
      return fromMyLegAsCallee(caller, myLeg);
  }
}

/** I am the chair and my leg ended while the conference goes on. */
function fromMyLegAsCaller(myLeg: Leg | undefined): string {
  if (!myLeg || !isTerminalLeg(myLeg.status)) return "Call ended";
  switch (myLeg.end_reason) {
    case "hung-up":
      return "You hung up";
    case "microphone":
    case "media":
    case "chair-unreachable":
      return myLineFailed(myLeg);
    default:
      return "Call ended";
  }
}

/** I am not the chair and my leg ended while the conference goes on. */
function fromMyLegAsCallee(caller: string, myLeg: Leg | undefined): string {
  if (!myLeg || !isTerminalLeg(myLeg.status)) return "Call ended";
  switch (myLeg.end_reason) {
    case "hung-up":
      return "You hung up";
    case "ended":
      return "Call ended";
    case "removed":
      return myLeg.status === "canceled"
        ? `${caller} ended the call before it could be connected`
        : `${caller} removed you from the call`;
    case "rejected":
      return "You declined the call";
    case "in-another-call":
      return `Missed call from ${caller} (you were on another call)`;
    case "busy-signal":
      return `Missed call from ${caller} (the line was busy)`;
    case "not-answered":
      return `The call from ${caller} was not answered`;
    case "timeout":
    case "unavailable":
      return `Missed call from ${caller}`;
    case "caller-canceled":
      return `${caller} ended the call before it could be connected`;
    case "microphone":
      return `The call from ${caller} could not be connected (no microphone)`;
    case "media":
    case "chair-unreachable":
      return `The call from ${caller} could not be connected`;
    default:
      return "Call ended";
  }
}
