// The one place the page's state changes: update(model, msg) -> [model, effects].
// Pure: no DOM, no WebSocket, no timers, no randomness.

import type { Effect, IncomingCall, Model, Msg } from "./model";
import { reconnectDelay } from "./model";
import { dialMode, mySide } from "./call";
import { describeDeparture, describeOutcome, findMyLeg } from "./outcome";
import type { Conference, Leg, OfferMessage, ServerMessage } from "./protocol";
import { isPendingLeg, isTerminalLeg } from "./protocol";

/** Media providers this page has an adapter for. */
export const SUPPORTED_PROVIDERS: readonly string[] = ["builtin"];

/** Close code the server uses for a bad or missing identity. */
export const CLOSE_UNAUTHORIZED = 4401;

export type Update = [Model, Effect[]];

export function update(model: Model, msg: Msg): Update {
  switch (msg.type) {
    case "socket-connecting":
      return [{ ...model, connection: "connecting" }, []];

    case "socket-opened":
      return [{ ...model, connection: "open", reconnectAttempt: 0, authFailed: false }, []];

    case "socket-closed":
      return socketClosed(model, msg.code, msg.reason);

    case "server-message":
      return serverMessage(model, msg.message);

    case "dial-changed":
      return [{ ...model, dialText: msg.text }, []];

    case "dial-submitted":
      return dialSubmitted(model);

    case "call-clicked":
      return callClicked(model);

    case "accept-clicked":
      return acceptClicked(model);

    case "reject-clicked":
      return rejectClicked(model);

    case "hang-up-clicked":
      if (model.conference === null) return [model, []];
      return [model, [{ type: "send", frame: { type: "hang_up", conference_id: model.conference.id } }]];

    case "add-clicked":
      return addClicked(model);

    case "remove-clicked":
      if (model.conference === null) return [model, []];
      return [
        model,
        [{ type: "send", frame: { type: "remove", conference_id: model.conference.id, leg_id: msg.legId } }],
      ];

    case "mute-clicked": {
      const leg = model.conference?.legs.find((l) => l.id === msg.legId);
      if (model.conference === null || leg === undefined) return [model, []];
      const frame = { type: "mute", conference_id: model.conference.id, leg_id: leg.id, muted: !leg.muted } as const;
      return [model, [{ type: "send", frame }]];
    }

    case "rejoin-clicked":
      if (model.conference === null || !mySide(model, model.conference).canRejoin) return [model, []];
      return [
        { ...model, outcome: null, notice: null },
        [{ type: "send", frame: { type: "rejoin", conference_id: model.conference.id } }],
      ];

    case "media-answer-ready":
      if (model.media.legId !== msg.legId || model.media.phase !== "connecting") {
        // An answer for a leg we gave up on meanwhile: drop its media.
        return [model, [{ type: "stop-media", legId: msg.legId }]];
      }
      return [model, [{ type: "send", frame: { type: "answer", leg_id: msg.legId, sdp: msg.sdp } }]];

    case "media-connected":
      if (model.media.legId !== msg.legId) return [model, []];
      return [{ ...model, media: { ...model.media, phase: "connected" } }, []];

    case "media-failed":
      return mediaFailed(model, msg.legId, msg.reason);

    case "send-failed":
      return [withNotice(model, "Not connected to Talkbox: the request was not sent"), []];
  }
}

// ---------------------------------------------------------------------------
// Socket

function socketClosed(model: Model, code: number, reason: string): Update {
  const effects: Effect[] = [];
  let next: Model = { ...model, connection: "closed", placing: null };
  // An offer cannot be answered without the socket, and its end would go unseen.
  if (next.incoming !== null) next = { ...next, incoming: null };
  if (next.ringing) {
    next = { ...next, ringing: false };
    effects.push({ type: "stop-ringtone" });
  }
  if (code === CLOSE_UNAUTHORIZED) {
    const why = reason || "the server did not accept this identity";
    return [{ ...withNotice(next, `Not signed in: ${why}`), authFailed: true }, effects];
  }
  effects.push({ type: "reconnect-later", delayMs: reconnectDelay(model.reconnectAttempt) });
  return [{ ...next, reconnectAttempt: model.reconnectAttempt + 1 }, effects];
}

