// What the page tells someone who cannot see it, derived from the Model and
// pure: each change of the call's state becomes one polite announcement in
// people's words (an incoming call an urgent one), focus goes where the next
// action is, and the tab's title follows the call. The view only carries it out.
//
// A new part of the page that shows state joins by adding a line to `spoken`
// (and, if it takes focus, a case to `nextAction`).

import { mySide } from "./call";
import { connectionLine } from "./connection";
import { voicemails } from "./library";
import type { HeldCall, MediaPhase, Model } from "./model";
import { signInOffered } from "./model";
import { listOf } from "./names";
import type { Conference, Leg } from "./protocol";
import { isTerminalLeg } from "./protocol";
import { qualityWarning } from "./quality";
import { missedBadge } from "./history";

/** Said once to screen readers: urgent ones interrupt (an incoming call), the others wait their turn. */
export interface Announcement {
  id: number;
  text: string;
  urgent: boolean;
}

/** The controls focus may be sent to. */
export type FocusTarget = "sign-in" | "dial" | "accept" | "hang-up" | "rejoin";

export interface FocusRequest {
  id: number;
  target: FocusTarget;
}

/** The media badge's words, by phase. */
export const MEDIA_WORDS: Record<MediaPhase, string> = {
  idle: "",
  connecting: "Connecting audio…",
  connected: "Audio connected",
  failed: "Audio failed",
  lost: "Audio lost",
};

/** What the media badge says while another page (tab) of mine has the call's media. */
export const IN_ANOTHER_TAB = "In call in another tab";

/**
 * The call's state in words, as the call panel's heading (or, before the
 * call's first frame, the dial box's hint) shows it; "" with no call.
 */
export function callSummary(model: Model): string {
  const conference = model.conference;
  if (conference === null) return model.placing === null ? "" : `Calling ${model.placing}…`;
  const side = mySide(model, conference);
  const others = side.othersLive;
  if (side.onCall && conference.recording === "voicemail") return `Leaving a message for ${voicemailFor(conference)}`;
  if (!side.onCall) return others.length > 0 ? `${names(others)} still on the call` : "Call ended";
  if (model.connection !== "open") {
    return others.length > 0 ? `Reconnecting the call with ${names(others)}…` : "Reconnecting the call…";
  }
  if (others.length === 0) return "Connecting the call…";
  if (side.myLeg?.held === true) return `${conference.chair} put you on hold`;
  const transfer = conference.transfer ?? null;
  if (transfer !== null && transfer.by !== model.me) {
    return transfer.status === "ringing"
      ? `${transfer.by} is transferring you to ${transfer.to}…`
      : `${transfer.to} did not answer: calling ${transfer.by} back…`;
  }
  const onHold = others.filter((leg) => leg.status === "in-progress" && leg.held === true);
  const connected = others.filter((leg) => leg.status === "in-progress" && leg.held !== true);
  const pending = others.filter((leg) => leg.status !== "in-progress");
  const verb = pending.every((leg) => leg.status === "ringing") ? "ringing" : "calling";
  const waiting = pending.length > 0 ? `${verb} ${names(pending)}…` : "";
  const held = onHold.length > 0 ? `${names(onHold)} on hold` : "";
  const rest = [waiting, held].filter((part) => part !== "").join("; ");
  if (connected.length > 0) return `In call with ${names(connected)}${rest ? `; ${rest}` : ""}`;
  if (pending.length === 0 && held) return held.charAt(0).toUpperCase() + held.slice(1);
  if (!side.chair) return `Call with ${names(others)}`;
  return waiting.charAt(0).toUpperCase() + waiting.slice(1);
}

/** Whose voicemail the caller is leaving a message on: the callee, the leg that is not the chair's. */
export function voicemailFor(conference: Conference): string {
  return conference.legs.find((leg) => leg.destination !== conference.chair)?.destination ?? "them";
}

/** The recording line of the call panel: what is recorded now, "" when nothing is. */
export function recordingLine(model: Model): string {
  const conference = model.conference;
  if (conference === null || conference.status === "ended" || !mySide(model, conference).onCall) return "";
  if (conference.recording === "call") return "This call is being recorded";
  if (conference.recording === "voicemail") return "Speak after the tone; hang up when you are done";
  return "";
}

