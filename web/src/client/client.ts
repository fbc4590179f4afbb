// The embeddable client: an application's page calls through Talkbox with
// `Talkbox.connect({url, token})`, on the same websocket protocol
// (docs/protocol.md) and the same media adapters as Talkbox's own page,
// without its user interface. The page does not use this module yet.

import type { MediaAdapter, MediaEvent, ProviderEvent } from "../media";
import { BuiltinMedia, MediaCanceled, MediaFailure } from "../media";
import type { Msg } from "../model";
import type { ClientFrame, Conference, ServerMessage } from "../protocol";
import { CloseCode } from "../protocol";
import { Connection, SOCKET_PROTOCOL, TOKEN_PROTOCOL_PREFIX } from "../socket";
import { TOKEN_PATH, TwilioMedia } from "../twilio-media";
import type { Call } from "./calls";
import { DIGITS, callOf, changed } from "./calls";
import { Emitter } from "./emitter";

const FIRST_RETRY_MS = 1000;
const LONGEST_RETRY_MS = 30_000;
const RAW_AUDIO: MediaTrackConstraints = { echoCancellation: false, noiseSuppression: false, autoGainControl: false };

export interface ConnectOptions {
  /** Talkbox's base URL, e.g. `https://talkbox.example.org`. */
  url: string;
  /** A token your server minted for this user (`POST /api/v1/tokens`): Talkbox's token mode. */
  token?: string;
  /** Open mode only (a Talkbox on loopback, for development): the user's name, no proof. */
  name?: string;
  /** Where the other parties are heard; a detached `<audio>` element when left out. */
  audio?: HTMLAudioElement;
  /** False turns the browser's echo cancellation, noise suppression and gain control off (music, tests). */
  audioProcessing?: boolean;
}

/** The socket to Talkbox: `open` once Talkbox has said who you are, `closed` for good. */
export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

export interface DigitEvent {
  callId: string;
  legId: string;
  digit: string;
}

export interface ClientEvents {
  /** A call rings for this user: `accept` or `hangUp` it. */
  incoming: Call;
  /** Any change of a call this user is on, the last with `state: "ended"`. */
  call: Call;
  /** The connection's state changed. */
  state: ConnectionState;
  /** A key pressed by someone on a call this user is on. */
  digit: DigitEvent;
  /** Talkbox refused a request, or could not take a frame (`code` as docs/protocol.md lists). */
  error: TalkboxError;
}

/** A refusal or failure, with Talkbox's stable code (`already_in_call`, `unauthorized`, `media`, …). */
export class TalkboxError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "TalkboxError";
  }
}

interface Offer {
  conferenceId: string;
  caller: string;
  sdp: string;
}

interface PendingCall {
  resolve: (call: Call) => void;
  reject: (error: TalkboxError) => void;
}

/** Where Talkbox is and who the user says they are, checked before anything is opened. */
interface Endpoint {
  base: URL;
  socketUrl: string;
  protocols: string[];
  headers: Record<string, string>;
}

export function endpoint(options: ConnectOptions): Endpoint {
  let base: URL;
  try {
    base = new URL(options.url);
  } catch {
    throw new TalkboxError("invalid_options", `url ${JSON.stringify(options.url)} is not a URL`);
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new TalkboxError("invalid_options", "url must be an http: or https: URL");
  }
  if ((options.token === undefined) === (options.name === undefined)) {
    throw new TalkboxError("invalid_options", "give either token (token mode) or name (open mode)");
  }
  const socket = new URL("/ws", base);
  socket.protocol = base.protocol === "https:" ? "wss:" : "ws:";
  if (options.name !== undefined) socket.search = new URLSearchParams({ client_name: options.name }).toString();
  // The token rides in a subprotocol: URLs end up in access logs.
  const token = options.token;
  return {
    base,
    socketUrl: socket.toString(),
    protocols: token === undefined ? [SOCKET_PROTOCOL] : [SOCKET_PROTOCOL, `${TOKEN_PROTOCOL_PREFIX}${token}`],
    headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
  };
}

