// The page <-> server websocket protocol, mirrored from docs/protocol.md.
// Every frame is a JSON object with a `type`. The server validates what we
// send; we validate what it sends with `parseServerFrame`.

// ---------------------------------------------------------------------------
// Shared vocabulary

export const LEG_STATUSES = [
  "queued",
  "initiated",
  "ringing",
  "in-progress",
  "completed",
  "busy",
  "no-answer",
  "canceled",
  "failed",
] as const;
export type LegStatus = (typeof LEG_STATUSES)[number];

/** A leg that has not been answered yet. */
export const PENDING_LEG_STATUSES: readonly LegStatus[] = ["queued", "initiated", "ringing"];
/** A leg that is over. */
export const TERMINAL_LEG_STATUSES: readonly LegStatus[] = [
  "completed",
  "busy",
  "no-answer",
  "canceled",
  "failed",
];

export function isPendingLeg(status: LegStatus): boolean {
  return PENDING_LEG_STATUSES.includes(status);
}

export function isTerminalLeg(status: LegStatus): boolean {
  return TERMINAL_LEG_STATUSES.includes(status);
}

/** The leg end reasons docs/protocol.md lists. */
export const LEG_END_REASONS = [
  "hung-up",
  "ended",
  "rejected",
  "in-another-call",
  "removed",
  "timeout",
  "unavailable",
  "media",
  "microphone",
  "unsupported",
  "caller-canceled",
  "chair-unreachable",
  "lost",
  "server-restart",
  "busy-signal",
  "not-answered",
  "forbidden",
  "not-found",
  "address-incomplete",
  "not-allowed",
  "voicemail-full",
  "dnd",
  "transferred",
  "transfer-failed",
] as const;
export type KnownLegEndReason = (typeof LEG_END_REASONS)[number];
/**
 * Why a leg ended. The server sends it as a free string, so a reason added
 * there later still parses (and reads as a generic "ended").
 */
export type LegEndReason = KnownLegEndReason | (string & {});

export const CONFERENCE_STATUSES = ["active", "ended"] as const;
export type ConferenceStatus = (typeof CONFERENCE_STATUSES)[number];

/** The conference end reasons docs/protocol.md lists. */
export const CONFERENCE_END_REASONS = [
  "hung-up",
  "canceled",
  "busy",
  "no-answer",
  "unavailable",
  "failed",
  "chair-unreachable",
  "voicemail",
  "transfer-failed",
] as const;
export type KnownConferenceEndReason = (typeof CONFERENCE_END_REASONS)[number];
export type ConferenceEndReason = KnownConferenceEndReason | (string & {});

export interface Leg {
  id: string;
  /** A client name (`bob`) or an E.164 number (`+441234567890`). */
  destination: string;
  status: LegStatus;
  muted: boolean;
  /** On hold: left out of what the others hear (absent: not held). */
  held?: boolean;
  /** Held by the chair (it hears music on hold), not by its own user (away on another of their calls). */
  held_by_chair?: boolean;
  end_reason: LegEndReason | null;
}

/** A call the chair records, or a message the caller is leaving. */
export type RecordingKind = "call" | "voicemail";

export const RECORDING_KINDS: readonly RecordingKind[] = ["call", "voicemail"];

/** A blind transfer under way: `by` sent the call to `to`, which rings; or, unanswered, `by` is rung again. */
export interface Transfer {
  by: string;
  to: string;
  status: "ringing" | "recalling";
}

export interface Conference {
  id: string;
  /** The chairperson's name (the caller). */
  chair: string;
  status: ConferenceStatus;
  end_reason: ConferenceEndReason | null;
  /** What is being recorded now (null or absent: nothing). */
  recording?: RecordingKind | null;
  legs: Leg[];
  /** Absent or null: no transfer under way. */
  transfer?: Transfer | null;
}

// ---------------------------------------------------------------------------
// Page -> server

/** Why the page could not bring up media for a leg. */
export type LegFailedReason = "microphone" | "media";

export interface CallFrame {
  type: "call";
  to: string;
}
export interface HangUpFrame {
  type: "hang_up";
  conference_id: string;
}
export interface AnswerFrame {
  type: "answer";
  leg_id: string;
  sdp: string;
}
export interface RejectFrame {
  type: "reject";
  leg_id: string;
}
export interface LegFailedFrame {
  type: "leg_failed";
  leg_id: string;
  reason: LegFailedReason;
}