export const RECORDING_STOPPED = "Recording stopped";

/** What the call panel explains while Talkbox cannot be reached; "" otherwise. */
export function callNote(model: Model): string {
  if (model.conference === null || model.connection === "open") return "";
  if (!mySide(model, model.conference).onCall) return "";
  return (
    "Talkbox cannot be reached right now. The call comes back by itself when Talkbox does; " +
    "Hang up leaves it on this page."
  );
}

/** The media badge's words for the call on the panel; "" with none. */
export function audioSummary(model: Model): string {
  const conference = model.conference;
  if (conference === null) return "";
  if (mySide(model, conference).inAnotherTab) return IN_ANOTHER_TAB;
  return model.media.conferenceId === conference.id ? MEDIA_WORDS[model.media.phase] : "";
}

/** Who a call on hold is with, in words ("bob", "bob and carol"). */
export function heldCallName(model: Pick<Model, "me">, call: HeldCall): string {
  const others = mySide({ me: model.me, media: call.media }, call.conference).othersLive;
  return others.length > 0 ? names(others) : "nobody yet";
}

/** The calls on hold, as one line ("On hold: the call with bob"); "" with none. */
export function heldSummary(model: Model): string {
  if (model.held.length === 0) return "";
  return `On hold: ${listOf(model.held.map((call) => `the call with ${heldCallName(model, call)}`))}`;
}

/** The caller of the call ringing here, if one is. */
export function ringingFrom(model: Model): string | null {
  return model.incoming !== null && !model.incoming.rejected ? model.incoming.caller : null;
}

/** What the incoming-call panel says: who calls, and why when it is a transfer coming back to me. */
export function ringingText(model: Model): string | null {
  const caller = ringingFrom(model);
  if (caller === null) return null;
  const transfer = model.incoming?.conference?.transfer ?? null;
  if (transfer !== null && transfer.status === "recalling" && transfer.by === model.me) {
    return `${caller} is calling back: ${transfer.to} did not answer the transfer`;
  }
  return `${caller} is calling`;
}

/** The tab's title: what matters most right now, then the app's name. */
export function pageTitle(model: Model): string {
  const line = titleLine(model);
  return line ? `${line} — Talkbox` : "Talkbox";
}

function titleLine(model: Model): string {
  if (signInOffered(model)) return "Sign in";
  if (model.authFailed) return "Not signed in";
  const caller = ringingFrom(model);
  if (caller !== null) return `${caller} is calling`;
  const call = callSummary(model);
  if (call) return myLeg(model)?.muted ? `${call} (muted)` : call;
  const held = heldSummary(model);
  if (held) return held;
  if (model.connection !== "open") return connectionLine(model).text;
  return model.outcome ?? "";
}

/** Where the user's next action is. */
export function nextAction(model: Model): FocusTarget {
  if (signInOffered(model)) return "sign-in";
  if (ringingFrom(model) !== null) return "accept";
  if (model.conference !== null) {
    const side = mySide(model, model.conference);
    if (side.onCall) return "hang-up";
    if (side.canRejoin) return "rejoin";
  }
  return "dial";
}

export function withFocus(model: Model, target: FocusTarget): Model {
  return { ...model, focus: { id: (model.focus?.id ?? 0) + 1, target } };
}

/**
 * Called by `update` after every message: announces what changed between
 * `before` and `after`, sends focus to where the next action now is, and
 * drops a notice the call has moved past.
 */
export function narrate(before: Model, after: Model): Model {
  let next = after;
  const caller = ringingFrom(after);
  if (caller !== null && caller !== ringingFrom(before)) {
    const recalled = ringingText(after) !== `${caller} is calling`;
    const text = recalled
      ? `${ringingText(after)}: Accept or Reject`
      : after.incoming?.waiting
        ? `Call waiting from ${caller}: Accept puts your call on hold, or Reject`
        : `Call from ${caller}: Accept or Reject`;
    next = announce(next, text, true);
  }
  const said = spoken(before, after);
  if (said.length > 0) next = announce(next, sentences(said), false);
  if (movedOn(before, after) && after.notice !== null && after.notice === before.notice && after.retrying === null) {
    next = { ...next, notice: null };
  }
  const from = nextAction(before);
  const to = nextAction(after);
  // Placing a call (or finding one on reconnecting) leaves focus in the dial box, which adds to it.
  if (from !== to && !(from === "dial" && to === "hang-up")) next = withFocus(next, to);
  return next;
}

