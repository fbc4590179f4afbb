// The one place the page's state changes: update(model, msg) -> [model, effects].
// Pure: no DOM, no WebSocket, no timers, no randomness.

import type { DeviceKind, DeviceOption, MicrophoneProblem } from "./devices";
import { MICROPHONE_HELP, lostDevicesText, withoutMissing } from "./devices";
import type { Effect, HeldCall, IncomingCall, MediaState, Model, Msg } from "./model";
import { NO_MEDIA, reconnectDelay } from "./model";
import {
  KEYPAD,
  canDialNumbers,
  canTransfer,
  canUseKeypad,
  dialMode,
  mySide,
  transferOf,
  transferableOut,
} from "./call";
import { withPresence } from "./directory";
import { HISTORY_PAGE, withPage } from "./history";
import { bareNumber, formatNumber, looksLikeNumber } from "./numbers";
import { NAME_RULE, nameProblem } from "./names";
import { announce, narrate, withFocus } from "./narration";
import { describeDeparture, describeOutcome, findMyLeg } from "./outcome";
import type {
  Conference,
  ErrorCode,
  ErrorMessage,
  Leg,
  LegFailedReason,
  Offer,
  RefusalCode,
  Refused,
  Retrying,
  ServerMessage,
} from "./protocol";
import { CloseCode, isPendingLeg, isTerminalLeg } from "./protocol";
import type { StatsReading } from "./quality";
import { callQuality } from "./quality";

/** Media providers this page has an adapter for. */
export const SUPPORTED_PROVIDERS: readonly string[] = ["builtin", "twilio"];

/**
 * Twilio carries the media and reaches the page itself: legs come as
 * incoming Twilio calls (no `offer`), the SDK answers them (no `answer`
 * frame), and the media does not depend on Talkbox's process (nothing to
 * `resume`: the server has no media to offer again).
 */
export function providerCarriesMedia(model: Pick<Model, "provider">): boolean {
  return model.provider === "twilio";
}


export type Update = [Model, Effect[]];

/** Every message: its own change, then what that change tells a screen reader and where focus goes. */
export function update(model: Model, msg: Msg): Update {
  const [stepped, effects] = step(model, msg);
  const [refreshed, refresh] = historyAfterCall(model, stepped);
  // Blocked sound matters only while something rings.
  const next = refreshed.ringtoneBlocked && !refreshed.ringing ? { ...refreshed, ringtoneBlocked: false } : refreshed;
  const notes = ringNotifications(model, next);
  return [next === model ? model : narrate(model, next), [...effects, ...refresh, ...notes]];
}

/**
 * A call that starts ringing here gets a desktop notification (the runtime shows it only when the
 * tab is in the background); one that stops ringing, rung out or taken, has it closed.
 */
function ringNotifications(before: Model, after: Model): Effect[] {
  const was = before.incoming?.rejected === false ? before.incoming : null;
  const now = after.incoming?.rejected === false ? after.incoming : null;
  if (was?.legId === now?.legId || after.notifications !== "granted") return [];
  const effects: Effect[] = [];
  if (was !== null) effects.push({ type: "close-notification", tag: was.legId });
  if (now !== null) {
    effects.push({ type: "notify-call", tag: now.legId, caller: now.caller });
  }
  return effects;
}

/** With the History panel open, a call of mine that just ended (or stopped ringing) is shown in it. */
function historyAfterCall(before: Model, after: Model): Update {
  const ended =
    (before.conference !== null && after.conference === null) || (before.incoming !== null && after.incoming === null);
  if (!ended || !after.history.open || after.connection !== "open") return [after, []];
  return firstHistoryPage(after);
}

/** Ask for the newest calls, and mark them seen: the panel shows them. */
function firstHistoryPage(model: Model): Update {
  return [
    { ...model, history: { ...model.history, loading: "first", missed: 0 } },
    [
      { type: "send", frame: { type: "history", limit: HISTORY_PAGE } },
      { type: "send", frame: { type: "history_seen" } },
    ],
  ];
}