/** The chair adds someone to the call. */
export interface AddFrame {
  type: "add";
  conference_id: string;
  to: string;
}
/** The chair removes a participant, or cancels one still ringing. */
export interface RemoveFrame {
  type: "remove";
  conference_id: string;
  leg_id: string;
}
/** Mute or unmute a leg: your own, or anyone's if you are the chair. */
export interface MuteFrame {
  type: "mute";
  conference_id: string;
  leg_id: string;
  muted: boolean;
}
/** Hold a leg or take it off hold: my own (switching calls), or anyone's if I am the chair. */
export interface HoldFrame {
  type: "hold";
  conference_id: string;
  leg_id: string;
  held: boolean;
}
/** The chair completes an attended transfer: `leg_id` (on hold) is left talking to whoever was added. */
export interface CompleteTransferFrame {
  type: "complete_transfer";
  conference_id: string;
  leg_id: string;
}
/** The chair, whose leg dropped while others remained, comes back on a new leg. */
export interface RejoinFrame {
  type: "rejoin";
  conference_id: string;
}

/** This page has no media for a live leg of its user: offer the leg's media again. */
export interface ResumeFrame {
  type: "resume";
  leg_id: string;
}

/** The chair starts (`on`) or stops recording the call. */
export interface RecordFrame {
  type: "record";
  conference_id: string;
  on: boolean;
}

/** Hand the other party of my call of two to `to`, and leave (a blind transfer). */
export interface TransferFrame {
  type: "transfer";
  conference_id: string;
  to: string;
}

/** Keys pressed on the keypad, for the telephones on the call (built-in engine). */
export interface DtmfFrame {
  type: "dtmf";
  conference_id: string;
  digits: string;
}

/** Do not disturb on (`dnd`) or off (`available`), for every page of mine. */
export interface SetPresenceFrame {
  type: "set_presence";
  status: "available" | "dnd";
}
/** Send me the directory and my missed calls, then who changes as they do. */
export interface DirectoryFrame {
  type: "directory";
}
/** A page of my call history: the newest, or those started before `before`. */
export interface HistoryFrame {
  type: "history";
  before?: number;
  limit?: number;
}
/** I have looked at my history: the missed calls until now are no longer new. */
export interface HistorySeenFrame {
  type: "history_seen";
}

/** The chair asks how the server hears each leg of the call. */
export interface LegStatsFrame {
  type: "leg_stats";
  conference_id: string;
}

export type ClientFrame =
  | RecordFrame
  | LegStatsFrame
  | SetPresenceFrame
  | DirectoryFrame
  | HistoryFrame
  | HistorySeenFrame
  | CallFrame
  | HangUpFrame
  | AnswerFrame
  | RejectFrame
  | LegFailedFrame
  | AddFrame
  | RemoveFrame
  | MuteFrame
  | HoldFrame
  | CompleteTransferFrame
  | RejoinFrame
  | ResumeFrame
  | TransferFrame
  | DtmfFrame;

// ---------------------------------------------------------------------------
// Server -> page

/** A TURN server for the page's RTCPeerConnections, with credentials for this user (docs/protocol.md). */
export interface IceServer {
  urls: string[];
  username: string;
  credential: string;
}

export interface WelcomeMessage {
  type: "welcome";
  user: string;
  /** Which media adapter to use: `builtin`, or `twilio` (see docs/protocol.md, "Twilio mode"). */
  provider: string;
  /** TURN for the built-in engine's media, when Talkbox has it; none from an older server. */
  ice_servers?: IceServer[];
}
export interface ConferenceMessage {
  type: "conference";
  conference: Conference;
}
export interface OfferMessage {
  type: "offer";
  conference_id: string;
  leg_id: string;
  caller: string;
  sdp: string;
  /** True for the user's own outgoing leg: connect at once, do not ring. */
  auto_answer: boolean;
}
/**
 * Known codes: `self_call`, `invalid_destination`, `too_many_calls` (for
 * `call`); `not_chair`, `already_in_conference`, `conference_full` (for `add`,
 * `remove`, `mute`, `hold`); `held_by_self` (for `hold`); `store_unavailable` (for `call`: the server could not save it).
 */