/** The lines whose change is spoken, in the order a sighted user reads them. */
function spoken(before: Model, after: Model): string[] {
  const lines: string[] = [];
  const changed = (read: (model: Model) => string): void => {
    const text = read(after);
    if (text !== "" && text !== read(before)) lines.push(text);
  };
  changed(connectionSpoken);
  changed(callSummary);
  changed(audioSummary);
  lines.push(...muteChanges(before.conference, after.conference, after));
  changed(recordingLine);
  changed(heldSummary);
  const sameCall = before.conference !== null && before.conference.id === after.conference?.id;
  if (sameCall && before.conference?.recording === "call" && after.conference?.recording !== "call") {
    if (after.conference?.status === "active") lines.push(RECORDING_STOPPED);
  }
  lines.push(...newVoicemails(before, after));
  changed(qualitySpoken);
  // Recovered only while still measured: a call ending, or its audio lost, is said by its own lines.
  const measured = after.conference !== null && after.media.phase === "connected" && after.quality !== null;
  if (qualitySpoken(before) !== "" && qualitySpoken(after) === "" && measured) {
    lines.push(QUALITY_RECOVERED);
  }
  changed((model) => model.microphoneHelp ?? "");
  if (after.history.missed > before.history.missed) lines.push(missedBadge(after.history.missed));
  changed((model) => (model.ringtoneBlocked ? RINGTONE_BLOCKED : ""));
  return lines;
}

export const QUALITY_RECOVERED = "Call quality is back to normal";

/** Voicemails in the list that were not in it before: not the ones found when the page first lists them. */
function newVoicemails(before: Model, after: Model): string[] {
  if (before.library === null || after.library === null || before.library === after.library) return [];
  const known = new Set(voicemails(before.library).map((v) => v.id));
  return voicemails(after.library)
    .filter((v) => v.isNew && !known.has(v.id))
    .map((v) => `New voicemail from ${v.caller}`);
}

/** What the incoming-call panel says while the browser keeps the ringtone silent. */
export const RINGTONE_BLOCKED = "Your browser is keeping the ringtone silent until you press something on this page.";

/** The quality warning of the call on the panel, "" when it sounds fine. */
export function qualitySpoken(model: Model): string {
  if (model.conference === null || model.media.phase !== "connected") return "";
  return qualityWarning(model.quality);
}

/** The connection line, but for the moment between the socket opening and the server saying who I am. */
function connectionSpoken(model: Model): string {
  return model.connection === "open" && model.me === null ? "" : connectionLine(model).text;
}

/** The call or its audio changed: a notice about the moment before is stale. */
function movedOn(before: Model, after: Model): boolean {
  return callSummary(before) !== callSummary(after) || audioSummary(before) !== audioSummary(after);
}

/** Who was muted or unmuted between two frames of the same call. */
function muteChanges(before: Conference | null, after: Conference | null, model: Model): string[] {
  if (before === null || after === null || before.id !== after.id) return [];
  const mine = myLeg(model);
  return after.legs.flatMap((leg) => {
    const earlier = before.legs.find((l) => l.id === leg.id);
    if (earlier === undefined || earlier.muted === leg.muted || isTerminalLeg(leg.status)) return [];
    const who = leg.id === mine?.id ? "You are" : `${leg.destination} is`;
    return [`${who} ${leg.muted ? "muted" : "unmuted"}`];
  });
}

function myLeg(model: Model): Leg | undefined {
  return model.conference === null ? undefined : mySide(model, model.conference).myLeg;
}

export function announce(model: Model, text: string, urgent = false): Model {
  return { ...model, announcement: { id: (model.announcement?.id ?? 0) + 1, text, urgent } };
}

/** Lines joined into sentences, each ending in its own punctuation or a full stop. */
function sentences(lines: readonly string[]): string {
  return lines.map((line) => (/[.…!?]$/.test(line) ? line : `${line}.`)).join(" ");
}

function names(legs: readonly Leg[]): string {
  return listOf(legs.map((leg) => leg.destination));
}