// ---------------------------------------------------------------------------
// Server messages

function serverMessage(model: Model, message: ServerMessage): Update {
  switch (message.type) {
    case "welcome": {
      const next: Model = { ...model, me: message.user, provider: message.provider };
      if (!SUPPORTED_PROVIDERS.includes(message.provider)) {
        return [withNotice(next, `This page cannot use the "${message.provider}" media provider`), []];
      }
      return [next, []];
    }
    case "refused":
      return [withNotice({ ...model, placing: null }, refusalText(message.code, message.message)), []];
    case "error":
      return [withNotice({ ...model, placing: null }, errorText(message.code, message.message)), []];
    case "offer":
      return message.auto_answer ? ownLegOffered(model, message) : incomingOffered(model, message);
    case "conference":
      return conferenceChanged(model, message.conference);
  }
}

const REFUSALS: Record<string, string> = {
  self_call: "You cannot call yourself",
  invalid_destination: "That is not a name or a phone number",
  already_in_call: "You are already in a call",
};

/** The server's message when it gave one, else words for the code. */
export function refusalText(code: string, message: string): string {
  return message.trim() || REFUSALS[code] || `The call was refused (${code})`;
}

export function errorText(code: string, message: string): string {
  return message.trim() || `The server did not accept a request (${code})`;
}

/** My own outgoing leg: connect at once, never ring. */
function ownLegOffered(model: Model, offer: OfferMessage): Update {
  const effects: Effect[] = [];
  const { media } = model;
  if (media.legId === offer.leg_id && media.phase !== "failed" && media.phase !== "idle") {
    // Already answering or answered this leg; a repeated offer changes nothing.
    return [model, []];
  }
  if (media.legId !== null) effects.push({ type: "stop-media", legId: media.legId });
  effects.push({ type: "answer-media", conferenceId: offer.conference_id, legId: offer.leg_id, sdp: offer.sdp });
  return [
    {
      ...model,
      placing: null,
      media: { phase: "connecting", legId: offer.leg_id, conferenceId: offer.conference_id },
    },
    effects,
  ];
}

/** Someone calls me: ring until Accept, Reject or the leg stops ringing. */
function incomingOffered(model: Model, offer: OfferMessage): Update {
  const current = model.incoming;
  if (model.media.legId === offer.leg_id) return [model, []]; // already answered here
  if (current !== null && current.legId === offer.leg_id) {
    // The same leg offered again (a new SDP): keep ringing with the new offer.
    return [{ ...model, incoming: { ...current, sdp: offer.sdp, caller: offer.caller } }, []];
  }
  if (current !== null && !current.rejected) {
    // Already ringing for another call: leave this one unanswered.
    return [model, []];
  }
  const incoming: IncomingCall = {
    conferenceId: offer.conference_id,
    legId: offer.leg_id,
    caller: offer.caller,
    sdp: offer.sdp,
    conference: null,
    rejected: false,
  };
  const effects: Effect[] = model.ringing ? [] : [{ type: "start-ringtone" }];
  return [{ ...model, incoming, ringing: true }, effects];
}