export interface RefusedMessage {
  type: "refused";
  code: string;
  message: string;
}
/**
 * Known codes (talkbox/ui/protocol.py, ErrorCode): `too_large`, `invalid_json`,
 * `unknown_type`, `invalid_message`, `not_text`, `rate_limited` (too many
 * frames of one type: the frame was dropped; see docs/protocol.md, Limits).
 */
export interface ErrorMessage {
  type: "error";
  code: string;
  message: string;
}

/**
 * A request the server took but could not save yet (its disk is full, say):
 * it keeps trying. `request` is the frame it was (`hang_up`, `add`, `remove`,
 * `mute`, `rejoin`). A hang-up's media is already stopped on the server.
 */
/** Who is speaking in a conference (leg ids), from the engine's levels: at most a few a second. */
export interface SpeakingMessage {
  type: "speaking";
  conference_id: string;
  legs: string[];
}

/** A key pressed on a telephone on the conference (RFC 4733), one message per key. */
export interface DigitMessage {
  type: "digit";
  conference_id: string;
  leg_id: string;
  digit: string;
}

/**
 * The state after a (re)connect is complete: every conference the user is on.
 * A call the page shows that is not listed ended while the page was away.
 */
export interface SyncedMessage {
  type: "synced";
  conferences: string[];
}

export interface RetryingMessage {
  type: "retrying";
  conference_id: string;
  request: string;
  message: string;
}

/** A recording or voicemail of mine was finished or deleted: list them again. `caller`: who left a new voicemail. */
export interface RecordingsChangedMessage {
  type: "recordings_changed";
  kind: RecordingKind;
  caller: string | null;
}

export const PRESENCE_STATUSES = ["online", "in_call", "dnd", "offline"] as const;
export type PresenceStatus = (typeof PRESENCE_STATUSES)[number];

export interface PersonStatus {
  name: string;
  status: PresenceStatus;
}
/** The people this page may see: all of them (`complete`), or those who changed. */
export interface PresenceMessage {
  type: "presence";
  people: PersonStatus[];
  complete: boolean;
}

export const CALL_OUTCOMES = ["answered", "missed", "rejected", "unanswered", "busy", "canceled", "failed"] as const;
export type CallOutcome = (typeof CALL_OUTCOMES)[number];

/** One call of my history; times in seconds since the epoch; `outcome` null while it goes on. */
export interface CallEntry {
  conference_id: string;
  direction: "incoming" | "outgoing";
  peers: string[];
  started_at: number;
  answered_at: number | null;
  ended_at: number | null;
  outcome: CallOutcome | null;
  end_reason: string | null;
}
/** A page of my history, newest first; `before` asks for the next page (null: this was the last). */
export interface HistoryMessage {
  type: "history";
  calls: CallEntry[];
  before: number | null;
}
/** Calls missed since I last looked at my history. */
export interface MissedMessage {
  type: "missed";
  count: number;
}

/** One leg as Talkbox's media engine hears it: its jitter buffer, and its peer's reports. */
export interface LegStats {
  leg_id: string;
  /** False in a call of two, which is forwarded without a buffer: then delay and loss say nothing. */
  buffered: boolean;
  delay_ms: number;
  target_ms: number;
  loss: number;
  peer_round_trip_ms: number | null;
  peer_loss: number | null;
}
export interface LegStatsMessage {
  type: "leg_stats";
  conference_id: string;
  legs: LegStats[];
}

/**
 * With several nodes: the page reconnected with a `since` older than what the
 * server still keeps. What it missed is gone; the state that follows `welcome` is all.
 */
export interface ResyncMessage {
  type: "resync";
}

export type ServerMessage =
  | RecordingsChangedMessage
  | LegStatsMessage
  | PresenceMessage
  | HistoryMessage
  | MissedMessage
  | WelcomeMessage
  | ResyncMessage
  | ConferenceMessage
  | OfferMessage
  | RefusedMessage
  | ErrorMessage
  | RetryingMessage
  | SpeakingMessage
  | DigitMessage
  | SyncedMessage;

// ---------------------------------------------------------------------------
// Parsing

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isString(value: unknown): value is string {
  return typeof value === "string";
}

function oneOf<T extends string>(values: readonly T[], value: unknown): value is T {
  return typeof value === "string" && (values as readonly string[]).includes(value);
}