function step(model: Model, msg: Msg): Update {
  switch (msg.type) {
    case "socket-connecting":
      return [{ ...model, connection: "connecting" }, []];

    case "socket-opened":
      // A new connection: the server sends its whole state again, and a
      // leg may be resumed once more.
      return [
        {
          ...model,
          connection: "open",
          reconnectAttempt: 0,
          authFailed: false,
          tokenRequired: false,
          closeCode: null,
          known: {},
          resumeSent: [],
        },
        [],
      ];

    case "socket-closed":
      return socketClosed(model, msg.code, msg.reason);

    case "server-message":
      return serverMessage(model, msg.message);

    case "dial-changed": {
      const text = msg.caretAtEnd ? formatNumber(msg.text) : msg.text;
      return [text === model.dialText ? model : { ...model, dialText: text }, []];
    }

    case "leg-stats-due": {
      const conference = model.conference;
      if (conference === null || model.connection !== "open" || model.media.phase !== "connected") return [model, []];
      const side = mySide(model, conference);
      if (!side.chair || !side.onCall || side.othersLive.length === 0) return [model, []];
      return [model, [{ type: "send", frame: { type: "leg_stats", conference_id: conference.id } }]];
    }

    case "clock-ticked":
      return [{ ...model, now: msg.now, callStartedAt: timerStart(model, msg.now) }, []];

    case "shortcut":
      return shortcut(model, msg.action);

    case "sign-in-submitted":
      return signInSubmitted(model, msg.name.trim());

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
      if (model.connection !== "open") return leaveOffline(model, model.conference);
      return [model, [{ type: "send", frame: { type: "hang_up", conference_id: model.conference.id } }]];

    case "add-clicked":
      return addClicked(model);

    case "remove-clicked":
      if (model.conference === null) return [model, []];
      if (model.connection !== "open") return [withNotice(model, OFFLINE), []];
      return [
        model,
        [{ type: "send", frame: { type: "remove", conference_id: model.conference.id, leg_id: msg.legId } }],
      ];

    case "mute-clicked": {
      const leg = model.conference?.legs.find((l) => l.id === msg.legId);
      if (model.conference === null || leg === undefined) return [model, []];
      if (model.connection !== "open") return [withNotice(model, OFFLINE), []];
      const frame = { type: "mute", conference_id: model.conference.id, leg_id: leg.id, muted: !leg.muted } as const;
      return [model, [{ type: "send", frame }]];
    }

    case "record-clicked":
      return recordClicked(model);

    case "library-loaded":
      return [msg.library === null ? model : { ...model, library: msg.library }, []];

    case "recording-played": {
      const entry = model.library?.recordings.find((r) => r.id === msg.id);
      return [model, entry?.isNew ? [{ type: "mark-heard", id: msg.id }] : []];
    }

    case "recording-delete-clicked":
      return [model, [{ type: "delete-recording", id: msg.id }]];

    case "voicemail-toggled": {
      // Shown as chosen at once; the list fetched after the server took it says what it has.
      const library = model.library === null ? null : { ...model.library, voicemail: msg.on };
      return [{ ...model, library }, [{ type: "set-voicemail", on: msg.on }]];
    }

    case "hold-clicked":
      return holdClicked(model, msg.legId);

    case "complete-transfer-clicked":
    case "cancel-transfer-clicked":
      return transferClicked(model, msg.legId, msg.type === "complete-transfer-clicked");

    case "switch-clicked":
      return switchClicked(model, msg.conferenceId);

    case "hang-up-held-clicked":
      if (!model.held.some((call) => call.conference.id === msg.conferenceId)) return [model, []];
      if (model.connection !== "open") return [withNotice(model, OFFLINE), []];
      return [model, [{ type: "send", frame: { type: "hang_up", conference_id: msg.conferenceId } }]];

    case "rejoin-clicked": {
      const conference = model.conference;
      if (conference === null || !mySide(model, conference).canRejoin) return [model, []];
      if (model.connection !== "open") return [withNotice(model, OFFLINE), []];
      return [
        { ...model, outcome: null, notice: null, ownConferences: withItem(model.ownConferences, conference.id) },
        [{ type: "send", frame: { type: "rejoin", conference_id: conference.id } }],
      ];
    }

    case "transfer-changed":
      return [{ ...model, transferText: msg.text }, []];

    case "transfer-submitted":
      return transferSubmitted(model);

    case "transfer-out-clicked":
      return transferOutClicked(model, msg.legId);

    case "keypad-pressed":
      return keypadPressed(model, msg.digit);

    case "media-answer-ready":
      if (providerCarriesMedia(model)) {
        // Twilio: the call was accepted; the SDK answered Twilio itself.
        if (model.media.legId === msg.legId && hasLiveMedia(model.media)) return [model, []];
        return [model, [{ type: "stop-media", legId: msg.legId }]];
      }
      const answeredHeld = heldCallOf(model, msg.legId)?.media;
      if (answeredHeld?.legId === msg.legId && answeredHeld.phase === "connecting") {
        return [model, [{ type: "send", frame: { type: "answer", leg_id: msg.legId, sdp: msg.sdp } }]];
      }
      if (model.media.legId !== msg.legId || model.media.phase !== "connecting") {
        // An answer for a leg we gave up on meanwhile: drop its media.
        return [model, [{ type: "stop-media", legId: msg.legId }]];
      }
      return [model, [{ type: "send", frame: { type: "answer", leg_id: msg.legId, sdp: msg.sdp } }]];

    case "media-connected": {
      // Also a stalled one that came back by itself.
      const { media } = model;
      const heldCall = heldCallOf(model, msg.legId);
      if (heldCall !== undefined && heldCall.media.legId === msg.legId && heldCall.media.phase !== "idle") {
        return [withHeldMedia(model, heldCall, { ...heldCall.media, phase: "connected" }), []];
      }
      if (media.legId !== msg.legId || (media.phase !== "connecting" && media.phase !== "lost")) return [model, []];
      // A new connection: its quality is measured afresh.
      return [{ ...model, media: { ...media, phase: "connected" }, quality: null, qualityReading: null }, []];
    }

    case "media-interrupted":
      return mediaInterrupted(model, msg.legId);

    case "media-failed":
      return mediaFailed(model, msg.legId, msg.reason, msg.problem);

    case "devices-listed":
      return devicesListed(model, msg.microphones, msg.speakers);

    case "device-chosen":
      return deviceChosen(model, msg.kind, msg.id);

    case "devices-toggled": {
      if (msg.open === model.devices.open) return [model, []];
      const devices = { ...model.devices, open: msg.open, level: 0 };
      const effect: Effect = msg.open
        ? { type: "start-level-meter", microphone: devices.chosen.microphone }
        : { type: "stop-level-meter" };
      return [{ ...model, devices }, [effect]];
    }

    case "microphone-level":
      if (!model.devices.open) return [model, []];
      return [{ ...model, devices: { ...model.devices, level: msg.level }, microphoneHelp: null }, []];

    case "microphone-unavailable":
      return [{ ...model, microphoneHelp: MICROPHONE_HELP[msg.problem] }, []];

    case "speaker-test-clicked":
      return [model, [{ type: "play-test-tone", speaker: model.devices.chosen.speaker }]];

    case "microphone-ended":
      return microphoneEnded(model, msg.legId);

    case "stats-read":
      return statsRead(model, msg.legId, msg.reading);

    case "quality-measured":
      if (model.media.legId !== msg.legId || model.media.phase !== "connected") return [model, []];
      return [{ ...model, quality: msg.quality }, []];

    case "directory-filter-changed":
      if (msg.text === model.directory.filter) return [model, []];
      return [{ ...model, directory: { ...model.directory, filter: msg.text } }, []];

    case "person-clicked":
      // As if typed into the dial box: a call, or (the chair, on a call) an add; the box's rules apply.
      return dialSubmitted({ ...model, dialText: msg.name });

    case "dnd-toggled":
      if (model.connection !== "open") return [withNotice(model, OFFLINE), []];
      return [
        { ...model, directory: { ...model.directory, asked: msg.on } },
        [{ type: "send", frame: { type: "set_presence", status: msg.on ? "dnd" : "available" } }],
      ];

    case "history-toggled": {
      if (msg.open === model.history.open) return [model, []];
      const next = { ...model, history: { ...model.history, open: msg.open } };
      return msg.open && model.connection === "open" ? firstHistoryPage(next) : [next, []];
    }

    case "notifications-asked":
      if (model.notifications !== "default") return [model, []];
      return [model, [{ type: "ask-notifications" }]];

    case "notifications-dismissed":
      return [{ ...model, notifications: "dismissed" }, [{ type: "remember-notifications-dismissed" }]];

    case "notifications-answered":
      return [{ ...model, notifications: msg.permission }, []];

    case "notification-clicked":
      // The tab is in front: where to answer from is the next thing.
      return [model.incoming !== null && !model.incoming.rejected ? withFocus(model, "accept") : model, []];

    case "ringtone-blocked":
      return [model.ringing ? { ...model, ringtoneBlocked: true } : model, []];

    case "ringtone-allowed-clicked":
      return [model, [{ type: "allow-ringtone" }]];

    case "ringtone-audible":
      return [model.ringtoneBlocked ? { ...model, ringtoneBlocked: false } : model, []];

    case "history-more-clicked": {
      const { history } = model;
      if (history.before === null || history.loading !== null || model.connection !== "open") return [model, []];
      return [
        { ...model, history: { ...history, loading: "more" } },
        [{ type: "send", frame: { type: "history", before: history.before, limit: HISTORY_PAGE } }],
      ];
    }


    case "send-failed":
      return [withNotice(model, "Not connected to Talkbox: the request was not sent"), []];

    case "media-offered": {
      if (!providerCarriesMedia(model)) return [model, []];
      // The incoming Twilio call stands for the `offer` the built-in engine sends.
      const offer: Offer = {
        type: "offer",
        conference_id: msg.conferenceId,
        leg_id: msg.legId,
        caller: msg.caller,
        sdp: msg.offer,
        auto_answer: msg.autoAnswer,
      };
      return msg.autoAnswer ? ownLegOffered(model, offer) : incomingOffered(model, offer);
    }

    case "media-device": {
      if (!providerCarriesMedia(model)) return [model, []];
      // An error stays on show through the unregistered/registering that
      // follow it, until the Device registers.
      const detail = msg.detail ?? (msg.state === "registered" ? null : model.device?.detail ?? null);
      return [{ ...model, device: { state: msg.state, detail } }, []];
    }

    case "media-token-expiring":
      if (!providerCarriesMedia(model)) return [model, []];
      return [model, [{ type: "refresh-media-token" }]];
  }
}