function conferenceChanged(model: Model, conference: Conference): Update {
  if (model.incoming !== null && model.incoming.conferenceId === conference.id) {
    return incomingConferenceChanged(model, model.incoming, conference);
  }
  if (!claims(model, conference)) return [model, []];

  const previous = model.conference?.id === conference.id ? model.conference : null;
  const couldRejoin = previous !== null && mySide(model, previous).canRejoin;
  const side = mySide(model, conference);
  const effects: Effect[] = [];
  let next: Model = { ...model, placing: null };

  // My leg is over: my media goes, whatever happens to the conference.
  if (!side.onCall || conference.status === "ended") {
    const media = model.media;
    if (media.legId !== null && (media.conferenceId === conference.id || media.legId === side.myLeg?.id)) {
      effects.push({ type: "stop-media", legId: media.legId });
      next = { ...next, media: { phase: "idle", legId: null, conferenceId: null } };
    }
  }

  // Still on it; or its chair, who dropped, while the server settles what
  // happens to the others (it goes on and I may rejoin, or it ends).
  if (conference.status !== "ended" && (side.onCall || side.chair)) {
    next = { ...next, conference };
    if (side.canRejoin && !couldRejoin) {
      next = withOutcome(next, describeOutcome(conference, model.me, side.myLeg?.id));
    } else if (side.onCall && previous !== null) {
      const departures = departed(previous, conference, side.myLeg)
        .map((leg) => describeDeparture(conference, model.me, leg, side.myLeg))
        .filter((text): text is string => text !== null);
      if (departures.length > 0) next = withOutcome(next, departures.join("; "));
    }
    return [next, effects];
  }

  // The call is over for me: clear the panel and say how it ended.
  next = { ...next, conference: null };
  const text = describeOutcome(withEarlierLegs(previous, conference), model.me, side.myLeg?.id);
  return [withOutcome(next, text), effects];
}

/** Whether a conference frame is about the call this page shows (or should). */
function claims(model: Model, conference: Conference): boolean {
  if (model.conference !== null && model.conference.id === conference.id) return true;
  const side = mySide(model, conference);
  if (side.myLeg === undefined) return false;
  // A leg this page answered (its own outgoing leg, or an accepted call).
  if (model.media.legId !== null && model.media.legId === side.myLeg.id) return true;
  if (!side.chair) return false;
  const busyHere = model.conference !== null && mySide(model, model.conference).onCall;
  if (busyHere) return false;
  // The call I just placed (even if it ended before I saw it start).
  if (model.placing !== null) return true;
  // My own call, seen again after a reload or a reconnect (maybe to rejoin).
  return model.media.legId === null && conference.status !== "ended" && (side.onCall || side.canRejoin);
}

function incomingConferenceChanged(model: Model, incoming: IncomingCall, conference: Conference): Update {
  const myLeg = findMyLeg(conference, model.me, incoming.legId);
  const ended = conference.status === "ended";
  if (!ended && myLeg !== undefined && isPendingLeg(myLeg.status)) {
    // Still ringing: keep the latest view for when it is accepted.
    return [{ ...model, incoming: { ...incoming, conference } }, []];
  }
  const effects: Effect[] = [];
  let next: Model = { ...model, incoming: null };
  if (next.ringing) {
    next = { ...next, ringing: false };
    effects.push({ type: "stop-ringtone" });
  }
  if (ended || (myLeg !== undefined && isTerminalLeg(myLeg.status))) {
    const text = describeOutcome(withEarlierLegs(incoming.conference, conference), model.me, incoming.legId);
    return [withOutcome(next, text), effects];
  }
  if (myLeg !== undefined && myLeg.status === "in-progress") {
    // Another page of mine took the call.
    return [withOutcome(next, `Call from ${incoming.caller} answered elsewhere`), effects];
  }
  return [next, effects];
}

/** Others' legs that have ended since the previous frame of the same conference. */
function departed(previous: Conference, current: Conference, myLeg: Leg | undefined): Leg[] {
  return current.legs.filter((leg) => {
    if (leg.id === myLeg?.id || !isTerminalLeg(leg.status)) return false;
    const before = previous.legs.find((l) => l.id === leg.id);
    return before === undefined || !isTerminalLeg(before.status);
  });
}

/**
 * The final frame may no longer list a leg that left earlier ("a failed leg
 * is removed"); put back the legs we saw before so the outcome can name them.
 */
function withEarlierLegs(previous: Conference | null, final: Conference): Conference {
  if (previous === null || previous.id !== final.id) return final;
  const ids = new Set(final.legs.map((leg) => leg.id));
  const missing = previous.legs.filter((leg) => !ids.has(leg.id));
  return missing.length === 0 ? final : { ...final, legs: [...final.legs, ...missing] };
}

