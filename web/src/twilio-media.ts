// The page's Twilio media adapter: Twilio's Voice SDK behind the same
// MediaAdapter interface as BuiltinMedia (see docs/protocol.md, "Twilio mode").
//
// Talkbox places every leg, the user's own included, as a Twilio call to
// client:NAME; it reaches the page as the Device's `incoming` event, its
// custom parameters saying which leg it is. The adapter announces it
// (ProviderEvent `incoming`); `answer` accepts it; `hangUp` ignores a call
// still ringing here, or disconnects an accepted one. Everything else
// (reject, hang_up, leg_failed, mute) goes over the websocket as ever.
// The SDK plays the remote audio itself.
//
// The SDK is not imported here: `createDevice` builds the Device
// (twilio-device.ts, loaded only in Twilio mode), so tests use fakes.

import type { DeviceState, MediaAdapter, MediaEvent, ProviderEvent } from "./media";
import { MediaCanceled, MediaFailure } from "./media";
import type { LegFailedReason } from "./protocol";
import type { SdkSample } from "./quality";
import { sdkQuality } from "./quality";
import { identityHeaders, nameQuery } from "./socket";

export const TOKEN_PATH = "/api/twilio/token";
/**
 * How long before the token expires the SDK emits `tokenWillExpire`. Its own
 * default, 10 s, leaves room for one retry at most; a minute leaves room for a
 * dozen, so one failed fetch never leaves the Device with an expired token.
 */
export const TOKEN_REFRESH_MS = 60_000;
/** The wait between attempts to fetch a new token, while the old one still holds. */
export const REFRESH_RETRY_MS = 5_000;

/** How to ask the token endpoint, with the page's own identity as the websocket has it. */
export interface TokenRequest {
  /** The path, with the page's client_name (open mode). */
  url: string;
  /** The page's token (token mode), as `Authorization: Bearer`: never in the URL. */
  headers: Record<string, string>;
}

export function voiceTokenRequest(search: string): TokenRequest {
  return { url: `${TOKEN_PATH}${nameQuery(search)}`, headers: identityHeaders(search) };
}

/** What the Device is built with. */
export interface TwilioDeviceOptions {
  codecPreferences: ("opus" | "pcmu")[];
  /** Ask before the page is left with a call on. */
  closeProtection: boolean;
  /** Talkbox, not the SDK, decides who is busy: let a leg ring while another is up. */
  allowIncomingWhileBusy: boolean;
  /** How long before the token expires `tokenWillExpire` fires. */
  tokenRefreshMs: number;
}

export function deviceOptions(): TwilioDeviceOptions {
  return {
    codecPreferences: ["opus", "pcmu"],
    closeProtection: true,
    allowIncomingWhileBusy: true,
    tokenRefreshMs: TOKEN_REFRESH_MS,
  };
}

type Listener = (...args: any[]) => void;

/** The part of the SDK's `Call` the adapter uses. */
export interface TwilioCallLike {
  readonly parameters: Record<string, string>;
  readonly customParameters: Map<string, string>;
  accept(options?: { rtcConstraints?: MediaStreamConstraints }): void;
  ignore(): void;
  disconnect(): void;
  sendDigits(digits: string): void;
  on(event: string, listener: Listener): unknown;
}

/** The part of the SDK's `Device` the adapter uses. */
export interface TwilioDeviceLike {
  readonly audio: { incoming(enable?: boolean): boolean } | null;
  register(): Promise<void>;
  updateToken(token: string): void;
  on(event: string, listener: Listener): unknown;
}

export type CreateDevice = (token: string, options: TwilioDeviceOptions) => TwilioDeviceLike;

export interface TokenResponse {
  ok: boolean;
  status: number;
  json(): Promise<unknown>;
}
export type Fetch = (url: string, init: RequestInit) => Promise<TokenResponse>;