// ---------------------------------------------------------------------------
// Socket

/** A close with nothing from the server (1006): a reconnect attempt that found no server, for one. */
const CLOSE_ABNORMAL = 1006;
/** Reasons for a close that stay true while the server is away: a restart, a move to another node. */
const LASTING_CLOSES: readonly number[] = [CloseCode.SERVICE_RESTART, CloseCode.MOVING];

function socketClosed(model: Model, code: number, reason: string): Update {
  const effects: Effect[] = [];
  // An attempt that found Talkbox still down says nothing new: it is still restarting (or moving).
  const stillAway = code === CLOSE_ABNORMAL && model.closeCode !== null && LASTING_CLOSES.includes(model.closeCode);
  const closeCode = stillAway ? model.closeCode : code;
  // The call panel stays: the call may well go on, and the server sends it again.
  let next: Model = { ...model, connection: "closed", closeCode, placing: null };
  // Talkbox is restarting: its media for my leg goes with it. Resume on reconnect.
  const { media } = next;
  // (Twilio's media does not go through Talkbox: it carries on.)
  if (code === CloseCode.SERVICE_RESTART && media.legId !== null && hasLiveMedia(media) && !providerCarriesMedia(model)) {
    effects.push({ type: "stop-media", legId: media.legId });
    next = { ...next, media: { ...media, phase: "lost" } };
  }
  // An offer cannot be answered without the socket, and its end would go unseen.
  if (next.incoming !== null) next = { ...next, incoming: null };
  if (next.ringing) {
    next = { ...next, ringing: false };
    effects.push({ type: "stop-ringtone" });
  }
  if (code === CloseCode.UNAUTHORIZED) {
    const refused = refusedIdentity(reason);
    const notice = `Not signed in: ${SIGN_IN_REFUSALS[refused]}`;
    return [{ ...withNotice(next, notice), authFailed: true, tokenRequired: refused === "token" }, effects];
  }
  if (code === CloseCode.TOO_MANY_SOCKETS) {
    const why = reason || "too many pages are open for this user";
    return [withNotice(next, `Not connected: ${why}. Close another page and reload this one.`), effects];
  }
  effects.push({ type: "reconnect-later", delayMs: reconnectDelay(model.reconnectAttempt) });
  return [{ ...next, reconnectAttempt: model.reconnectAttempt + 1 }, effects];
}

/** What the server's 4401 refused: the name, the token (or its absence), or something else. */
function refusedIdentity(reason: string): "name" | "token" | "identity" {
  if (reason.startsWith("client_name")) return "name";
  return reason.includes("token") ? "token" : "identity";
}

/** Each refusal in the words of the person refused, rather than the server's. */
const SIGN_IN_REFUSALS: Record<ReturnType<typeof refusedIdentity>, string> = {
  name: `that name cannot be used. Use only ${NAME_RULE}.`,
  token: "this server signs people in with a link that carries a token; ask for a new link",
  identity: "Talkbox did not accept who this page says you are",
};

// ---------------------------------------------------------------------------
// Server messages

function serverMessage(model: Model, message: ServerMessage): Update {
  switch (message.type) {
    case "welcome": {
      let next: Model = { ...model, me: message.user, provider: message.provider };
      if (!SUPPORTED_PROVIDERS.includes(message.provider)) {
        return [withNotice(next, `This page cannot use the "${message.provider}" media provider`), []];
      }
      if (!providerCarriesMedia(next)) next = { ...next, device: null };
      else if (next.device === null) next = { ...next, device: { state: "starting", detail: null } };
      // The provider selects the adapter (every time: Twilio's announces its
      // incoming calls again, which the page forgot when the socket dropped).
      const effects: Effect[] = [{ type: "use-media", provider: message.provider }, { type: "fetch-library" }];
      // The directory, and the missed calls, as they stand now (again after a reconnect).
      effects.push({ type: "send", frame: { type: "directory" } });
      if (next.history.open) {
        const [refreshed, refresh] = firstHistoryPage(next);
        next = refreshed;
        effects.push(...refresh);
      }
      return [next, effects];
    }
    case "resync":
      // Nothing to drop: the synced that ends the state that follows settles a call it no longer lists.
      return [model, []];
    case "refused":
      return [withNotice({ ...model, placing: null }, refusalText(message.code, message.message)), []];
    case "error":
      return [withNotice({ ...model, placing: null }, errorText(message.code, message.message)), []];
    case "retrying":
      return retrying(model, message);
    case "offer":
      return message.auto_answer ? ownLegOffered(model, message) : incomingOffered(model, message);
    case "conference":
      return conferenceChanged(model, message.conference);
    case "presence":
      return [{ ...model, directory: withPresence(model.directory, message, model.me) }, []];
    case "leg_stats": {
      if (model.conference?.id !== message.conference_id) return [model, []];
      const legStats = Object.fromEntries(message.legs.map((leg) => [leg.leg_id, leg]));
      return [{ ...model, legStats }, []];
    }
    case "history":
      return [{ ...model, history: withPage(model.history, message) }, []];
    case "missed":
      // A new missed call while the panel shows the history: it shows that one too.
      if (model.history.open && message.count > 0) return firstHistoryPage(model);
      return [{ ...model, history: { ...model.history, missed: message.count } }, []];
    case "speaking":
      if (model.conference?.id !== message.conference_id) return [model, []];
      return [{ ...model, speaking: message.legs }, []];
    case "recordings_changed":
      return [model, [{ type: "fetch-library" }]];

    case "synced":
      return synced(model, message.conferences);
    case "digit": {
      if (model.conference?.id !== message.conference_id) return [model, []];
      // My own keys are shown as I press them; the server's echo of them is for the others' pages.
      if (findMyLeg(model.conference, model.me)?.id === message.leg_id) return [model, []];
      const pressed = ((model.digits[message.leg_id] ?? "") + message.digit).slice(-DIGITS_SHOWN);
      return [{ ...model, digits: { ...model.digits, [message.leg_id]: pressed } }, []];
    }
  }
}

/** The chair records the call on the panel, or stops recording it. */
function recordClicked(model: Model): Update {
  const conference = model.conference;
  if (conference === null || !mySide(model, conference).chair) return [model, []];
  if (conference.recording === "voicemail") return [model, []];
  if (model.connection !== "open") return [withNotice(model, OFFLINE), []];
  const frame = { type: "record", conference_id: conference.id, on: conference.recording !== "call" } as const;
  return [model, [{ type: "send", frame }]];
}

/** How many of a telephone's last keys the page shows. */
const DIGITS_SHOWN = 16;

