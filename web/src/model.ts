// The page's state, its messages and its effects: the Elm architecture's
// data. The only thing that changes a Model is `update` (update.ts).

import type { DeviceChoice, DeviceKind, DeviceOption, DevicesState, MicrophoneProblem } from "./devices";
import { initialDevices } from "./devices";
import type { DeviceState } from "./media";
import type { DirectoryState } from "./directory";
import { EMPTY_DIRECTORY } from "./directory";
import type { HistoryState } from "./history";
import { EMPTY_HISTORY } from "./history";
import type { CallQuality, StatsReading } from "./quality";
import type { Library } from "./library";
import type { Announcement, FocusRequest } from "./narration";
import type { ClientFrame, Conference, LegFailedReason, LegStats, ServerMessage } from "./protocol";

export type ConnectionState = "connecting" | "open" | "closed";

/**
 * `failed`: it never connected (the server was told with leg_failed);
 * `lost`: it was connected and then went or stalled (the leg may live on:
 * resume it; a new offer for the leg replaces it).
 */
export type MediaPhase = "idle" | "connecting" | "connected" | "failed" | "lost";

/** The media of the one leg this page has answered (or is answering). */
export interface MediaState {
  phase: MediaPhase;
  legId: string | null;
  conferenceId: string | null;
  /** The SDP of the offer answered, to tell a repeated offer from a new one. */
  offerSdp: string | null;
}

export const NO_MEDIA: MediaState = { phase: "idle", legId: null, conferenceId: null, offerSdp: null };

/** An offer this page was given that rings (auto_answer false). */
export interface IncomingCall {
  conferenceId: string;
  legId: string;
  caller: string;
  sdp: string;
  /** The latest view of its conference, shown once accepted. */
  conference: Conference | null;
  /** Rejected here: the panel is gone, waiting for the server to end the leg. */
  rejected: boolean;
  /** It came while I was on another call: a call-waiting beep, not the ringtone; Accept holds that call. */
  waiting?: boolean;
}

/** Another call I am on, switched away from (my leg on hold): its own panel, its media kept for the switch back. */
export interface HeldCall {
  conference: Conference;
  media: MediaState;
}

export interface Model {
  /** Who the server says I am (from `welcome`), null before it. */
  me: string | null;
  /** The media adapter the server asked for (`builtin` or `twilio`). */
  provider: string | null;
  /** Twilio mode: the page's Device (its registration with Twilio); null otherwise. */
  device: DeviceStatus | null;
  /** The page URL has no `client_name` or `token`: show the sign-in form. */
  identityMissing: boolean;
  connection: ConnectionState;
  /** The code of the last close, until the socket is open again (1012: Talkbox is restarting). */
  closeCode: number | null;
  /**
   * The latest frame of each conference the server sent on this connection
   * (dropped when it ends). A conference not in here has not been seen since
   * the socket (re)opened: its next frame is the first, the state on connect.
   */
  known: Record<string, Conference>;
  /** Legs this page sent `resume` for on this connection (again only after a reconnect or a media loss). */
  resumeSent: string[];
  /** Legs this page has had media for since it was loaded. */
  mediaLegs: string[];
  /** Live legs of mine answered by another page (tab) of mine: never resumed, never auto-answered here. */
  elsewhere: string[];
  /** Conferences where this page placed the call or pressed Rejoin: their auto_answer offer is mine to answer. */
  ownConferences: string[];
  /** Consecutive failed connection attempts, for the reconnect backoff. */
  reconnectAttempt: number;
  /** Set when the server closed with 4401: reconnecting would not help. */
  authFailed: boolean;
  /** The 4401 said only a token signs in here: the name form would not help. */
  tokenRequired: boolean;
  /** The text in the dial box: who to call, or (the chair, on a call) who to add. */
  dialText: string;
  /** Destination of a `call` sent and not yet answered by a conference or refusal. */
  placing: string | null;
  /** The call this page is in (placing, ringing out or connected): the one I talk on. */
  conference: Conference | null;
  /** My other calls, on hold, oldest first. */
  held: HeldCall[];
  incoming: IncomingCall | null;
  /** How the last call ended, in words. */
  outcome: string | null;
  /** The last refusal, error or failure, in words. */
  notice: string | null;
  /** The conference whose unsaved request the notice is about (`retrying`): its next frame clears it. */
  retrying: string | null;
  media: MediaState;
  /** Whether the ringtone is (meant to be) sounding. */
  ringing: boolean;
  /** Legs of my current conference the server last said are speaking. */
  speaking: string[];
  /** Conferences I left while Talkbox could not be reached: hung up once it is back. */
  leftOffline: string[];
  /** The sign-in form's name and what is wrong with it (null: nothing, or not checked yet). */
  signIn: { name: string; problem: string | null };
  /** The latest thing told to screen readers (narration.ts): the view speaks each id once. */
  announcement: Announcement | null;
  /** Where focus was last sent (narration.ts): the view moves it once per id. */
  focus: FocusRequest | null;
  /** Keys pressed on the telephones of my current conference, and on my own keypad, by leg (the last few). */
  digits: Record<string, string>;
  /** The text in the call panel's Transfer box: who to hand the call to. */
  transferText: string;
  /** Microphone, speaker and ringing device: the lists, the choice, the level meter. */
  devices: DevicesState;
  /** What is wrong with the microphone, with what to do (null: nothing known to be). */
  microphoneHelp: string | null;
  /** The call's quality from the latest getStats of my leg (null: no call, or not measured yet). */
  quality: CallQuality | null;
  /** The reading `quality` was computed from: the next one's counters are taken since it. */
  qualityReading: StatsReading | null;
  /** My recordings and voicemails as the server last listed them (null: not fetched yet). */
  library: Library | null;
  /** The people on this Talkbox and how each stands; my do not disturb. */
  directory: DirectoryState;
  /** My calls as the server keeps them, and the missed ones since I last looked. */
  history: HistoryState;
  /** The chair's view of how Talkbox hears each leg of the call on the panel, by leg id. */
  legStats: Record<string, LegStats>;
  /** When my call connected, by the page's clock (ms), for the timer; null with no connected call. */
  callStartedAt: number | null;
  /** The page's clock at the last tick (ms since the epoch). */
  now: number;
  /** Desktop notifications for calls in a background tab: the browser's permission, or "dismissed" (Not now). */
  notifications: NotificationChoice;
  /** The browser's autoplay policy keeps the ringtone silent until the user presses something. */
  ringtoneBlocked: boolean;
}

