// The media side of a call, behind one narrow interface. BuiltinMedia talks
// WebRTC to Talkbox's own media engine; TwilioMedia (twilio-media.ts) uses
// Twilio's Voice SDK. The server's `welcome` says which one the page uses.

import type { LegFailedReason } from "./protocol";

export type MediaEvent =
  | { type: "connected"; legId: string }
  /** Connected media stopped flowing (ICE disconnected): it may come back, or fail. */
  | { type: "interrupted"; legId: string }
  | { type: "failed"; legId: string; reason: LegFailedReason };

/**
 * What a provider that reaches the page itself (Twilio) reports besides the
 * media of a leg: legs offered to the page as the provider's own incoming
 * calls (no `offer` frame), and the state of its connection to the provider.
 */
export type ProviderEvent =
  /** A leg offered as an incoming call; `offer` identifies the call (Twilio: its CallSid) for `answer`. */
  | { type: "incoming"; conferenceId: string; legId: string; caller: string; autoAnswer: boolean; offer: string }
  | { type: "device"; state: DeviceState; detail: string | null }
  /** The provider's access token runs out soon: fetch a new one. */
  | { type: "token-will-expire" };

/** The page's registration with the provider (Twilio's `Device`). */
export type DeviceState = "starting" | "registering" | "registered" | "unregistered" | "failed";

export interface MediaAdapter {
  /**
   * Bring up media for a leg offered by the server: resolves with the SDP
   * answer to send back, rejects with a MediaFailure. With Twilio the
   * "offer" is the incoming call's CallSid and nothing is sent back (the SDK
   * answers Twilio itself): it resolves with "" once the call is accepted.
   */
  answer(legId: string, offer: string): Promise<string>;
  /** Tear down a leg's media. Idempotent; unknown legs are ignored. */
  hangUp(legId: string): void;
  /** Connected / failed notices after `answer` resolved. Returns an unsubscribe function. */
  onEvent(listener: (event: MediaEvent) => void): () => void;
  /**
   * Make the adapter ready to use (the server's `welcome` chose it); called
   * again on every `welcome`. Built-in: nothing to do. Twilio: fetch a token,
   * build and register the Device the first time; later, announce again the
   * incoming calls still ringing (the page forgets them when its socket drops).
   */
  start(): Promise<void>;
}

export class MediaFailure extends Error {
  constructor(
    readonly reason: LegFailedReason,
    message: string,
  ) {
    super(message);
    this.name = "MediaFailure";
  }
}

/**
 * `answer` was overtaken: the leg was hung up, or a newer offer for the same
 * leg replaced it, while it was being answered. Not a failure of the leg:
 * the runtime drops it silently.
 */
export class MediaCanceled extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MediaCanceled";
  }
}

/**
 * The `audio` constraints for getUserMedia: the browser's defaults (`true`),
 * or no echo cancellation, noise suppression or gain control when the page
 * URL has `audio_processing=off` (tests that measure tones need them off).
 */
export function audioConstraints(search: string): MediaTrackConstraints | boolean {
  if (new URLSearchParams(search).get("audio_processing") === "off") {
    return { echoCancellation: false, noiseSuppression: false, autoGainControl: false };
  }
  return true;
}

export interface BuiltinMediaOptions {
  /** The one element remote audio plays through (`<audio id="remote-audio">`). */
  audioElement: HTMLAudioElement;
  audio: MediaTrackConstraints | boolean;
  /** How long to wait for ICE gathering before sending what we have. */
  iceGatheringTimeoutMs?: number;
}

interface LegMedia {
  pc: RTCPeerConnection | null;
  microphone: MediaStream | null;
  remote: MediaStream | null;
  closed: boolean;
  connected: boolean;
  interrupted: boolean;
}

/** WebRTC to Talkbox's built-in engine: one RTCPeerConnection per leg, no trickle ICE. */
export class BuiltinMedia implements MediaAdapter {
  private readonly legs = new Map<string, LegMedia>();
  private readonly listeners = new Set<(event: MediaEvent) => void>();
  private readonly audioElement: HTMLAudioElement;
  private readonly audio: MediaTrackConstraints | boolean;
  private readonly iceGatheringTimeoutMs: number;

  constructor(options: BuiltinMediaOptions) {
    this.audioElement = options.audioElement;
    this.audio = options.audio;
    this.iceGatheringTimeoutMs = options.iceGatheringTimeoutMs ?? 2000;
  }