const RETRYING: Record<string, string> = {
  hang_up: "Could not hang up yet: Talkbox could not save it. Retrying…",
};

/**
 * The server took a request but could not save it yet, and keeps trying. For
 * a hang-up the call is over as far as I am concerned: my media goes now (the
 * server has already stopped its side), so nothing is heard or resumed while
 * the panel waits for the server to confirm the end.
 */
function retrying(model: Model, message: Retrying): Update {
  const text =
    message.message.trim() || RETRYING[message.request] || `Could not save that yet (${message.request}). Retrying…`;
  const next: Model = { ...withNotice(model, text), retrying: message.conference_id };
  const { media } = model;
  if (message.request !== "hang_up" || media.legId === null || media.conferenceId !== message.conference_id) {
    return [next, []];
  }
  return [{ ...next, media: NO_MEDIA }, [{ type: "stop-media", legId: media.legId }]];
}

// Typed by the wire's vocabularies, so words for a code the server does not have fail to compile.
const REFUSALS: Partial<Record<RefusalCode, string>> = {
  dnd: "They do not want to be disturbed just now",
  self_call: "You cannot call yourself",
  invalid_destination: "That is not a name or a phone number",
  too_many_calls: "You are on as many calls as you can be: hang one up first",
  held_by_self: "They are away on another call: only they can take it off hold",
  hold_failed: "Hold failed: the call is as it was",
  not_held: "Hold the person to transfer first",
  nobody_to_transfer_to: "Add who to transfer them to first",
  store_unavailable: "Could not place the call: Talkbox could not save it. Try again shortly.",
};

/** The server's message when it gave one, else words for the code. */
export function refusalText(code: Refused["code"], message: string): string {
  return message.trim() || REFUSALS[code as RefusalCode] || `The call was refused (${code})`;
}

const ERRORS: Partial<Record<ErrorCode, string>> = {
  rate_limited: "Too many requests: wait a moment and try again",
};

/** The server's message when it gave one, else words for the code. */
export function errorText(code: ErrorMessage["code"], message: string): string {
  return message.trim() || ERRORS[code as ErrorCode] || `The server did not accept a request (${code})`;
}

/**
 * An offer to connect at once (auto_answer): my own outgoing leg, a rejoin,
 * or the media of a live leg offered again (after `resume`, or by a restarted
 * server). Answered only when it is this page's to answer; a new offer for a
 * leg this page has media for replaces that media.
 */
function ownLegOffered(model: Model, offer: Offer): Update {
  const { media } = model;
  if (media.legId === offer.leg_id && hasLiveMedia(media) && media.offerSdp === offer.sdp) {
    // The very offer already answered, sent again: nothing changes.
    return [model, []];
  }
  const heldCall = heldCallOf(model, offer.leg_id);
  if (heldCall !== undefined) return heldLegOffered(model, heldCall, offer);
  if (!mayAutoAnswer(model, offer)) return [model, []];
  const effects: Effect[] = [];
  // The old media goes first (for the same leg too), so the remote audio
  // ends up holding the new stream.
  if (media.legId !== null) effects.push({ type: "stop-media", legId: media.legId });
  effects.push({ type: "answer-media", conferenceId: offer.conference_id, legId: offer.leg_id, sdp: offer.sdp });
  return [
    {
      ...model,
      placing: null,
      media: { phase: "connecting", legId: offer.leg_id, conferenceId: offer.conference_id, offerSdp: offer.sdp },
      mediaLegs: withItem(model.mediaLegs, offer.leg_id),
      ownConferences: model.ownConferences.filter((id) => id !== offer.conference_id),
      elsewhere: model.elsewhere.filter((id) => id !== offer.leg_id),
    },
    effects,
  ];
}

/**
 * The media of my leg on a call on hold, offered again (after `resume`, or by a media worker restarted):
 * answered quietly, so the call I am on keeps the speaker, and there at once when switched to.
 */
function heldLegOffered(model: Model, call: HeldCall, offer: Offer): Update {
  if (call.media.legId === offer.leg_id && hasLiveMedia(call.media) && call.media.offerSdp === offer.sdp) {
    return [model, []];
  }
  const effects: Effect[] = call.media.legId !== null ? [{ type: "stop-media", legId: call.media.legId }] : [];
  effects.push({
    type: "answer-media",
    conferenceId: offer.conference_id,
    legId: offer.leg_id,
    sdp: offer.sdp,
    quiet: true,
  });
  const media: MediaState = {
    phase: "connecting",
    legId: offer.leg_id,
    conferenceId: offer.conference_id,
    offerSdp: offer.sdp,
  };
  return [{ ...withHeldMedia(model, call, media), mediaLegs: withItem(model.mediaLegs, offer.leg_id) }, effects];
}

/** The call on hold whose media, or my leg on it, is `legId`. */
function heldCallOf(model: Model, legId: string): HeldCall | undefined {
  return model.held.find(
    (call) =>
      call.media.legId === legId || mySide({ me: model.me, media: call.media }, call.conference).myLeg?.id === legId,
  );
}

function withHeldMedia(model: Model, call: HeldCall, media: MediaState): Model {
  return { ...model, held: model.held.map((c) => (c === call ? { ...c, media } : c)) };
}

/**
 * A call on hold lost its media (Talkbox or its media worker restarted): ask for it again now, not when
 * switched to, since the server ends a leg whose media does not come back within its grace.
 */
function heldMediaLost(model: Model, call: HeldCall, legId: string, fresh: boolean): Update {
  const resumeSent = fresh ? model.resumeSent.filter((id) => id !== legId) : model.resumeSent;
  const next = withHeldMedia({ ...model, resumeSent }, call, { ...call.media, phase: "lost" });
  return resumeHeld(next, [{ type: "stop-media", legId }], call.conference, legId);
}

/** Send `resume` for my leg on a call on hold, once, while the socket is open (else on reconnecting). */
function resumeHeld(model: Model, effects: Effect[], conference: Conference, legId: string): Update {
  const leg = conference.legs.find((l) => l.id === legId);
  if (model.connection !== "open" || leg?.status !== "in-progress" || model.resumeSent.includes(legId)) {
    return [model, effects];
  }
  return [sendResume(model, effects, legId), effects];
}

/**
 * Whether an auto_answer offer is this page's to answer: a leg it has (or
 * had) media for, one it sent `resume` for, the leg of a call it placed or
 * rejoined; or, on a page with no media at all, a live leg no other page of
 * mine is known to have (a restarted server offering it again). Never a leg
 * this page saw being placed elsewhere (still pending) or answered elsewhere.
 */
export function mayAutoAnswer(model: Model, offer: Offer): boolean {
  const { media } = model;
  if (media.legId === offer.leg_id) return true;
  if (model.resumeSent.includes(offer.leg_id)) return true;
  if (model.ownConferences.includes(offer.conference_id)) return true;
  const known = model.known[offer.conference_id];
  if (model.placing !== null && known === undefined) return true; // the offer overtook its conference
  if (media.legId !== null && hasLiveMedia(media)) return false;
  if (model.elsewhere.includes(offer.leg_id)) return false;
  const leg = known?.legs.find((l) => l.id === offer.leg_id);
  return leg === undefined || leg.status === "in-progress";
}

