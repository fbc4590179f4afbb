// The call history, as the server keeps it: pages of calls, newest first, and
// the missed calls since I last looked (the badge). Pure: the update keeps the
// state, `callLine` says each call in people's words; the view adds the date.

import type { CallEntry, HistoryPage } from "./protocol";

export const HISTORY_PAGE = 20;

export interface HistoryState {
  open: boolean;
  calls: CallEntry[];
  /** Where the next page starts (null: no more). */
  before: number | null;
  /** A page asked for and not yet come: `first` replaces the list, `more` adds to it. */
  loading: "first" | "more" | null;
  /** Missed calls since I last looked. */
  missed: number;
}

export const EMPTY_HISTORY: HistoryState = { open: false, calls: [], before: null, loading: null, missed: 0 };

/** A page of calls arrived: the first page replaces the list, a later one adds what it lacks. */
export function withPage(state: HistoryState, message: HistoryPage): HistoryState {
  const more = state.loading === "more";
  const known = new Set(more ? state.calls.map((call) => call.conference_id) : []);
  const calls = more ? [...state.calls, ...message.calls.filter((c) => !known.has(c.conference_id))] : message.calls;
  return { ...state, calls, before: message.before, loading: null };
}

/** Who the call was with: the caller, or everyone I called. */
export function peerOf(call: CallEntry): string {
  return call.peers.join(", ") || "someone";
}

/** Whom "Call back" calls: the caller, or the first I called. */
export function callBackTo(call: CallEntry): string | null {
  return call.peers[0] ?? null;
}

/** "2:05", "1:02:03": how long a call lasted once answered. */
export function duration(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  const s = whole % 60;
  const m = Math.floor(whole / 60) % 60;
  const h = Math.floor(whole / 3600);
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** One call, from my side, in people's words (the date is the view's to format). */
export function callLine(call: CallEntry): string {
  const who = peerOf(call);
  const incoming = call.direction === "incoming";
  const talked =
    call.answered_at !== null && call.ended_at !== null ? `, ${duration(call.ended_at - call.answered_at)}` : "";
  switch (call.outcome) {
    case null:
      return incoming ? `Call from ${who}, going on` : `Call to ${who}, going on`;
    case "answered":
      return `${incoming ? "Call from" : "Call to"} ${who}${talked}${endedBy(call)}`;
    case "missed":
      if (call.end_reason === "in-another-call") return `Missed call from ${who} (you were on another call)`;
      if (call.end_reason === "dnd") return `Missed call from ${who} (do not disturb was on)`;
      return `Missed call from ${who}`;
    case "rejected":
      return incoming ? `You declined a call from ${who}` : `${who} declined`;
    case "unanswered":
      return `${who} did not answer`;
    case "busy":
      return call.end_reason === "dnd" ? `${who} did not want to be disturbed` : `${who} was busy`;
    case "canceled":
      return `You canceled the call to ${who}`;
    case "failed":
      return `The call to ${who} could not be connected`;
  }
}

function endedBy(call: CallEntry): string {
  if (call.end_reason === "hung-up") return " (you hung up)";
  if (call.end_reason === "ended") return ` (${peerOf(call)} hung up)`;
  return "";
}

/** The History heading's badge: "" with nothing new. */
export function missedBadge(missed: number): string {
  if (missed <= 0) return "";
  return missed === 1 ? "1 missed call" : `${missed} missed calls`;
}