export type NotificationChoice = "unsupported" | "default" | "granted" | "denied" | "dismissed";

/** How the page's Twilio Device stands, and the last error it reported (kept until it registers). */
export interface DeviceStatus {
  state: DeviceState;
  detail: string | null;
}

export interface InitOptions {
  identityMissing?: boolean;
  /** The name the page was opened with, shown in the sign-in form (with its problem, if it has one). */
  signInName?: string;
  signInProblem?: string | null;
  /** The devices remembered from an earlier visit. */
  devices?: DeviceChoice;
  /** Whether the browser can send audio to a chosen speaker (setSinkId). */
  canChooseSpeaker?: boolean;
  /** Notification.permission, or "dismissed" when Not now was pressed on an earlier visit. */
  notifications?: NotificationChoice;
}

export function initialModel(options: InitOptions = {}): Model {
  const identityMissing = options.identityMissing ?? false;
  return {
    me: null,
    provider: null,
    device: null,
    identityMissing,
    connection: identityMissing ? "closed" : "connecting",
    closeCode: null,
    known: {},
    resumeSent: [],
    mediaLegs: [],
    elsewhere: [],
    ownConferences: [],
    reconnectAttempt: 0,
    authFailed: false,
    tokenRequired: false,
    dialText: "",
    placing: null,
    conference: null,
    held: [],
    incoming: null,
    outcome: null,
    notice: null,
    retrying: null,
    media: NO_MEDIA,
    ringing: false,
    speaking: [],
    leftOffline: [],
    signIn: { name: options.signInName ?? "", problem: options.signInProblem ?? null },
    announcement: null,
    // A name from the URL that cannot be used: the form, and its problem, are where to start.
    focus: options.signInProblem ? { id: 1, target: "sign-in" } : null,
    digits: {},
    transferText: "",
    devices: initialDevices(options.devices, options.canChooseSpeaker),
    microphoneHelp: null,
    quality: null,
    qualityReading: null,
    library: null,
    directory: EMPTY_DIRECTORY,
    history: EMPTY_HISTORY,
    notifications: options.notifications ?? "unsupported",
    ringtoneBlocked: false,
    callStartedAt: null,
    now: 0,
    legStats: {},
  };
}

// ---------------------------------------------------------------------------
// Messages: everything that can happen to the page.