/** Someone calls me: ring until Accept, Reject or the leg stops ringing. */
function incomingOffered(model: Model, offer: Offer): Update {
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
  const waiting = (model.conference !== null && mySide(model, model.conference).onCall) || model.held.length > 0;
  const incoming: IncomingCall = {
    conferenceId: offer.conference_id,
    legId: offer.leg_id,
    caller: offer.caller,
    sdp: offer.sdp,
    // After a reload the conference comes before its offer.
    conference: model.known[offer.conference_id] ?? null,
    rejected: false,
    ...(waiting ? { waiting } : {}),
  };
  const ring: Effect = waiting ? { type: "start-ringtone", waiting } : { type: "start-ringtone" };
  const effects: Effect[] = model.ringing ? [] : [ring];
  return [{ ...model, incoming, ringing: true }, effects];
}

function conferenceChanged(model: Model, conference: Conference): Update {
  if (model.leftOffline.includes(conference.id)) return leftOfflineSeen(model, conference);
  // The server saved what it was retrying: its notice has done its job.
  if (model.retrying === conference.id) model = { ...model, retrying: null, notice: null };
  // The first frame of a conference on this connection is the state on connect.
  const first = model.known[conference.id] === undefined;
  const known = { ...model.known };
  if (conference.status === "ended") delete known[conference.id];
  else known[conference.id] = conference;
  model = { ...model, known };

  if (model.incoming !== null && model.incoming.conferenceId === conference.id) {
    return incomingConferenceChanged(model, model.incoming, conference);
  }
  const heldCall = model.held.find((call) => call.conference.id === conference.id);
  if (heldCall !== undefined) return heldConferenceChanged(model, heldCall, conference);
  if (conference.id !== model.conference?.id && isAwayOn(model, conference)) {
    // Another call of mine, on hold (seen on connecting, or held from another tab): a panel of its own.
    return [{ ...model, held: [...model.held, { conference, media: NO_MEDIA }] }, []];
  }
  if (!claims(model, conference, first)) return [model, []];
  // My leg moved here from another call (transferred out of a larger one, or back): its media comes with it.
  const { media } = model;
  if (media.legId !== null && media.conferenceId !== conference.id && mySide(model, conference).myLeg?.id === media.legId) {
    model = { ...model, media: { ...media, conferenceId: conference.id } };
  }
  // And gone from this one, not ended: the panel goes quietly, and the media stays for the call it is on now.
  if (media.conferenceId === conference.id && media.legId !== null && !conference.legs.some((l) => l.id === media.legId)) {
    return [{ ...model, conference: null, placing: null, speaking: [], digits: {}, legStats: {} }, []];
  }

  const previous = model.conference?.id === conference.id ? model.conference : null;
  if (previous === null || conference.status === "ended") model = { ...model, speaking: [], digits: {}, legStats: {} };
  const couldRejoin = previous !== null && mySide(model, previous).canRejoin;
  const side = mySide(model, conference);
  const effects: Effect[] = [];
  let next: Model = { ...model, placing: null };
  // The call I just placed: its auto_answer leg is mine.
  if (model.placing !== null && previous === null && side.chair) {
    next = { ...next, ownConferences: withItem(next.ownConferences, conference.id) };
    // Taken: the name typed is on the call now, and the box is for whoever to add.
    if (dialled(next.dialText) === model.placing) next = { ...next, dialText: "" };
  }

  // My leg is over: my media goes, whatever happens to the conference.
  if (!side.onCall || conference.status === "ended") {
    const media = model.media;
    if (media.legId !== null && (media.conferenceId === conference.id || media.legId === side.myLeg?.id)) {
      effects.push({ type: "stop-media", legId: media.legId });
      next = { ...next, media: NO_MEDIA };
    }
  }

  // Still on it; or its chair, who dropped, while the server settles what
  // happens to the others (it goes on and I may rejoin, or it ends).
  if (conference.status !== "ended" && (side.onCall || side.chair)) {
    next = { ...next, conference };
    // The server held my leg: another call of mine is the one I talk on now (accepted in another tab, say).
    if (side.onCall && side.myLeg?.held === true && side.myLeg.held_by_chair !== true) return [putAside(next), effects];
    if (side.canRejoin && !couldRejoin) {
      next = withOutcome(next, describeOutcome(conference, model.me, side.myLeg?.id));
    } else if (side.onCall && previous !== null) {
      const departures = departed(previous, conference, side.myLeg)
        .map((leg) => describeDeparture(conference, model.me, leg, side.myLeg))
        .filter((text): text is string => text !== null);
      if (departures.length > 0) next = withOutcome(next, departures.join("; "));
    }
    return liveLegSeen(next, effects, side.myLeg, first);
  }

  // The call is over for me: clear the panel and say how it ended.
  next = { ...next, conference: null };
  const text = describeOutcome(withEarlierLegs(previous, conference), model.me, side.myLeg?.id);
  return [withOutcome(next, text), effects];
}

/** A call on hold changed: it stays on its panel while I am on it, and goes (saying how) when it ends for me. */
function heldConferenceChanged(model: Model, call: HeldCall, conference: Conference): Update {
  const side = mySide({ me: model.me, media: call.media }, conference);
  if (conference.status !== "ended" && side.onCall) {
    const next: Model = { ...model, held: model.held.map((c) => (c === call ? { ...c, conference } : c)) };
    // Its media lost while the socket was down (a restart): asked for again once the socket is back.
    if (call.media.phase !== "lost" || side.myLeg === undefined) return [next, []];
    return resumeHeld(next, [], conference, side.myLeg.id);
  }
  const effects: Effect[] = call.media.legId !== null ? [{ type: "stop-media", legId: call.media.legId }] : [];
  const text = describeOutcome(withEarlierLegs(call.conference, conference), model.me, side.myLeg?.id);
  return [withOutcome({ ...model, held: model.held.filter((c) => c !== call) }, text), effects];
}

/** Whether my live leg on a conference is on hold by my own doing: I am away, on another of my calls. */
function isAwayOn(model: Model, conference: Conference): boolean {
  if (conference.status === "ended") return false;
  const leg = mySide({ me: model.me, media: NO_MEDIA }, conference).myLeg;
  return leg !== undefined && leg.status === "in-progress" && leg.held === true && leg.held_by_chair !== true;
}

/** The call I am on goes on hold: its panel and its media join the calls on hold, and the dial box is free. */
function putAside(model: Model): Model {
  if (model.conference === null) return model;
  const call: HeldCall = { conference: model.conference, media: model.media };
  return {
    ...model,
    held: [...model.held, call],
    conference: null,
    media: NO_MEDIA,
    speaking: [],
    digits: {},
    quality: null,
    qualityReading: null,
  };
}

