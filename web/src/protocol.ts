// The page <-> server websocket protocol. Its types, vocabularies and the validator of server frames are
// generated from the server's pydantic models (talkbox/ui/protocol.py, through `make protocol` into
// src/generated/); docs/protocol.md is their prose. What is written here is the page's use of them.

import type { ConferenceView, LegFailed, LegStatus, LegView, PageMessage, ServerMessage } from "./generated/wire";
import { TERMINAL_LEG_STATUSES } from "./generated/wire";
import { validateServerMessage } from "./generated/validate.js";

export type * from "./generated/wire";
export {
  CALL_OUTCOMES,
  CONFERENCE_END_REASONS,
  CONFERENCE_STATUSES,
  CloseCode,
  ERROR_CODES,
  LEG_END_REASONS,
  LEG_STATUSES,
  PRESENCE_STATUSES,
  RECORDING_KINDS,
  REFUSAL_CODES,
  TERMINAL_LEG_STATUSES,
} from "./generated/wire";

// The page's own names for the wire's conference, leg and frames it sends.
export type Conference = ConferenceView;
export type Leg = LegView;
export type ClientFrame = PageMessage;
/** Why the page could not bring up media for a leg. */
export type LegFailedReason = LegFailed["reason"];

/** A leg that has not been answered yet. */
export function isPendingLeg(status: LegStatus): boolean {
  return status !== "in-progress" && !isTerminalLeg(status);
}

/** A leg that is over. */
export function isTerminalLeg(status: LegStatus): boolean {
  return (TERMINAL_LEG_STATUSES as readonly LegStatus[]).includes(status);
}

/**
 * Turns a server frame (the text of a websocket message, or an already
 * decoded value) into a typed message, or null when it is not JSON, has an
 * unknown type or does not match that type's schema. Fields the schema does
 * not name (`seq`, or one a newer server added) are let be: the page reads
 * only what its types say.
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
  return validateServerMessage(data) ? (data as ServerMessage) : null;
}

/**
 * The user's sequence number a server frame carries (`seq`, with several
 * nodes), or null: the page sends back the last one it saw when it reconnects.
 */
export function frameSequence(data: unknown): number | null {
  if (typeof data !== "object" || data === null || Array.isArray(data)) return null;
  const { seq } = data as { seq?: unknown };
  return typeof seq === "number" && Number.isSafeInteger(seq) && seq >= 0 ? seq : null;
}

/** The text of a frame to send. */
export function encodeClientFrame(frame: ClientFrame): string {
  return JSON.stringify(frame);
}