  onEvent(listener: (event: MediaEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Talkbox's engine needs nothing set up: offers come over the websocket. */
  start(): Promise<void> {
    return Promise.resolve();
  }

  async answer(legId: string, offerSdp: string): Promise<string> {
    this.hangUp(legId); // a new offer for a leg replaces its old media
    const leg: LegMedia = {
      pc: null,
      microphone: null,
      remote: null,
      closed: false,
      connected: false,
      interrupted: false,
    };
    this.legs.set(legId, leg);

    try {
      leg.microphone = await navigator.mediaDevices.getUserMedia({ audio: this.audio });
    } catch (err) {
      if (leg.closed) throw new MediaCanceled("the leg was hung up while opening the microphone");
      this.release(legId, leg);
      throw new MediaFailure("microphone", `getUserMedia failed: ${String(err)}`);
    }
    if (leg.closed) {
      stopTracks(leg.microphone);
      throw new MediaCanceled("the leg was hung up while opening the microphone");
    }

    try {
      const pc = new RTCPeerConnection({ iceServers: [] });
      leg.pc = pc;
      pc.ontrack = (event) => this.playRemote(leg, event);
      pc.onconnectionstatechange = () => this.connectionChanged(legId, leg, pc.connectionState);

      for (const track of leg.microphone.getAudioTracks()) pc.addTrack(track, leg.microphone);
      await pc.setRemoteDescription({ type: "offer", sdp: offerSdp });
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      await waitForIceGathering(pc, this.iceGatheringTimeoutMs);
      if (leg.closed) throw new MediaCanceled("the leg was hung up while answering");
      const sdp = pc.localDescription?.sdp;
      if (!sdp) throw new Error("no local description");
      return sdp;
    } catch (err) {
      const canceled = leg.closed;
      this.release(legId, leg);
      if (canceled || err instanceof MediaCanceled) {
        throw err instanceof MediaCanceled ? err : new MediaCanceled(`the leg was hung up while answering: ${String(err)}`);
      }
      throw err instanceof MediaFailure ? err : new MediaFailure("media", String(err));
    }
  }

  hangUp(legId: string): void {
    const leg = this.legs.get(legId);
    if (leg) this.release(legId, leg);
  }

  /** Close one leg's media (and forget it, unless a newer answer replaced it). */
  private release(legId: string, leg: LegMedia): void {
    if (this.legs.get(legId) === leg) this.legs.delete(legId);
    leg.closed = true;
    if (leg.pc) {
      leg.pc.ontrack = null;
      leg.pc.onconnectionstatechange = null;
      leg.pc.close();
    }
    stopTracks(leg.microphone);
    if (leg.remote !== null && this.audioElement.srcObject === leg.remote) {
      this.audioElement.srcObject = null;
    }
  }

  private playRemote(leg: LegMedia, event: RTCTrackEvent): void {
    if (leg.closed) return;
    const stream = event.streams[0] ?? leg.remote ?? new MediaStream();
    if (!stream.getTracks().includes(event.track)) stream.addTrack(event.track);
    leg.remote = stream;
    if (this.audioElement.srcObject !== stream) this.audioElement.srcObject = stream;
    // Autoplay may be refused before a user gesture; the element keeps the
    // stream and plays on the next attempt.
    this.audioElement.play().catch(() => undefined);
  }

  private connectionChanged(legId: string, leg: LegMedia, state: RTCPeerConnectionState): void {
    if (leg.closed) return;
    if (state === "connected" && (!leg.connected || leg.interrupted)) {
      leg.connected = true;
      leg.interrupted = false;
      this.emit({ type: "connected", legId });
    } else if (state === "disconnected" && leg.connected && !leg.interrupted) {
      leg.interrupted = true;
      this.emit({ type: "interrupted", legId });
    } else if (state === "failed") {
      this.emit({ type: "failed", legId, reason: "media" });
    }
  }

  private emit(event: MediaEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}

function stopTracks(stream: MediaStream | null): void {
  for (const track of stream?.getTracks() ?? []) track.stop();
}

/** Resolves when ICE gathering is complete, or after `timeoutMs`, whichever comes first. */
export function waitForIceGathering(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", onChange);
      resolve();
    };
    const onChange = (): void => {
      if (pc.iceGatheringState === "complete") done();
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", onChange);
  });
}