/** Hold (or take off hold) a leg of the call I am on: my own puts the whole call on hold. */
function holdClicked(model: Model, legId: string): Update {
  const conference = model.conference;
  const leg = conference?.legs.find((l) => l.id === legId);
  if (conference === null || leg === undefined || isTerminalLeg(leg.status)) return [model, []];
  if (model.connection !== "open") return [withNotice(model, OFFLINE), []];
  const held = leg.held !== true;
  const frame = { type: "hold", conference_id: conference.id, leg_id: leg.id, held } as const;
  const mine = leg.id === mySide(model, conference).myLeg?.id;
  return [mine && held ? putAside(model) : model, [{ type: "send", frame }]];
}

/** Complete an attended transfer (the server does it), or call it off: remove whoever was added, resume the held. */
function transferClicked(model: Model, legId: string, complete: boolean): Update {
  const conference = model.conference;
  const transfer = conference === null ? null : transferOf(model, conference);
  if (conference === null || transfer === null || transfer.held.id !== legId) return [model, []];
  if (model.connection !== "open") return [withNotice(model, OFFLINE), []];
  const id = conference.id;
  if (complete) return [model, [{ type: "send", frame: { type: "complete_transfer", conference_id: id, leg_id: legId } }]];
  const effects: Effect[] = transfer.to.map((leg) => ({
    type: "send",
    frame: { type: "remove", conference_id: id, leg_id: leg.id },
  }));
  effects.push({ type: "send", frame: { type: "hold", conference_id: id, leg_id: legId, held: false } });
  return [model, effects];
}

/**
 * Back to a call on hold: my leg there comes off hold (the server then holds
 * the call I was on, whose panel joins the calls on hold), and its audio plays.
 */
function switchClicked(model: Model, conferenceId: string): Update {
  const call = model.held.find((c) => c.conference.id === conferenceId);
  if (call === undefined) return [model, []];
  if (model.connection !== "open") return [withNotice(model, OFFLINE), []];
  const myLeg = mySide({ me: model.me, media: call.media }, call.conference).myLeg;
  if (myLeg === undefined) return [model, []];
  const effects: Effect[] = [
    { type: "send", frame: { type: "hold", conference_id: conferenceId, leg_id: myLeg.id, held: false } },
  ];
  const aside = model.conference !== null && mySide(model, model.conference).onCall ? putAside(model) : model;
  let next: Model = {
    ...aside,
    held: aside.held.filter((c) => c !== call),
    conference: call.conference,
    media: call.media,
    outcome: null,
    notice: null,
  };
  if (call.media.legId !== null) effects.push({ type: "play-media", legId: call.media.legId });
  else if (!providerCarriesMedia(model)) next = sendResume(next, effects, myLeg.id); // found on hold after a reload
  return [next, effects];
}

/**
 * My leg is in progress in a conference shown here. With media for it here,
 * nothing to do. Without, send `resume` (once) when the page lost its media
 * for it, or when the page is fresh to it (never had media for it since it
 * was loaded) and found it already in progress in the first frame after
 * connecting: a reload or a reconnect mid-call. Otherwise another page of
 * mine answered it: this page only watches.
 */
function liveLegSeen(model: Model, effects: Effect[], myLeg: Leg | undefined, first: boolean): Update {
  if (myLeg === undefined || myLeg.status !== "in-progress") return [model, effects];
  const { media } = model;
  const mediaHere = media.legId === myLeg.id;
  if ((mediaHere && hasLiveMedia(media)) || model.resumeSent.includes(myLeg.id)) return [model, effects];
  if (mediaHere && media.phase === "failed") return [model, effects]; // never connected: the server was told
  if (mediaHere && providerCarriesMedia(model)) return [model, effects]; // Twilio reconnects its media itself
  if (
    model.connection === "open" &&
    !providerCarriesMedia(model) &&
    (mediaHere ? media.phase === "lost" : isFreshResume(model, myLeg, first))
  ) {
    return [sendResume(model, effects, myLeg.id), effects];
  }
  if (!mediaHere && !model.elsewhere.includes(myLeg.id)) {
    return [{ ...model, elsewhere: withItem(model.elsewhere, myLeg.id) }, effects];
  }
  return [model, effects];
}

function isFreshResume(model: Model, myLeg: Leg, first: boolean): boolean {
  return (
    first &&
    myLeg.status === "in-progress" &&
    model.media.legId !== myLeg.id &&
    !model.mediaLegs.includes(myLeg.id) &&
    !model.elsewhere.includes(myLeg.id)
  );
}

/** Adds the `resume` frame to `effects`; returns the model that remembers it was sent. */
function sendResume(model: Model, effects: Effect[], legId: string): Model {
  effects.push({ type: "send", frame: { type: "resume", leg_id: legId } });
  return { ...model, resumeSent: withItem(model.resumeSent, legId) };
}