export interface TwilioMediaOptions {
  /** `voiceTokenRequest(location.search)`. */
  tokenRequest: TokenRequest;
  createDevice: CreateDevice;
  /** The `audio` constraints for the microphone (see audioConstraints). */
  audio: MediaTrackConstraints | boolean;
  fetch?: Fetch;
  /** How long to wait before fetching a token again after a refresh failed. */
  refreshRetryMs?: number;
}

/** The leg an incoming Twilio call carries, from its custom parameters. */
export interface TwilioLeg {
  conferenceId: string;
  legId: string;
  caller: string;
  autoAnswer: boolean;
}

/** The Talkbox leg of an incoming call, or null when Talkbox did not place it (then it is ignored). */
export function talkboxLeg(parameters: Map<string, string>): TwilioLeg | null {
  const conferenceId = parameters.get("conference_id");
  const legId = parameters.get("leg_id");
  const caller = parameters.get("caller");
  const autoAnswer = parameters.get("auto_answer");
  if (!conferenceId || !legId || !caller) return null;
  if (autoAnswer !== "true" && autoAnswer !== "false") return null;
  return { conferenceId, legId, caller, autoAnswer: autoAnswer === "true" };
}

/** Twilio's microphone errors (31401 permission denied, 31402 acquisition failed; 31208 in older SDKs). */
const MICROPHONE_ERRORS = new Set([31208, 31401, 31402]);

export function failureReason(error: unknown): LegFailedReason {
  return MICROPHONE_ERRORS.has(errorCode(error) ?? 0) ? "microphone" : "media";
}

function errorCode(error: unknown): number | null {
  if (typeof error === "object" && error !== null && "code" in error && typeof error.code === "number") {
    return error.code;
  }
  return null;
}

/** A short description of an SDK error for the page: "ConnectionError 31005". */
export function describeError(error: unknown): string {
  const code = errorCode(error);
  const name = typeof error === "object" && error !== null && "name" in error ? String(error.name) : "";
  if (code !== null) return `${name && name !== "Error" && name !== "TwilioError" ? name : "error"} ${code}`;
  return error instanceof Error ? error.message : String(error);
}

interface TrackedCall {
  call: TwilioCallLike;
  sid: string;
  leg: TwilioLeg;
  /** `answer` called `call.accept()`. */
  accepted: boolean;
  /** The SDK said `accept`: media is up. */
  connected: boolean;
  /** Over: hung up here, canceled, disconnected. */
  closed: boolean;
  /** The SDK's last quality sample of the call, and the warnings it raised and has not cleared. */
  sample: SdkSample | null;
  warnings: Set<string>;
}

export class TwilioMedia implements MediaAdapter {
  private readonly listeners = new Set<(event: MediaEvent) => void>();
  private readonly providerListeners = new Set<(event: ProviderEvent) => void>();
  /** The latest incoming call of each leg. */
  private readonly calls = new Map<string, TrackedCall>();
  private readonly fetch: Fetch;
  private readonly refreshRetryMs: number;
  private device: TwilioDeviceLike | null = null;
  private starting: Promise<void> | null = null;
  private state: DeviceState = "starting";

  constructor(private readonly options: TwilioMediaOptions) {
    this.fetch = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
    this.refreshRetryMs = options.refreshRetryMs ?? REFRESH_RETRY_MS;
  }

