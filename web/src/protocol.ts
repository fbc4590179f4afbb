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
] as const;
export type KnownConferenceEndReason = (typeof CONFERENCE_END_REASONS)[number];
export type ConferenceEndReason = KnownConferenceEndReason | (string & {});

export interface Leg {
  id: string;
  /** A client name (`bob`) or an E.164 number (`+441234567890`). */
  destination: string;
  status: LegStatus;
  muted: boolean;
  end_reason: LegEndReason | null;
}

/** A call the chair records, or a message the caller is leaving. */
export type RecordingKind = "call" | "voicemail";

export const RECORDING_KINDS: readonly RecordingKind[] = ["call", "voicemail"];

export interface Conference {
  id: string;
  /** The chairperson's name (the caller). */
  chair: string;
  status: ConferenceStatus;
  end_reason: ConferenceEndReason | null;
  /** What is being recorded now (null or absent: nothing). */
  recording?: RecordingKind | null;
  legs: Leg[];
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

export type ClientFrame =
  | RecordFrame
  | CallFrame
  | HangUpFrame
  | AnswerFrame
  | RejectFrame
  | LegFailedFrame
  | AddFrame
  | RemoveFrame
  | MuteFrame
  | RejoinFrame
  | ResumeFrame;

// ---------------------------------------------------------------------------
// Server -> page

export interface WelcomeMessage {
  type: "welcome";
  user: string;
  /** Which media adapter to use: `builtin`, or `twilio` (see docs/protocol.md, "Twilio mode"). */
  provider: string;
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
 * Known codes: `self_call`, `invalid_destination`, `already_in_call` (for
 * `call`); `not_chair`, `already_in_conference`, `conference_full` (for `add`,
 * `remove`, `mute`); `store_unavailable` (for `call`: the server could not save it).
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

export type ServerMessage =
  | RecordingsChangedMessage
  | WelcomeMessage
  | ConferenceMessage
  | OfferMessage
  | RefusedMessage
  | ErrorMessage
  | RetryingMessage
  | SpeakingMessage
  | DigitMessage;

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
  const { id, destination, status, muted, end_reason } = raw;
  if (!isString(id) || !isString(destination)) return null;
  if (!oneOf(LEG_STATUSES, status)) return null;
  if (!stringOrNull(end_reason)) return null;
  return {
    id,
    destination,
    status,
    muted: muted === true,
    end_reason: end_reason ?? null,
  };
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
  const recorded = recording === "call" || recording === "voicemail" ? { recording } : {};
  return { id, chair, status, end_reason: end_reason ?? null, ...recorded, legs: parsed };
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
      return { type: "welcome", user, provider };
    }
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

/** The text of a frame to send. */
export function encodeClientFrame(frame: ClientFrame): string {
  return JSON.stringify(frame);
}