export class TalkboxClient {
  /** Connects and resolves once Talkbox has accepted the user; rejects with a TalkboxError otherwise. */
  static connect(options: ConnectOptions): Promise<TalkboxClient> {
    try {
      return new TalkboxClient(endpoint(options), options).opened;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The user Talkbox knows this client as (from the token, or the name in open mode). */
  user = "";
  private readonly events = new Emitter<ClientEvents>();
  private readonly connection: Connection;
  private readonly builtin: BuiltinMedia;
  private readonly audio: MediaTrackConstraints | boolean;
  private twilio: Promise<TwilioMedia> | null = null;
  private provider = "builtin";
  private readonly conferences = new Map<string, Conference>();
  private readonly calls = new Map<string, Call>();
  private readonly offers = new Map<string, Offer>();
  /** Legs whose media is up here, and those `resume` was asked for since the media went. */
  private readonly mediaLegs = new Set<string>();
  private readonly resumed = new Set<string>();
  /** Legs whose media was up here and went. */
  private readonly lost = new Set<string>();
  private readonly pending: PendingCall[] = [];
  /** The first frames after a (re)connect: a live leg of mine seen there without media is resumed. */
  private fresh = true;
  private retryMs = FIRST_RETRY_MS;
  private state: ConnectionState = "connecting";
  private closedByUs = false;
  private readonly opened: Promise<TalkboxClient>;
  private settle: { resolve: (client: TalkboxClient) => void; reject: (error: TalkboxError) => void } | null = null;

  private constructor(
    private readonly where: Endpoint,
    options: ConnectOptions,
  ) {
    const audioElement = options.audio ?? new Audio();
    audioElement.autoplay = true;
    this.audio = options.audioProcessing === false ? RAW_AUDIO : true;
    this.builtin = new BuiltinMedia({ audioElement, audio: this.audio });
    this.builtin.onEvent((event) => this.mediaEvent(event));
    this.opened = new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    this.connection = new Connection(where.socketUrl, where.protocols, (msg) => this.socketMsg(msg));
    this.connection.connect();
  }

  on<K extends keyof ClientEvents>(event: K, listener: (value: ClientEvents[K]) => void): () => void {
    return this.events.on(event, listener);
  }

  get connectionState(): ConnectionState {
    return this.state;
  }

  /** The calls this user is on now. */
  activeCalls(): Call[] {
    return [...this.calls.values()].filter((call) => call.state !== "ended");
  }

  /** Call a client name or an E.164 number; resolves with the call once Talkbox has made it. */
  call(to: string): Promise<Call> {
    return new Promise((resolve, reject) => {
      if (!this.send({ type: "call", to })) {
        reject(new TalkboxError("not_connected", "Talkbox is not connected"));
        return;
      }
      this.pending.push({ resolve, reject });
    });
  }

  /** Answer the call ringing here (or the one named): resolves once its media is being connected. */
  async accept(callId?: string): Promise<void> {
    const call = this.find(callId, (c) => c.direction === "incoming" && c.state === "ringing");
    const offer = call.legId === null ? undefined : this.offers.get(call.legId);
    if (call.legId === null || offer === undefined) throw new TalkboxError("not_ringing", "that call is not ringing here");
    await this.answer(call.legId, offer.sdp);
  }

  /** Leave a call, cancel one still ringing for the others, or decline one ringing here. */
  hangUp(callId?: string): void {
    const call = this.find(callId, (c) => c.state !== "ended");
    if (call.direction === "incoming" && call.state === "ringing" && call.legId !== null) {
      this.send({ type: "reject", leg_id: call.legId });
    } else {
      this.send({ type: "hang_up", conference_id: call.id });
    }
    if (call.legId !== null) this.stopMedia(call.legId);
  }

  /** Mute (or, with false, unmute) this user on a call: the others stop hearing them. */
  mute(muted = true, callId?: string): void {
    const call = this.find(callId, (c) => c.state !== "ended" && c.legId !== null);
    if (call.legId !== null) this.send({ type: "mute", conference_id: call.id, leg_id: call.legId, muted });
  }

  /** Keypad digits (`0`-`9`, `*`, `#`) to the others on a call: an IVR hears them. */
  sendDigits(digits: string, callId?: string): void {
    if (!DIGITS.test(digits) || digits.length > 32) {
      throw new TalkboxError("invalid_digits", "digits are 1-32 of 0-9, * and #");
    }
    const call = this.find(callId, (c) => c.state === "connected");
    if (this.provider === "twilio" && call.legId !== null) {
      const legId = call.legId;
      void this.twilio?.then((media) => media.sendDigits(legId, digits));
      return;
    }
    if (!this.send({ type: "dtmf", conference_id: call.id, digits })) {
      throw new TalkboxError("not_connected", "Talkbox is not connected");
    }
  }

  /** Hang up nothing, close the socket for good and release the microphone. */
  close(): void {
    this.closedByUs = true;
    for (const legId of [...this.mediaLegs]) this.stopMedia(legId);
    this.connection.close();
    this.setState("closed");
  }

  // --- the socket -------------------------------------------------------------------------------

  private socketMsg(msg: Msg): void {
    if (msg.type === "socket-opened" || msg.type === "socket-connecting") return;
    if (msg.type === "server-message") this.serverMessage(msg.message);
    else if (msg.type === "socket-closed") this.socketClosed(msg.code, msg.reason);
  }

  private socketClosed(code: number, reason: string): void {
    for (const waiting of this.pending.splice(0)) {
      waiting.reject(new TalkboxError("not_connected", "the connection to Talkbox closed"));
    }
    if (this.closedByUs) return;
    const final = code === CloseCode.UNAUTHORIZED || code === CloseCode.TOO_MANY_SOCKETS;
    if (this.settle !== null) {
      // Never accepted: say why at once rather than retrying a wrong URL or token forever.
      const why = code === CloseCode.UNAUTHORIZED ? "unauthorized" : code === CloseCode.TOO_MANY_SOCKETS ? "too_many_pages" : "unreachable";
      this.settle.reject(new TalkboxError(why, reason || `Talkbox closed the connection (${code})`));
      this.settle = null;
      this.closedByUs = true;
      this.setState("closed");
      return;
    }
    if (final) {
      this.setState("closed");
      this.events.emit("error", new TalkboxError(code === CloseCode.UNAUTHORIZED ? "unauthorized" : "too_many_pages", reason));
      return;
    }
    this.setState("reconnecting");
    this.connection.reconnectLater(this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, LONGEST_RETRY_MS);
  }

  private serverMessage(message: ServerMessage): void {
    switch (message.type) {
      case "welcome":
        this.builtin.useIceServers(message.ice_servers ?? []);
        this.welcome(message.user, message.provider);
        return;
      case "conference":
        this.conference(message.conference);
        return;
      case "offer":
        this.offered(message.conference_id, message.leg_id, message.caller, message.sdp, message.auto_answer);
        return;
      case "refused": {
        const error = new TalkboxError(message.code, message.message);
        const waiting = this.pending.shift();
        if (waiting !== undefined) waiting.reject(error);
        else this.events.emit("error", error);
        return;
      }
      case "error":
        this.events.emit("error", new TalkboxError(message.code, message.message));
        return;
      case "digit":
        this.events.emit("digit", { callId: message.conference_id, legId: message.leg_id, digit: message.digit });
        return;
      case "retrying":
      case "speaking":
        return;
    }
  }

  private welcome(user: string, provider: string): void {
    this.user = user;
    this.provider = provider;
    this.retryMs = FIRST_RETRY_MS;
    this.fresh = true;
    // What the server sends next is the whole state; the first conference frames settle it.
    setTimeout(() => {
      this.fresh = false;
    }, 2000);
    this.media()
      .then((media) => media.start())
      .catch((err: unknown) => this.events.emit("error", new TalkboxError("media", `media adapter: ${String(err)}`)));
    this.setState("open");
    if (this.settle !== null) {
      this.settle.resolve(this);
      this.settle = null;
    }
  }

  private conference(conference: Conference): void {
    const known = this.conferences.has(conference.id);
    this.conferences.set(conference.id, conference);
    const call = callOf(conference, this.user);
    if (call === null) return;
    if (!known && call.direction === "outgoing" && call.state !== "ended") this.pending.shift()?.resolve(call);
    const before = this.calls.get(call.id);
    this.calls.set(call.id, call);
    if (call.state === "ended") {
      this.conferences.delete(conference.id);
      this.calls.delete(call.id);
      for (const leg of conference.legs) {
        this.offers.delete(leg.id);
        this.stopMedia(leg.id);
      }
    } else if (call.legId !== null) {
      this.resumeIfLost(call);
    }
    if (changed(before, call)) this.events.emit("call", call);
  }

  /** My leg is live, but its media is not here: a reload, a restart of Talkbox, media that dropped. */
  private resumeIfLost(call: Call): void {
    const legId = call.legId;
    if (legId === null || this.provider === "twilio") return; // Twilio reconnects its own media
    const leg = this.conferences.get(call.id)?.legs.find((l) => l.id === legId);
    if (leg?.status !== "in-progress" || this.mediaLegs.has(legId) || this.resumed.has(legId)) return;
    if (!this.fresh && !this.lost.has(legId)) return; // another page of mine took it
    this.resumed.add(legId);
    this.send({ type: "resume", leg_id: legId });
  }

  private offered(conferenceId: string, legId: string, caller: string, sdp: string, autoAnswer: boolean): void {
    this.offers.set(legId, { conferenceId, caller, sdp });
    if (autoAnswer) {
      this.answer(legId, sdp).catch(() => undefined);
      return;
    }
    const conference = this.conferences.get(conferenceId);
    const known = conference === undefined ? null : callOf(conference, this.user);
    const call: Call = known ?? {
      id: conferenceId,
      direction: "incoming",
      peer: caller,
      state: "ringing",
      legId,
      muted: false,
      endReason: null,
      participants: [],
    };
    const ringing: Call = { ...call, state: "ringing", legId };
    this.calls.set(conferenceId, ringing);
    this.events.emit("incoming", ringing);
  }

  private async answer(legId: string, sdp: string): Promise<void> {
    const media = await this.media();
    try {
      const answer = await media.answer(legId, sdp);
      this.offers.delete(legId);
      this.resumed.delete(legId);
      this.lost.delete(legId);
      this.mediaLegs.add(legId);
      if (answer !== "") this.send({ type: "answer", leg_id: legId, sdp: answer });
    } catch (err) {
      if (err instanceof MediaCanceled) return;
      const reason = err instanceof MediaFailure ? err.reason : "media";
      this.send({ type: "leg_failed", leg_id: legId, reason });
      const error = new TalkboxError(reason, err instanceof Error ? err.message : String(err));
      this.events.emit("error", error);
      throw error;
    }
  }

  private mediaEvent(event: MediaEvent): void {
    if (event.type === "interrupted" || event.type === "failed") {
      if (!this.mediaLegs.has(event.legId)) {
        if (event.type === "failed") this.send({ type: "leg_failed", leg_id: event.legId, reason: event.reason });
        return;
      }
      // It was up and went: ask for it again (once per loss); the leg itself goes on. Twilio reconnects its own.
      this.mediaLegs.delete(event.legId);
      this.lost.add(event.legId);
      if (this.provider !== "twilio") {
        this.resumed.add(event.legId);
        this.send({ type: "resume", leg_id: event.legId });
      }
    }
  }

  private providerEvent(event: ProviderEvent): void {
    if (event.type === "incoming") {
      this.offered(event.conferenceId, event.legId, event.caller, event.offer, event.autoAnswer);
    } else if (event.type === "token-will-expire") {
      void this.twilio?.then((media) => media.refreshToken());
    }
  }

  private media(): Promise<MediaAdapter> {
    if (this.provider !== "twilio") return Promise.resolve(this.builtin);
    this.twilio ??= import("../twilio-device").then(({ createTwilioDevice }) => {
      const media = new TwilioMedia({
        tokenRequest: { url: new URL(TOKEN_PATH, this.where.base).toString(), headers: this.where.headers },
        createDevice: createTwilioDevice,
        audio: this.audio,
      });
      media.onEvent((event) => this.mediaEvent(event));
      media.onProviderEvent((event) => this.providerEvent(event));
      return media;
    });
    return this.twilio;
  }

  private stopMedia(legId: string): void {
    this.mediaLegs.delete(legId);
    this.builtin.hangUp(legId);
    void this.twilio?.then((media) => media.hangUp(legId));
  }

  private find(callId: string | undefined, fits: (call: Call) => boolean): Call {
    const call =
      callId === undefined ? [...this.calls.values()].find(fits) : this.calls.get(callId);
    if (call === undefined || !fits(call)) throw new TalkboxError("no_such_call", callId ? `no call ${callId} here` : "no call here");
    return call;
  }

  private send(frame: ClientFrame): boolean {
    return this.connection.send(frame);
  }

  private setState(state: ConnectionState): void {
    if (state === this.state) return;
    this.state = state;
    this.events.emit("state", state);
  }
}