function stringOrNull(value: unknown): value is string | null | undefined {
  return value === null || value === undefined || typeof value === "string";
}

function parseLeg(raw: unknown): Leg | null {
  if (!isObject(raw)) return null;
  const { id, destination, status, muted, held, held_by_chair, end_reason } = raw;
  if (!isString(id) || !isString(destination)) return null;
  if (!oneOf(LEG_STATUSES, status)) return null;
  if (!stringOrNull(end_reason)) return null;
  return {
    id,
    destination,
    status,
    muted: muted === true,
    // Only a held leg carries the hold: a frame without it is a leg not on hold.
    ...(held === true ? { held: true, held_by_chair: held_by_chair === true } : {}),
    end_reason: end_reason ?? null,
  };
}

function numberOrNull(value: unknown): value is number | null {
  return value === null || (typeof value === "number" && Number.isFinite(value));
}

function parsePerson(raw: unknown): PersonStatus | null {
  if (!isObject(raw) || !isString(raw.name) || !oneOf(PRESENCE_STATUSES, raw.status)) return null;
  return { name: raw.name, status: raw.status };
}

function parseCallEntry(raw: unknown): CallEntry | null {
  if (!isObject(raw)) return null;
  const { conference_id, direction, peers, started_at, answered_at, ended_at, outcome, end_reason } = raw;
  if (!isString(conference_id) || (direction !== "incoming" && direction !== "outgoing")) return null;
  if (!Array.isArray(peers) || !peers.every(isString)) return null;
  if (typeof started_at !== "number" || !numberOrNull(answered_at) || !numberOrNull(ended_at)) return null;
  if (outcome !== null && !oneOf(CALL_OUTCOMES, outcome)) return null;
  if (!stringOrNull(end_reason)) return null;
  return {
    conference_id,
    direction,
    peers,
    started_at,
    answered_at,
    ended_at,
    outcome,
    end_reason: end_reason ?? null,
  };
}

function parseLegStats(raw: unknown): LegStats | null {
  if (!isObject(raw)) return null;
  const { leg_id, buffered, delay_ms, target_ms, loss, peer_round_trip_ms, peer_loss } = raw;
  if (!isString(leg_id) || typeof buffered !== "boolean") return null;
  if (typeof delay_ms !== "number" || typeof target_ms !== "number" || typeof loss !== "number") return null;
  if (!numberOrNull(peer_round_trip_ms) || !numberOrNull(peer_loss)) return null;
  return { leg_id, buffered, delay_ms, target_ms, loss, peer_round_trip_ms, peer_loss };
}

/** Every item parsed, or null when one does not match. */
function parseAll<T>(raw: unknown, parse: (item: unknown) => T | null): T[] | null {
  if (!Array.isArray(raw)) return null;
  const parsed: T[] = [];
  for (const item of raw) {
    const ok = parse(item);
    if (ok === null) return null;
    parsed.push(ok);
  }
  return parsed;
}

/** Validates a conference object; null when it does not match the protocol. */
export function parseConference(raw: unknown): Conference | null {
  if (!isObject(raw)) return null;
  const { id, chair, status, end_reason, legs, recording } = raw;
  if (!isString(id) || !isString(chair)) return null;
  if (!oneOf(CONFERENCE_STATUSES, status)) return null;
  if (!stringOrNull(end_reason)) return null;
  if (recording !== undefined && recording !== null && !oneOf(RECORDING_KINDS, recording)) return null;
  if (!Array.isArray(legs)) return null;
  const parsed: Leg[] = [];
  for (const leg of legs) {
    const ok = parseLeg(leg);
    if (ok === null) return null;
    parsed.push(ok);
  }
  const transfer = parseTransfer(raw.transfer);
  if (transfer === undefined) return null;
  const recorded = recording === "call" || recording === "voicemail" ? { recording } : {};
  const base = { id, chair, status, end_reason: end_reason ?? null, ...recorded, legs: parsed };
  return transfer === null ? base : { ...base, transfer };
}

/** null for none; undefined for one that does not match the protocol. */
function parseTransfer(raw: unknown): Transfer | null | undefined {
  if (raw === null || raw === undefined) return null;
  if (!isObject(raw)) return undefined;
  const { by, to, status } = raw;
  if (!isString(by) || !isString(to) || (status !== "ringing" && status !== "recalling")) return undefined;
  return { by, to, status };
}