/** Whether a conference frame is about the call this page shows (or should). */
function claims(model: Model, conference: Conference, first: boolean): boolean {
  if (model.conference !== null && model.conference.id === conference.id) return true;
  const side = mySide(model, conference);
  if (side.myLeg === undefined) return false;
  // A leg this page answered (its own outgoing leg, or an accepted call).
  if (model.media.legId !== null && model.media.legId === side.myLeg.id) return true;
  const busyHere = model.conference !== null && mySide(model, model.conference).onCall;
  if (busyHere) return false;
  // My live leg, found in progress on connecting (a reload): resume it.
  if (conference.status !== "ended" && isFreshResume(model, side.myLeg, first)) return true;
  if (!side.chair) return false;
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
    // Another page (tab) of mine took the call: show it, without media of
    // its own here and never resumed from here; Hang up still works.
    next = { ...next, elsewhere: withItem(next.elsewhere, myLeg.id) };
    const busyHere =
      model.conference !== null && model.conference.id !== conference.id && mySide(model, model.conference).onCall;
    if (!busyHere) next = { ...next, conference };
    return [withOutcome(next, "Answered in another tab"), effects];
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

/** When the call on the panel connected (the first tick that finds it so); null with none connected. */
function timerStart(model: Model, now: number): number | null {
  const conference = model.conference;
  if (conference === null) return null;
  const side = mySide(model, conference);
  const talking = side.myLeg?.status === "in-progress" && side.othersLive.some((leg) => leg.status === "in-progress");
  if (!talking) return null;
  return model.callStartedAt ?? now;
}

/** The keyboard's answer and hang up: what the visible buttons would do, and nothing when there is none. */
function shortcut(model: Model, action: "answer" | "hang-up"): Update {
  const ringing = model.incoming !== null && !model.incoming.rejected;
  if (action === "answer") return ringing ? acceptClicked(model) : [model, []];
  if (ringing) return rejectClicked(model);
  if (model.conference !== null && mySide(model, model.conference).onCall) return step(model, { type: "hang-up-clicked" });
  return [model, []];
}

/** What the dial box sends: a name as typed, a number without its grouping. */
function dialled(text: string): string {
  const to = text.trim();
  return looksLikeNumber(to) ? bareNumber(to) : to;
}

function callClicked(model: Model): Update {
  const to = dialled(model.dialText);
  if (to === "") return [withNotice(model, nothingTyped(model, "call")), []];
  if (model.connection !== "open") return [withNotice(model, OFFLINE), []];
  return [
    { ...model, placing: to, notice: null, outcome: null },
    [{ type: "send", frame: { type: "call", to } }],
  ];
}

/** What Call or Add with an empty dial box says: only what can be dialled. */
function nothingTyped(model: Model, verb: "call" | "add"): string {
  return canDialNumbers(model) ? `Type a name or a phone number to ${verb}` : `Type the name of the person to ${verb}`;
}

/** Only the chair, while on the call, adds: with the dial box's text, which it then clears. */
function addClicked(model: Model): Update {
  const conference = model.conference;
  if (conference === null || dialMode(model) !== "add") return [model, []];
  const to = dialled(model.dialText);
  if (to === "") return [withNotice(model, nothingTyped(model, "add")), []];
  if (model.connection !== "open") return [withNotice(model, OFFLINE), []];
  return [
    { ...model, dialText: "", notice: null, outcome: null },
    [{ type: "send", frame: { type: "add", conference_id: conference.id, to } }],
  ];
}

/** A name the server would accept opens the page as that name; another says what is wrong with it. */
/** Hands the other party to whoever is typed; the panel goes once the server ends my leg (at once). */
function transferSubmitted(model: Model): Update {
  const conference = model.conference;
  if (conference === null || !canTransfer(model, conference)) return [model, []];
  const to = model.transferText.trim();
  if (to === "") return [withNotice(model, "Type who to transfer the call to"), []];
  if (model.connection !== "open") return [withNotice(model, OFFLINE), []];
  const frame = { type: "transfer", conference_id: conference.id, to } as const;
  return [{ ...model, transferText: "", notice: null }, [{ type: "send", frame }]];
}

/** Hands one participant of a larger call to whoever is typed; they leave for a call of their own. */
function transferOutClicked(model: Model, legId: string): Update {
  const conference = model.conference;
  if (conference === null || !transferableOut(model, conference).some((leg) => leg.id === legId)) return [model, []];
  const to = model.transferText.trim();
  if (to === "") return [withNotice(model, "Type who to transfer them to"), []];
  if (model.connection !== "open") return [withNotice(model, OFFLINE), []];
  const frame = { type: "transfer", conference_id: conference.id, to, leg_id: legId } as const;
  return [{ ...model, transferText: "", notice: null }, [{ type: "send", frame }]];
}

/**
 * A key of the keypad: the built-in engine sends it to the telephones on the
 * call as RFC 4733 events (the server does); with Twilio the SDK plays it
 * into my own call. My leg's row shows the keys I pressed.
 */
function keypadPressed(model: Model, digit: string): Update {
  const conference = model.conference;
  if (conference === null || !KEYPAD.some((key) => key.digit === digit) || !canUseKeypad(model, conference)) {
    return [model, []];
  }
  const myLeg = mySide(model, conference).myLeg;
  if (myLeg === undefined) return [model, []];
  if (!providerCarriesMedia(model) && model.connection !== "open") return [withNotice(model, OFFLINE), []];
  const effect: Effect = providerCarriesMedia(model)
    ? { type: "send-digits", legId: myLeg.id, digits: digit }
    : { type: "send", frame: { type: "dtmf", conference_id: conference.id, digits: digit } };
  const pressed = ((model.digits[myLeg.id] ?? "") + digit).slice(-DIGITS_SHOWN);
  return [{ ...model, digits: { ...model.digits, [myLeg.id]: pressed } }, [effect]];
}

function signInSubmitted(model: Model, name: string): Update {
  const problem = nameProblem(name);
  if (problem === null) return [{ ...model, signIn: { name, problem } }, [{ type: "sign-in", name }]];
  // Said on every try, and focus back on the name to correct it.
  const next = withFocus({ ...model, signIn: { name, problem } }, "sign-in");
  return [announce(next, problem), []];
}

/** What an action that needs Talkbox says while it cannot be reached. */
const OFFLINE = "Talkbox cannot be reached right now: try again once it is back";

/**
 * Hang up while Talkbox cannot be reached: the call goes from this page now
 * (its media too), and the server is told once the page is connected again.
 */
function leaveOffline(model: Model, conference: Conference): Update {
  const effects: Effect[] = [];
  if (model.media.legId !== null) effects.push({ type: "stop-media", legId: model.media.legId });
  const next: Model = {
    ...model,
    conference: null,
    media: NO_MEDIA,
    speaking: [],
    leftOffline: withItem(model.leftOffline, conference.id),
  };
  return [withOutcome(next, "You left the call. Talkbox will end it for you once it can be reached"), effects];
}

/** A call I left while offline, seen again: hang it up (once per connection) and never show it. */
function leftOfflineSeen(model: Model, conference: Conference): Update {
  if (conference.status === "ended") {
    const { [conference.id]: _gone, ...known } = model.known;
    return [{ ...model, known, leftOffline: model.leftOffline.filter((id) => id !== conference.id) }, []];
  }
  const first = model.known[conference.id] === undefined;
  const next: Model = { ...model, known: { ...model.known, [conference.id]: conference } };
  if (!first) return [next, []];
  return [next, [{ type: "send", frame: { type: "hang_up", conference_id: conference.id } }]];
}

function acceptClicked(model: Model): Update {
  const incoming = model.incoming;
  if (incoming === null || incoming.rejected) return [model, []];
  const effects: Effect[] = [];
  if (model.ringing) effects.push({ type: "stop-ringtone" });
  // Accepting while on another call holds that one: the server holds my leg there once this one connects.
  const onAnother =
    model.conference !== null && model.conference.id !== incoming.conferenceId && mySide(model, model.conference).onCall;
  const aside = onAnother ? putAside(model) : model;
  if (aside.media.legId !== null && aside.media.legId !== incoming.legId) {
    effects.push({ type: "stop-media", legId: aside.media.legId });
  }
  effects.push({
    type: "answer-media",
    conferenceId: incoming.conferenceId,
    legId: incoming.legId,
    sdp: incoming.sdp,
  });
  return [
    {
      ...aside,
      incoming: null,
      ringing: false,
      conference: incoming.conference,
      placing: null,
      outcome: null,
      notice: null,
      media: { phase: "connecting", legId: incoming.legId, conferenceId: incoming.conferenceId, offerSdp: incoming.sdp },
      mediaLegs: withItem(model.mediaLegs, incoming.legId),
    },
    effects,
  ];
}

function rejectClicked(model: Model): Update {
  const incoming = model.incoming;
  if (incoming === null || incoming.rejected) return [model, []];
  const effects: Effect[] = [];
  if (model.ringing) effects.push({ type: "stop-ringtone" });
  // Talkbox ends the leg (busy / rejected); with Twilio the page also stops
  // its incoming call ringing here (call.ignore()), without rejecting it.
  effects.push({ type: "send", frame: { type: "reject", leg_id: incoming.legId } });
  if (providerCarriesMedia(model)) effects.push({ type: "stop-media", legId: incoming.legId });
  return [{ ...model, incoming: { ...incoming, rejected: true }, ringing: false }, effects];
}

// ---------------------------------------------------------------------------
// Media

function mediaFailed(
  model: Model,
  legId: string,
  reason: LegFailedReason,
  problem: MicrophoneProblem | undefined,
): Update {
  const { media } = model;
  if (media.legId !== legId) {
    const call = heldCallOf(model, legId);
    if (call === undefined || call.media.legId !== legId || providerCarriesMedia(model)) {
      return [model, [{ type: "stop-media", legId }]];
    }
    if (call.media.phase === "connected" || call.media.phase === "lost") {
      return heldMediaLost(model, call, legId, call.media.phase === "connected");
    }
    // Never connected again: asked for once more when switched to.
    return [withHeldMedia(model, call, NO_MEDIA), [{ type: "stop-media", legId }]];
  }
  const effects: Effect[] = [];
  if (media.phase === "connected" || media.phase === "lost") {
    // It was up and went: the leg itself may go on. Ask for its media again
    // (the server's side sees the loss itself, so no leg_failed). Once per
    // loss: a stall already asked for it.
    effects.push({ type: "stop-media", legId });
    if (providerCarriesMedia(model)) {
      // Twilio's call failed: nothing to resume; the leg ends and the server says so.
      return [withNotice({ ...model, media: { ...media, phase: "lost" } }, "The call's audio was lost"), effects];
    }
    const fresh = media.phase === "connected";
    const next: Model = {
      ...model,
      media: { ...media, phase: "lost" },
      resumeSent: fresh ? model.resumeSent.filter((id) => id !== legId) : model.resumeSent,
    };
    return resumeLost(next, effects, legId);
  }
  // Tell the server only while the leg is still being brought up.
  if (media.phase !== "failed") {
    effects.push({ type: "send", frame: { type: "leg_failed", leg_id: legId, reason } });
  }
  effects.push({ type: "stop-media", legId });
  const text =
    reason === "microphone" ? "Could not open the microphone" : "Could not connect the call's audio";
  const help = reason === "microphone" ? MICROPHONE_HELP[problem ?? "other"] : model.microphoneHelp;
  return [withNotice({ ...model, media: { ...media, phase: "failed" }, microphoneHelp: help }, text), effects];
}

// ---------------------------------------------------------------------------
// Devices and call quality

/** New lists: a chosen device that is gone (unplugged) falls back to the default, and the page says so. */
function devicesListed(model: Model, microphones: DeviceOption[], speakers: DeviceOption[]): Update {
  const listed = { ...model.devices, microphones, speakers };
  const { chosen, lost } = withoutMissing(listed);
  const next: Model = { ...model, devices: { ...listed, chosen } };
  if (lost.length === 0) return [next, []];
  // Not remembered: plugged in again on the next visit, the headset is used again.
  return [withNotice(next, lostDevicesText(lost)), [{ type: "use-devices", chosen, remember: false }]];
}

function deviceChosen(model: Model, kind: DeviceKind, id: string): Update {
  if (model.devices.chosen[kind] === id) return [model, []];
  const chosen = { ...model.devices.chosen, [kind]: id };
  const effects: Effect[] = [{ type: "use-devices", chosen, remember: true }];
  // The meter listens to the microphone chosen.
  if (kind === "microphone" && model.devices.open) effects.push({ type: "start-level-meter", microphone: id });
  return [{ ...model, devices: { ...model.devices, chosen } }, effects];
}

/** The call's microphone stopped (its device went): the default one takes over, the call goes on. */
function microphoneEnded(model: Model, legId: string): Update {
  if (model.media.legId !== legId || !hasLiveMedia(model.media)) return [model, []];
  const chosen = { ...model.devices.chosen, microphone: "" };
  const next: Model = { ...model, devices: { ...model.devices, chosen } };
  return [
    withNotice(next, lostDevicesText(["microphone"])),
    [{ type: "use-devices", chosen, remember: false }],
  ];
}

function statsRead(model: Model, legId: string, reading: StatsReading): Update {
  if (model.media.legId !== legId || model.media.phase !== "connected") return [model, []];
  const quality = callQuality(reading, model.qualityReading);
  return [{ ...model, quality, qualityReading: reading }, []];
}

/** Connected media stalled: the leg may go on; ask for its media again (the old goes when the new offer comes). */
function mediaInterrupted(model: Model, legId: string): Update {
  const { media } = model;
  const call = heldCallOf(model, legId);
  if (call !== undefined && call.media.legId === legId && call.media.phase === "connected") {
    return providerCarriesMedia(model) ? [model, []] : heldMediaLost(model, call, legId, true);
  }
  if (media.legId !== legId || media.phase !== "connected") return [model, []];
  const resumeSent = model.resumeSent.filter((id) => id !== legId); // a new loss: ask again
  return resumeLost({ ...model, media: { ...media, phase: "lost" }, resumeSent }, [], legId);
}

/** My media for a leg is lost: send `resume` now if the leg is live and the socket open (else on reconnecting). */
function resumeLost(model: Model, effects: Effect[], legId: string): Update {
  const myLeg = model.conference?.legs.find((leg) => leg.id === legId);
  if (providerCarriesMedia(model)) {
    // Twilio reconnects its own media (or the leg ends, and the server says so).
    return [withNotice(model, "The call's audio was interrupted; Twilio is reconnecting it…"), effects];
  }
  if (model.resumeSent.includes(legId)) return [model, effects];
  if (model.connection === "open" && myLeg?.status === "in-progress") {
    return [withNotice(sendResume(model, effects, legId), "The call's audio was lost; reconnecting it…"), effects];
  }
  return [withNotice(model, "The call's audio was lost"), effects];
}

/**
 * The server has sent its state on a connect (this page's, or another tab's
 * of the same user). A call on the panel that it did not list, and that no
 * frame since this socket opened has mentioned, ended while the page was away.
 * Settled by the server's word, not a timer: on a busy server the state can
 * take seconds, and a timer would end a call that is still up.
 */
function synced(model: Model, conferences: string[]): Update {
  const over = (c: Conference) => !conferences.includes(c.id) && model.known[c.id] === undefined;
  const effects: Effect[] = [];
  let next = model;
  const gone = model.held.filter((call) => over(call.conference));
  if (gone.length > 0) {
    for (const call of gone) if (call.media.legId !== null) effects.push({ type: "stop-media", legId: call.media.legId });
    next = { ...next, held: next.held.filter((call) => !gone.includes(call)) };
  }
  const conference = model.conference;
  if (conference !== null && over(conference)) {
    if (model.media.legId !== null) effects.push({ type: "stop-media", legId: model.media.legId });
    next = { ...next, conference: null, media: NO_MEDIA };
  }
  if (next === model) return [model, []];
  return [withOutcome(next, "The call ended while Talkbox was disconnected"), effects];
}

/** Whether the page has media up, or coming up, for its leg. */
function hasLiveMedia(media: MediaState): boolean {
  return media.phase === "connecting" || media.phase === "connected";
}

function withItem(list: string[], item: string): string[] {
  return list.includes(item) ? list : [...list, item];
}

// ---------------------------------------------------------------------------

/** The status line shows the latest of outcome and notice: setting one clears the other. */
function withNotice(model: Model, notice: string): Model {
  return { ...model, notice, outcome: null, retrying: null };
}

function withOutcome(model: Model, outcome: string): Model {
  return { ...model, outcome, notice: null, retrying: null };
}
