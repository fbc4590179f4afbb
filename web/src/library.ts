// My recordings and voicemails, as GET /api/recordings lists them (docs/protocol.md,
// "Recordings and voicemail"). Pure: parsing and words; main.ts does the fetching.

import type { RecordingKind } from "./protocol";
import { RECORDING_KINDS } from "./protocol";

export interface RecordingEntry {
  id: string;
  kind: RecordingKind;
  /** Who placed the call; for a voicemail, who left it. */
  caller: string;
  /** The others who were on the call (a voicemail: none). */
  others: string[];
  /** Seconds since the epoch. */
  startedAt: number;
  seconds: number;
  /** A voicemail I have not played yet. */
  isNew: boolean;
  /** Where to play it from (the page adds its identity). */
  audio: string;
}

export interface Library {
  recordings: RecordingEntry[];
  newVoicemails: number;
  /** Whether a missed call to me becomes a voicemail. */
  voicemail: boolean;
  /** Whether the server takes voicemail at all (TALKBOX_VOICEMAIL): if not, the switch is not shown. */
  voicemailAvailable: boolean;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseEntry(raw: unknown): RecordingEntry | null {
  if (!isObject(raw)) return null;
  const { id, kind, caller, others, started_at, seconds, new: isNew, audio } = raw;
  if (typeof id !== "string" || !/^[rv]-[0-9a-f]{16}$/.test(id)) return null;
  if (typeof kind !== "string" || !(RECORDING_KINDS as readonly string[]).includes(kind)) return null;
  if (typeof caller !== "string" || !Array.isArray(others) || !others.every((o) => typeof o === "string")) return null;
  if (typeof started_at !== "number" || typeof seconds !== "number" || typeof audio !== "string") return null;
  // Only ever our own server's path: a list that named another origin is not played.
  if (!audio.startsWith("/api/recordings/")) return null;
  return {
    id,
    kind: kind as RecordingKind,
    caller,
    others,
    startedAt: started_at,
    seconds,
    isNew: isNew === true,
    audio,
  };
}

/** The server's answer, checked; null when it is not one. Entries that do not parse are left out. */
export function parseLibrary(raw: unknown): Library | null {
  if (!isObject(raw) || !Array.isArray(raw.recordings) || typeof raw.voicemail !== "boolean") return null;
  const recordings = raw.recordings.map(parseEntry).filter((entry): entry is RecordingEntry => entry !== null);
  // A server older than the field has voicemail; a false one says it has none.
  const voicemailAvailable = raw.voicemail_available !== false;
  return {
    recordings,
    newVoicemails: recordings.filter((r) => r.isNew).length,
    voicemail: voicemailAvailable && raw.voicemail,
    voicemailAvailable,
  };
}

export function voicemails(library: Library | null): RecordingEntry[] {
  return library?.recordings.filter((r) => r.kind === "voicemail") ?? [];
}

export function callRecordings(library: Library | null): RecordingEntry[] {
  return library?.recordings.filter((r) => r.kind === "call") ?? [];
}

/** A recording in a few words, for its list item and the names of its buttons. */
export function describeRecording(entry: RecordingEntry, at: (seconds: number) => string): string {
  const length = `${Math.round(entry.seconds)} s`;
  if (entry.kind === "voicemail") return `Voicemail from ${entry.caller}, ${at(entry.startedAt)}, ${length}`;
  const people = entry.others.length > 0 ? ` with ${entry.others.join(", ")}` : "";
  return `Call recording${people}, ${at(entry.startedAt)}, ${length}`;
}

/** The badge: how many voicemails wait, in words a screen reader says as is. */
export function badgeText(library: Library | null): string | null {
  const count = library?.newVoicemails ?? 0;
  if (count === 0) return null;
  return count === 1 ? "1 new voicemail" : `${count} new voicemails`;
}

/**
 * The query that says who I am to `<audio src>`, which cannot send headers: the page's own
 * client_name, or its token (the server's log lines redact it, as for the page's own URL).
 */
export function audioIdentity(search: string): string {
  const params = new URLSearchParams(search);
  const token = params.get("token");
  if (token) return `?${new URLSearchParams({ token }).toString()}`;
  const name = params.get("client_name");
  return name ? `?${new URLSearchParams({ client_name: name }).toString()}` : "";
}

/** The list as the page plays it: each file's address says who asks. */
export function withIdentity(library: Library, search: string): Library {
  const query = audioIdentity(search);
  return { ...library, recordings: library.recordings.map((r) => ({ ...r, audio: `${r.audio}${query}` })) };
}
