// Facts about a conference from my side of it, derived (never stored):
// which leg is mine, whether I am on it, whether I chair it, whether I may rejoin.

import type { Model } from "./model";
import { amChair, findMyLeg } from "./outcome";
import type { Conference, Leg } from "./protocol";
import { isTerminalLeg } from "./protocol";

export interface MySide {
  myLeg: Leg | undefined;
  /** My leg is not over (or the page has no leg of mine to go by). */
  onCall: boolean;
  chair: boolean;
  /** Legs other than mine that are not over. */
  othersLive: Leg[];
  /** I chair it, my leg dropped, and the others go on without me: the page offers to rejoin. */
  canRejoin: boolean;
  /** My leg is live but another page (tab) of mine has its media: this page only watches. */
  inAnotherTab: boolean;
}

export function mySide(
  model: Pick<Model, "me" | "media"> & Partial<Pick<Model, "elsewhere">>,
  conference: Conference,
): MySide {
  const knownLegId = model.media.conferenceId === conference.id ? model.media.legId : null;
  const myLeg = findMyLeg(conference, model.me, knownLegId);
  const onCall = myLeg === undefined || !isTerminalLeg(myLeg.status);
  const chair = amChair(conference, model.me, myLeg);
  const othersLive = conference.legs.filter((leg) => leg !== myLeg && !isTerminalLeg(leg.status));
  // The server ends a conference once a departed chair leaves a single
  // guest behind, so only two or more others make one worth rejoining.
  const canRejoin =
    conference.status !== "ended" && myLeg !== undefined && !onCall && chair && othersLive.length >= 2;
  const inAnotherTab =
    myLeg !== undefined &&
    onCall &&
    model.media.legId !== myLeg.id &&
    (model.elsewhere ?? []).includes(myLeg.id);
  return { myLeg, onCall, chair, othersLive, canRejoin, inAnotherTab };
}

/**
 * An attended transfer under way: I chair the call, hold one party (`held`) and
 * talk to the others I added (`to`); null otherwise.
 */
export function transferOf(model: Pick<Model, "me" | "media">, conference: Conference): { held: Leg; to: Leg[] } | null {
  const side = mySide(model, conference);
  if (!side.chair || !side.onCall || conference.status === "ended") return null;
  const held = side.othersLive.filter((leg) => leg.held === true && leg.held_by_chair === true);
  const to = side.othersLive.filter((leg) => leg.held !== true);
  const first = held[0];
  return held.length === 1 && first !== undefined && to.length > 0 ? { held: first, to } : null;
}

/**
 * What the dial box does now:
 * - `call`: I am not on a call (or my leg dropped): it places a call;
 * - `add`: I am on a call I chair: it adds someone to it;
 * - `hidden`: I am a guest on someone's call: I cannot add, so it goes.
 */
export type DialMode = "call" | "add" | "hidden";

export function dialMode(model: Pick<Model, "me" | "media" | "conference">): DialMode {
  const conference = model.conference;
  if (conference === null || conference.status === "ended") return "call";
  const side = mySide(model, conference);
  if (!side.onCall) return "call";
  // Leaving a voicemail: there is nobody to add anyone to.
  return side.chair && conference.recording !== "voicemail" ? "add" : "hidden";
}

/** The dial form's submit button, by mode (its accessible name). */
export function dialButtonLabel(mode: DialMode): "Call" | "Add" {
  return mode === "add" ? "Add" : "Call";
}

/**
 * Whether I may transfer the call on the panel: my leg and one other, both in
 * progress, no transfer under way, and the call mine (I chair it, or I took a
 * telephone's call: its number chairs). The server checks the same.
 */
export function canTransfer(model: Pick<Model, "me" | "media" | "elsewhere">, conference: Conference): boolean {
  const side = mySide(model, conference);
  const mine = side.myLeg;
  if (mine === undefined || mine.status !== "in-progress" || side.inAnotherTab) return false;
  if (conference.status === "ended" || (conference.transfer ?? null) !== null) return false;
  const [other, ...more] = side.othersLive;
  if (other === undefined || more.length > 0 || other.status !== "in-progress") return false;
  return side.chair || isNumber(conference.chair);
}

/**
 * The participants I may transfer out of a call of more than two: I chair it and am on it here, and each is
 * connected and not on hold. Each leaves for a call of its own with whoever I type; the rest of us talk on.
 * The server checks the same.
 */
export function transferableOut(model: Pick<Model, "me" | "media" | "elsewhere">, conference: Conference): Leg[] {
  const side = mySide(model, conference);
  const mine = side.myLeg;
  if (mine === undefined || mine.status !== "in-progress" || side.inAnotherTab || !side.chair) return [];
  if (conference.status === "ended" || (conference.transfer ?? null) !== null || side.othersLive.length < 2) return [];
  return side.othersLive.filter((leg) => leg.status === "in-progress" && leg.held !== true);
}

/** Whether the keypad is offered: my own leg is connected on this page. */
export function canUseKeypad(model: Pick<Model, "me" | "media" | "elsewhere">, conference: Conference): boolean {
  const side = mySide(model, conference);
  return side.myLeg?.status === "in-progress" && !side.inAnotherTab;
}

/** A telephone's number (or a withheld one), as a telephone chair shows: not a page's name. */
function isNumber(destination: string): boolean {
  return destination.startsWith("+") || destination.startsWith("(");
}

/** The keys of the keypad, in its order, with their accessible names. */
export const KEYPAD: readonly { digit: string; label: string }[] = [
  ..."123456789".split("").map((digit) => ({ digit, label: digit })),
  { digit: "*", label: "Star" },
  { digit: "0", label: "0" },
  { digit: "#", label: "Pound" },
];

/** Whether the dial box can reach telephone numbers (Twilio); the built-in engine calls names only. */
export function canDialNumbers(model: Pick<Model, "provider">): boolean {
  return model.provider === "twilio";
}

/** The dial box's example: only what can be dialled. */
export function dialPlaceholder(model: Pick<Model, "provider">, mode: DialMode): string {
  const name = mode === "add" ? "carol" : "bob";
  return canDialNumbers(model) ? `${name} or +441234567890` : name;
}

/** The dial box's label, by mode: it says what the box does. */
export function dialLabel(mode: DialMode): string {
  return mode === "add" ? "Add to the call" : "Call to";
}