export type Msg =
  | { type: "socket-connecting" }
  | { type: "socket-opened" }
  | { type: "socket-closed"; code: number; reason: string }
  | { type: "server-message"; message: ServerMessage }
  /** `caretAtEnd`: typing at the end of the box, where a number may be regrouped without moving the caret. */
  | { type: "dial-changed"; text: string; caretAtEnd?: boolean }
  /** Time to ask again how the server hears each leg (every few seconds while I chair a connected call). */
  | { type: "leg-stats-due" }
  /** A second passed (while a call is on the panel): the call timer. `now` in milliseconds since the epoch. */
  | { type: "clock-ticked"; now: number }
  /** A keyboard shortcut: Alt+Shift+A answers, Alt+Shift+H hangs up (or declines a ringing call). */
  | { type: "shortcut"; action: "answer" | "hang-up" }
  /** The sign-in form was submitted with this name. */
  | { type: "sign-in-submitted"; name: string }
  /** The dial form was submitted: Call, or Add when I chair the call I am on (see dialMode). */
  | { type: "dial-submitted" }
  | { type: "call-clicked" }
  | { type: "accept-clicked" }
  | { type: "reject-clicked" }
  | { type: "hang-up-clicked" }
  /** The chair, on the call, adds whoever is typed in the dial box. */
  | { type: "add-clicked" }
  /** The chair removes a leg (or cancels it while it rings). */
  | { type: "remove-clicked"; legId: string }
  | { type: "transfer-out-clicked"; legId: string }
  /** Mute a leg, or unmute it if it is muted. */
  | { type: "mute-clicked"; legId: string }
  /** Hold a leg of the call I am on, or take it off hold: my own (the call goes on hold), or, the chair, anyone's. */
  | { type: "hold-clicked"; legId: string }
  /** Switch to a call on hold: it comes off hold, and the call I was on goes on hold. */
  | { type: "switch-clicked"; conferenceId: string }
  /** The chair, who held `legId` and added someone, leaves them talking: an attended transfer. */
  | { type: "complete-transfer-clicked"; legId: string }
  /** The transfer is off: whoever was added is removed, and `legId` comes off hold. */
  | { type: "cancel-transfer-clicked"; legId: string }
  /** Hang up a call that is on hold. */
  | { type: "hang-up-held-clicked"; conferenceId: string }
  /** The chair, whose leg dropped, comes back. */
  | { type: "rejoin-clicked" }
  | { type: "transfer-changed"; text: string }
  /** Transfer the other party to whoever is typed in the Transfer box, and leave. */
  | { type: "transfer-submitted" }
  /** A key of the keypad (a button, or the keyboard while the call panel has focus): `0`-`9`, `*`, `#`. */
  | { type: "keypad-pressed"; digit: string }
  /** The media adapter produced the SDP answer for a leg. */
  | { type: "media-answer-ready"; legId: string; sdp: string }
  | { type: "media-connected"; legId: string }
  /**
   * Connected media stopped flowing (say Talkbox was killed and restarted):
   * the leg may go on, so its media is asked for again.
   */
  | { type: "media-interrupted"; legId: string }
  /** `problem`: why the microphone could not be opened, when that was the failure. */
  | { type: "media-failed"; legId: string; reason: LegFailedReason; problem?: MicrophoneProblem }
  /** The browser's devices, listed again (on start, on devicechange, once the microphone is allowed). */
  | { type: "devices-listed"; microphones: DeviceOption[]; speakers: DeviceOption[] }
  | { type: "device-chosen"; kind: DeviceKind; id: string }
  /** The Devices panel was opened or closed. */
  | { type: "devices-toggled"; open: boolean }
  | { type: "microphone-level"; level: number }
  /** The level meter could not open the microphone. */
  | { type: "microphone-unavailable"; problem: MicrophoneProblem }
  | { type: "speaker-test-clicked" }
  /** The microphone track of a call ended by itself (its device was unplugged). */
  | { type: "microphone-ended"; legId: string }
  /** The directory's search box changed. */
  | { type: "directory-filter-changed"; text: string }
  /** A name in the directory (or a call's "Call back") was pressed: call them, or add them to my call. */
  | { type: "person-clicked"; name: string }
  | { type: "dnd-toggled"; on: boolean }
  /** The History panel was opened or closed. */
  | { type: "history-toggled"; open: boolean }
  | { type: "history-more-clicked" }
  /** Turn on notifications was pressed (the browser then asks), or Not now. */
  | { type: "notifications-asked" }
  | { type: "notifications-dismissed" }
  /** The browser's answer to the permission request. */
  | { type: "notifications-answered"; permission: NotificationChoice }
  /** The desktop notification of a call was clicked: the tab is in front now. */
  | { type: "notification-clicked" }
  /** The ringtone started but the browser keeps it silent (autoplay policy). */
  | { type: "ringtone-blocked" }
  /** The Play ringtone button was pressed: that press lets the sound out. */
  | { type: "ringtone-allowed-clicked" }
  | { type: "ringtone-audible" }
  /** getStats of my leg's media, read every couple of seconds while it is connected. */
  | { type: "stats-read"; legId: string; reading: StatsReading }
  /** The provider's own measure of my leg (Twilio's SDK): it replaces the page's reading of getStats. */
  | { type: "quality-measured"; legId: string; quality: CallQuality }
  /** A frame could not be sent (socket not open). */
  | { type: "send-failed"; frame: ClientFrame }
  /**
   * Twilio mode: a leg reached the page as an incoming Twilio call, its
   * custom parameters read. It takes the place of an `offer` frame; `offer`
   * is the call's CallSid.
   */
  | {
      type: "media-offered";
      conferenceId: string;
      legId: string;
      caller: string;
      autoAnswer: boolean;
      offer: string;
    }
  /** Twilio mode: the Device's registration changed, or it reported an error. */
  | { type: "media-device"; state: DeviceState; detail: string | null }
  /** Twilio mode: the access token expires soon. */
  | { type: "media-token-expiring" }
  /** The chair starts recording the call, or stops it if it is being recorded. */
  | { type: "record-clicked" }
  /** GET /api/recordings answered (null: it failed, or its answer did not parse). */
  | { type: "library-loaded"; library: Library | null }
  /** A recording started playing on the page. */
  | { type: "recording-played"; id: string }
  | { type: "recording-delete-clicked"; id: string }
  | { type: "voicemail-toggled"; on: boolean };

