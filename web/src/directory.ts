// The directory: the people on this Talkbox and how each stands, as the
// server's `presence` frames say. Pure: the update applies frames with
// `withPresence`, the view lists `listed(...)`.

import type { PresenceMessage, PresenceStatus } from "./protocol";

export interface DirectoryState {
  /** Everyone this page may see (the server decides who), and how each stands. */
  people: Record<string, PresenceStatus>;
  /** The search box's text. */
  filter: string;
  /** Do not disturb as I last asked for it, until the server says it is so (null: nothing asked). */
  asked: boolean | null;
}

export const EMPTY_DIRECTORY: DirectoryState = { people: {}, filter: "", asked: null };

/** A snapshot replaces the list; a change updates the people it names. */
export function withPresence(state: DirectoryState, message: PresenceMessage, me: string | null): DirectoryState {
  const people = message.complete ? {} : { ...state.people };
  for (const person of message.people) people[person.name] = person.status;
  // My do-not-disturb is settled once the server says I stand as I asked, or sends its whole list (a socket
  // opened again: what I asked on the last one may never have reached it). A change about me that says otherwise
  // was sent before my asking arrived (my call ending, say) and must not flip the switch back meanwhile.
  const mine = me === null ? undefined : message.people.find((person) => person.name === me);
  const agrees = mine !== undefined && (mine.status === "dnd") === state.asked;
  const asked = message.complete || agrees ? null : state.asked;
  return { ...state, people, asked };
}

export interface Listed {
  name: string;
  status: PresenceStatus;
  words: string;
}

export const PRESENCE_WORDS: Record<PresenceStatus, string> = {
  online: "online",
  in_call: "in a call",
  dnd: "do not disturb",
  offline: "offline",
};

// Who can take a call first, then who cannot now, then who is away.
const ORDER: Record<PresenceStatus, number> = { online: 0, in_call: 1, dnd: 2, offline: 3 };

/** The others, filtered by the search box (any part of the name, any case), callable first, then by name. */
export function listed(state: DirectoryState, me: string | null): Listed[] {
  const wanted = state.filter.trim().toLowerCase();
  return Object.entries(state.people)
    .filter(([name]) => name !== me && name.toLowerCase().includes(wanted))
    .sort(([a, sa], [b, sb]) => ORDER[sa] - ORDER[sb] || a.localeCompare(b))
    .map(([name, status]) => ({ name, status, words: PRESENCE_WORDS[status] }));
}

/** Whether I am (or have just asked to be) not disturbed. */
export function doNotDisturb(state: DirectoryState, me: string | null): boolean {
  if (state.asked !== null) return state.asked;
  return me !== null && state.people[me] === "dnd";
}

/** What the list says when it shows nobody. */
export function emptyDirectoryText(state: DirectoryState, me: string | null): string {
  if (listed(state, me).length > 0) return "";
  return state.filter.trim() === "" ? "Nobody else is here yet" : `Nobody matches “${state.filter.trim()}”`;
}
