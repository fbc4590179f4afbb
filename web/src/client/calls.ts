// What an application sees of a call: the server's conference, read from one
// user's side. Pure, so the embeddable client's view of a call is tested
// without a browser (the page keeps its own, richer model in model.ts).

import type { Conference, Leg } from "../protocol";
import { isPendingLeg, isTerminalLeg } from "../protocol";

/**
 * Where a call stands for this user:
 * - `connecting`: my own outgoing leg is being brought up;
 * - `ringing`: an incoming call rings here, or the people I called are being rung;
 * - `connected`: I am in the call with at least one other party;
 * - `ended`: over for me (`endReason` says why).
 */
export type CallState = "connecting" | "ringing" | "connected" | "ended";

export interface Participant {
  legId: string;
  /** A client name or an E.164 number. */
  name: string;
  status: Leg["status"];
  muted: boolean;
}

export interface Call {
  /** The conference's id: what `accept`, `hangUp`, `mute` and `sendDigits` take. */
  id: string;
  direction: "outgoing" | "incoming";
  /** Who is on the other end: the first person called, or the caller. */
  peer: string;
  state: CallState;
  /** My own leg, once the server has made it. */
  legId: string | null;
  muted: boolean;
  /** Why the call ended for me (the protocol's leg or conference end reasons), null while it goes on. */
  endReason: string | null;
  /** Everyone on the call but me, as the server last said. */
  participants: Participant[];
}

/** My leg: the live one if there is one (a chair who rejoined has an older, ended one), else the latest. */
export function myLeg(conference: Conference, me: string): Leg | undefined {
  const mine = conference.legs.filter((leg) => leg.destination === me);
  return mine.find((leg) => !isTerminalLeg(leg.status)) ?? mine[mine.length - 1];
}

/** The call a conference is for `me`; null when I have no leg on it and am not its chair. */
export function callOf(conference: Conference, me: string): Call | null {
  const leg = myLeg(conference, me);
  const outgoing = conference.chair === me;
  if (leg === undefined && !outgoing) return null;
  const others = conference.legs.filter((other) => other.destination !== me);
  const peer = outgoing ? (others[0]?.destination ?? "") : conference.chair;
  return {
    id: conference.id,
    direction: outgoing ? "outgoing" : "incoming",
    peer,
    ...standing(conference, leg, others, outgoing),
    legId: leg?.id ?? null,
    muted: leg?.muted ?? false,
    participants: others.map((other) => ({
      legId: other.id,
      name: other.destination,
      status: other.status,
      muted: other.muted,
    })),
  };
}

function standing(
  conference: Conference,
  leg: Leg | undefined,
  others: Leg[],
  outgoing: boolean,
): Pick<Call, "state" | "endReason"> {
  if (conference.status === "ended") return { state: "ended", endReason: conference.end_reason ?? leg?.end_reason ?? null };
  if (leg === undefined || isTerminalLeg(leg.status)) return { state: "ended", endReason: leg?.end_reason ?? null };
  if (isPendingLeg(leg.status)) return { state: outgoing ? "connecting" : "ringing", endReason: null };
  if (others.some((other) => other.status === "in-progress")) return { state: "connected", endReason: null };
  return { state: outgoing && others.some((other) => isPendingLeg(other.status)) ? "ringing" : "connected", endReason: null };
}

/** Whether two views of a call differ in anything an application is told about. */
export function changed(before: Call | undefined, after: Call): boolean {
  return before === undefined || JSON.stringify(before) !== JSON.stringify(after);
}

/** The keys a page's keypad has: what the server's `dtmf` frame takes. */
export const DIGITS = /^[0-9*#]+$/;