// ---------------------------------------------------------------------------
// Effects: plain data that the runtime (main.ts) carries out.

export type Effect =
  | { type: "send"; frame: ClientFrame }
  /** Open the page again as `name` (open mode), keeping the URL's other parameters. */
  | { type: "sign-in"; name: string }
  /**
   * The server's `welcome` named the media provider: make its adapter ready
   * (Twilio: fetch a token, build and register the Device) and use it.
   */
  | { type: "use-media"; provider: string }
  /** Twilio mode: fetch a new access token and hand it to the Device. */
  | { type: "refresh-media-token" }
  /**
   * Bring up media for an offered leg; report media-answer-ready or media-failed.
   * `sdp` is the offer: an SDP (built-in) or the incoming call's CallSid (Twilio).
   */
  // quiet: the media of a call on hold, answered without taking the speaker from the call I am on.
  | { type: "answer-media"; conferenceId: string; legId: string; sdp: string; quiet?: boolean }
  | { type: "stop-media"; legId: string }
  /** Twilio mode: play keypad digits into the leg's call (the Voice SDK's sendDigits). */
  | { type: "send-digits"; legId: string; digits: string }
  /** Use these devices (for calls, the ringtone and the meter); `remember`: store them for the next visit. */
  | { type: "use-devices"; chosen: DeviceChoice; remember: boolean }
  | { type: "start-level-meter"; microphone: string }
  | { type: "stop-level-meter" }
  /** A short tone through the chosen speaker. */
  | { type: "play-test-tone"; speaker: string }
  /** `waiting`: a call waiting's short beep rather than the ringtone. */
  | { type: "start-ringtone"; waiting?: boolean }
  /** Play this leg's audio: the call switched to. */
  | { type: "play-media"; legId: string }
  | { type: "stop-ringtone" }
  /** Try the ringtone's sound again, inside the click that allows it; report ringtone-audible. */
  | { type: "allow-ringtone" }
  /** Ask the browser for notifications; report notifications-answered. */
  | { type: "ask-notifications" }
  /** Remember Not now for later visits. */
  | { type: "remember-notifications-dismissed" }
  /** A desktop notification for a call ringing here, shown only if this tab is in the background. */
  | { type: "notify-call"; tag: string; caller: string }
  | { type: "close-notification"; tag: string }
  /** Open the socket again after `delayMs` (the runtime adds jitter). */
  | { type: "reconnect-later"; delayMs: number }
  /** GET /api/recordings, then dispatch library-loaded. */
  | { type: "fetch-library" }
  /** POST /api/recordings/ID/heard, then fetch the list again. */
  | { type: "mark-heard"; id: string }
  /** DELETE /api/recordings/ID (the server's recordings_changed brings the new list). */
  | { type: "delete-recording"; id: string }
  /** PUT /api/voicemail, then fetch the list again. */
  | { type: "set-voicemail"; on: boolean };

/** Whether the page offers its sign-in form: no identity yet, or a name the server refused. */
export function signInOffered(model: Pick<Model, "identityMissing" | "authFailed" | "tokenRequired">): boolean {
  return model.identityMissing || (model.authFailed && !model.tokenRequired);
}

/**
 * Whether the page offers desktop notifications: the browser has them and has not been asked, Not now was
 * not pressed, and only after a call, when their use is plain, never the moment the page loads.
 */
export function notificationsOffered(
  model: Pick<Model, "notifications" | "me" | "outcome" | "conference" | "incoming">,
): boolean {
  return (
    model.notifications === "default" &&
    model.me !== null &&
    model.outcome !== null &&
    model.conference === null &&
    model.incoming === null
  );
}

export const RECONNECT_BASE_MS = 500;
export const RECONNECT_MAX_MS = 10_000;

/** The backoff before reconnect attempt `attempt` (0-based): 0.5 s doubling to 10 s. */
export function reconnectDelay(attempt: number): number {
  return Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.min(attempt, 16));
}