function parseIceServers(raw: unknown): IceServer[] | null {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) return null;
  const servers: IceServer[] = [];
  for (const server of raw) {
    if (!isObject(server)) return null;
    const { urls, username, credential } = server;
    if (!Array.isArray(urls) || !urls.every(isString) || !isString(username) || !isString(credential)) return null;
    servers.push({ urls, username, credential });
  }
  return servers;
}

/**
 * Turns a server frame (the text of a websocket message, or an already
 * decoded value) into a typed message, or null when it is not JSON, has an
 * unknown type or lacks a field the page needs.
 */
export function parseServerFrame(frame: unknown): ServerMessage | null {
  let data: unknown = frame;
  if (typeof frame === "string") {
    try {
      data = JSON.parse(frame);
    } catch {
      return null;
    }
  }
  if (!isObject(data)) return null;
  switch (data.type) {
    case "welcome": {
      const { user, provider } = data;
      if (!isString(user) || !isString(provider)) return null;
      const iceServers = parseIceServers(data.ice_servers);
      if (iceServers === null) return null;
      return { type: "welcome", user, provider, ice_servers: iceServers };
    }
    case "resync":
      return { type: "resync" };
    case "conference": {
      const conference = parseConference(data.conference);
      return conference === null ? null : { type: "conference", conference };
    }
    case "offer": {
      const { conference_id, leg_id, caller, sdp, auto_answer } = data;
      if (!isString(conference_id) || !isString(leg_id) || !isString(caller) || !isString(sdp)) {
        return null;
      }
      if (typeof auto_answer !== "boolean") return null;
      return { type: "offer", conference_id, leg_id, caller, sdp, auto_answer };
    }
    case "retrying": {
      const { conference_id, request, message } = data;
      if (!isString(conference_id) || !isString(request)) return null;
      return { type: "retrying", conference_id, request, message: isString(message) ? message : "" };
    }
    case "speaking": {
      const { conference_id, legs } = data;
      if (!isString(conference_id) || !Array.isArray(legs) || !legs.every(isString)) return null;
      return { type: "speaking", conference_id, legs };
    }
    case "digit": {
      const { conference_id, leg_id, digit } = data;
      if (!isString(conference_id) || !isString(leg_id) || !isString(digit) || !/^[0-9*#A-D]$/.test(digit)) return null;
      return { type: "digit", conference_id, leg_id, digit };
    }
    case "recordings_changed": {
      const { kind, caller } = data;
      if (!oneOf(RECORDING_KINDS, kind) || !stringOrNull(caller)) return null;
      return { type: "recordings_changed", kind, caller: caller ?? null };
    }
    case "synced": {
      const { conferences } = data;
      if (!Array.isArray(conferences) || !conferences.every(isString)) return null;
      return { type: "synced", conferences };
    }
    case "presence": {
      const people = parseAll(data.people, parsePerson);
      if (people === null || typeof data.complete !== "boolean") return null;
      return { type: "presence", people, complete: data.complete };
    }
    case "history": {
      const calls = parseAll(data.calls, parseCallEntry);
      if (calls === null || !numberOrNull(data.before)) return null;
      return { type: "history", calls, before: data.before };
    }
    case "leg_stats": {
      const legs = parseAll(data.legs, parseLegStats);
      if (legs === null || !isString(data.conference_id)) return null;
      return { type: "leg_stats", conference_id: data.conference_id, legs };
    }
    case "missed": {
      const { count } = data;
      if (typeof count !== "number" || !Number.isInteger(count) || count < 0) return null;
      return { type: "missed", count };
    }
    case "refused":
    case "error": {
      const { code, message } = data;
      if (!isString(code)) return null;
      return { type: data.type, code, message: isString(message) ? message : "" };
    }
    default:
      return null;
  }
}

/**
 * The user's sequence number a server frame carries (`seq`, with several
 * nodes), or null: the page sends back the last one it saw when it reconnects.
 */
export function frameSequence(data: unknown): number | null {
  if (!isObject(data)) return null;
  const { seq } = data;
  return typeof seq === "number" && Number.isSafeInteger(seq) && seq >= 0 ? seq : null;
}

/** The text of a frame to send. */
export function encodeClientFrame(frame: ClientFrame): string {
  return JSON.stringify(frame);
}