  onEvent(listener: (event: MediaEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onProviderEvent(listener: (event: ProviderEvent) => void): () => void {
    this.providerListeners.add(listener);
    return () => this.providerListeners.delete(listener);
  }

  /**
   * The first time: fetch a token, build the Device and register it. Later
   * (every `welcome`): announce again the calls still ringing here, which the
   * page forgot when its socket dropped. A start that failed is tried again.
   */
  start(): Promise<void> {
    if (this.device !== null) {
      for (const tracked of this.calls.values()) {
        if (!tracked.accepted && !tracked.closed) this.announce(tracked);
      }
      return Promise.resolve();
    }
    this.starting ??= this.setUp().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  /**
   * On the SDK's `tokenWillExpire`: a new token for the Device. A failed fetch
   * is tried again every `refreshRetryMs` while the old token still holds
   * (`TOKEN_REFRESH_MS` from the warning); after that a new one would come too late.
   */
  async refreshToken(attempt = 0): Promise<void> {
    const device = this.device;
    if (device === null) return;
    try {
      device.updateToken(await this.fetchToken());
      this.deviceChanged(this.state, null);
    } catch (err) {
      console.warn("Talkbox: could not refresh the Twilio token", err);
      this.deviceChanged(this.state, `token refresh failed: ${describeError(err)}`);
      if ((attempt + 1) * this.refreshRetryMs < TOKEN_REFRESH_MS) {
        setTimeout(() => void this.refreshToken(attempt + 1), this.refreshRetryMs);
      }
    }
  }

  /** Accept the incoming call of a leg (`offer`: its CallSid). Resolves with "": nothing to send back. */
  async answer(legId: string, offer: string): Promise<string> {
    const tracked = this.calls.get(legId);
    if (tracked === undefined || tracked.closed) {
      throw new MediaFailure("media", `no incoming Twilio call for leg ${legId}`);
    }
    if (offer !== "" && tracked.sid !== offer) throw new MediaCanceled("a newer call for the leg replaced it");
    if (tracked.accepted) return "";
    tracked.accepted = true;
    try {
      tracked.call.accept({ rtcConstraints: { audio: this.options.audio } });
    } catch (err) {
      this.forget(tracked);
      throw new MediaFailure("media", `call.accept failed: ${String(err)}`);
    }
    return "";
  }

  /** Keypad digits as DTMF in the leg's accepted call; Twilio carries them on from there. */
  sendDigits(legId: string, digits: string): void {
    const tracked = this.calls.get(legId);
    if (tracked === undefined || !tracked.connected) return;
    tracked.call.sendDigits(digits);
  }

  /** Stop a call still ringing here (ignore: other pages of mine still ring) or end an accepted one. */
  /** Nothing to route: the SDK plays each call itself, and a held one hears what Talkbox's holdUrl plays. */
  play(_legId: string): void {}

  hangUp(legId: string): void {
    const tracked = this.calls.get(legId);
    if (tracked === undefined) return;
    this.forget(tracked);
    try {
      if (tracked.accepted) tracked.call.disconnect();
      else tracked.call.ignore();
    } catch (err) {
      console.warn("Talkbox: could not end the Twilio call of leg", legId, err);
    }
  }

  private async setUp(): Promise<void> {
    this.deviceChanged("starting", null);
    let token: string;
    try {
      token = await this.fetchToken();
    } catch (err) {
      console.warn("Talkbox: no Twilio token", err);
      this.deviceChanged("failed", `no token: ${describeError(err)}`);
      return;
    }
    const device = this.options.createDevice(token, deviceOptions());
    this.device = device;
    // The page rings with its own ringtone (and only for legs that ring).
    device.audio?.incoming(false);
    device.on("registering", () => this.deviceChanged("registering", null));
    device.on("registered", () => this.deviceChanged("registered", null));
    device.on("unregistered", () => this.deviceChanged("unregistered", null));
    device.on("error", (error: unknown, call?: unknown) => {
      // A call's errors reach its own listeners too.
      if (call !== undefined) return;
      console.warn("Talkbox: Twilio Device error", error);
      this.deviceChanged(this.state === "registered" ? "registered" : "failed", describeError(error));
    });
    device.on("incoming", (call: TwilioCallLike) => this.incoming(call));
    device.on("tokenWillExpire", () => this.emitProvider({ type: "token-will-expire" }));
    // Registering waits for Twilio's signalling; its outcome comes as events.
    device.register().catch((err: unknown) => {
      console.warn("Talkbox: Twilio Device did not register", err);
      this.deviceChanged("failed", describeError(err));
    });
  }

  private async fetchToken(): Promise<string> {
    const { url, headers } = this.options.tokenRequest;
    const response = await this.fetch(url, {
      cache: "no-store",
      headers: { Accept: "application/json", ...headers },
    });
    if (!response.ok) throw new Error(`${TOKEN_PATH} answered ${response.status}`);
    const body = await response.json();
    if (typeof body !== "object" || body === null || !("token" in body) || typeof body.token !== "string") {
      throw new Error(`${TOKEN_PATH} sent no token`);
    }
    return body.token;
  }

  private incoming(call: TwilioCallLike): void {
    const leg = talkboxLeg(call.customParameters);
    if (leg === null) {
      // Not placed by Talkbox: leave it alone (stop it ringing here).
      console.warn("Talkbox: ignoring an incoming Twilio call without Talkbox's parameters");
      call.ignore();
      return;
    }
    const previous = this.calls.get(leg.legId);
    if (previous !== undefined) this.hangUp(leg.legId);
    const tracked: TrackedCall = {
      call,
      sid: call.parameters.CallSid ?? "",
      leg,
      accepted: false,
      connected: false,
      closed: false,
      sample: null,
      warnings: new Set(),
    };
    this.calls.set(leg.legId, tracked);

    call.on("accept", () => {
      if (tracked.closed) return;
      tracked.connected = true;
      this.emit({ type: "connected", legId: leg.legId });
    });
    call.on("reconnecting", () => {
      if (!tracked.closed && tracked.connected) this.emit({ type: "interrupted", legId: leg.legId });
    });
    call.on("reconnected", () => {
      if (!tracked.closed && tracked.connected) this.emit({ type: "connected", legId: leg.legId });
    });
    call.on("error", (error: unknown) => {
      console.warn("Talkbox: Twilio call error on leg", leg.legId, error);
      // Bringing media up failed (the microphone, most often): leg_failed.
      // Later errors: the SDK reconnects, or the call ends and the server says so.
      if (tracked.closed || !tracked.accepted || tracked.connected) return;
      this.forget(tracked);
      this.emit({ type: "failed", legId: leg.legId, reason: failureReason(error) });
    });
    // The SDK measures the call every second and warns at its own thresholds: that is the call's quality.
    call.on("sample", (sample: SdkSample) => {
      tracked.sample = sample;
      this.measured(tracked);
    });
    call.on("warning", (name: string) => {
      tracked.warnings.add(name);
      this.measured(tracked);
    });
    call.on("warning-cleared", (name: string) => {
      tracked.warnings.delete(name);
      this.measured(tracked);
    });
    // Canceled by Talkbox or Twilio, ended, or rejected elsewhere: the server reports the leg.
    for (const ended of ["cancel", "disconnect", "reject"]) call.on(ended, () => this.forget(tracked));

    this.announce(tracked);
  }

  private announce(tracked: TrackedCall): void {
    const { leg } = tracked;
    this.emitProvider({
      type: "incoming",
      conferenceId: leg.conferenceId,
      legId: leg.legId,
      caller: leg.caller,
      autoAnswer: leg.autoAnswer,
      offer: tracked.sid,
    });
  }

  private measured(tracked: TrackedCall): void {
    if (tracked.closed || !tracked.connected || tracked.sample === null) return;
    this.emit({ type: "quality", legId: tracked.leg.legId, quality: sdkQuality(tracked.sample, tracked.warnings) });
  }

  private forget(tracked: TrackedCall): void {
    tracked.closed = true;
    if (this.calls.get(tracked.leg.legId) === tracked) this.calls.delete(tracked.leg.legId);
  }

  private deviceChanged(state: DeviceState, detail: string | null): void {
    this.state = state;
    this.emitProvider({ type: "device", state, detail });
  }

  private emit(event: MediaEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  private emitProvider(event: ProviderEvent): void {
    for (const listener of this.providerListeners) listener(event);
  }
}