// ---------------------------------------------------------------------------
// User actions

/** The one dial box calls when I am not on a call, adds when I chair the call I am on. */
function dialSubmitted(model: Model): Update {
  switch (dialMode(model)) {
    case "call":
      return callClicked(model);
    case "add":
      return addClicked(model);
    case "hidden":
      return [model, []];
  }
}

function callClicked(model: Model): Update {
  const to = model.dialText.trim();
  if (to === "") return [withNotice(model, "Type a name or a phone number to call"), []];
  if (model.connection !== "open") return [withNotice(model, "Not connected to Talkbox"), []];
  return [
    { ...model, placing: to, notice: null, outcome: null },
    [{ type: "send", frame: { type: "call", to } }],
  ];
}

/** Only the chair, while on the call, adds: with the dial box's text, which it then clears. */
function addClicked(model: Model): Update {
  const conference = model.conference;
  if (conference === null || dialMode(model) !== "add") return [model, []];
  const to = model.dialText.trim();
  if (to === "") return [withNotice(model, "Type a name or a phone number to add"), []];
  if (model.connection !== "open") return [withNotice(model, "Not connected to Talkbox"), []];
  return [
    { ...model, dialText: "", notice: null, outcome: null },
    [{ type: "send", frame: { type: "add", conference_id: conference.id, to } }],
  ];
}

function acceptClicked(model: Model): Update {
  const incoming = model.incoming;
  if (incoming === null || incoming.rejected) return [model, []];
  const effects: Effect[] = [];
  if (model.ringing) effects.push({ type: "stop-ringtone" });
  // Accepting while in another call ends that call first.
  if (model.conference !== null && model.conference.id !== incoming.conferenceId) {
    effects.push({ type: "send", frame: { type: "hang_up", conference_id: model.conference.id } });
  }
  if (model.media.legId !== null && model.media.legId !== incoming.legId) {
    effects.push({ type: "stop-media", legId: model.media.legId });
  }
  effects.push({
    type: "answer-media",
    conferenceId: incoming.conferenceId,
    legId: incoming.legId,
    sdp: incoming.sdp,
  });
  return [
    {
      ...model,
      incoming: null,
      ringing: false,
      conference: incoming.conference,
      placing: null,
      outcome: null,
      notice: null,
      media: { phase: "connecting", legId: incoming.legId, conferenceId: incoming.conferenceId },
    },
    effects,
  ];
}

function rejectClicked(model: Model): Update {
  const incoming = model.incoming;
  if (incoming === null || incoming.rejected) return [model, []];
  const effects: Effect[] = [];
  if (model.ringing) effects.push({ type: "stop-ringtone" });
  effects.push({ type: "send", frame: { type: "reject", leg_id: incoming.legId } });
  return [{ ...model, incoming: { ...incoming, rejected: true }, ringing: false }, effects];
}

// ---------------------------------------------------------------------------
// Media

function mediaFailed(model: Model, legId: string, reason: "microphone" | "media"): Update {
  if (model.media.legId !== legId) return [model, [{ type: "stop-media", legId }]];
  const effects: Effect[] = [];
  // Tell the server only while the leg is still being brought up; once it
  // was connected the server's side sees the loss itself.
  if (model.media.phase !== "connected" && model.media.phase !== "failed") {
    effects.push({ type: "send", frame: { type: "leg_failed", leg_id: legId, reason } });
  }
  effects.push({ type: "stop-media", legId });
  const text =
    reason === "microphone" ? "Could not open the microphone" : "Could not connect the call's audio";
  return [withNotice({ ...model, media: { ...model.media, phase: "failed" } }, text), effects];
}

// ---------------------------------------------------------------------------

/** The status line shows the latest of outcome and notice: setting one clears the other. */
function withNotice(model: Model, notice: string): Model {
  return { ...model, notice, outcome: null };
}

function withOutcome(model: Model, outcome: string): Model {
  return { ...model, outcome, notice: null };
}
