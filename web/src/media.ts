// The media side of a call, behind one narrow interface. BuiltinMedia talks
// WebRTC to Talkbox's own media engine; TwilioMedia (twilio-media.ts) uses
// Twilio's Voice SDK. The server's `welcome` says which one the page uses.

import type { MicrophoneProblem } from "./devices";
import { microphoneProblem } from "./devices";
import type { LegFailedReason } from "./protocol";
import type { CallQuality, StatsReading } from "./quality";

export type MediaEvent =
  | { type: "connected"; legId: string }
  /** Connected media stopped flowing (ICE disconnected): it may come back, or fail. */
  | { type: "interrupted"; legId: string }
  | { type: "failed"; legId: string; reason: LegFailedReason }
  /** The call's microphone track ended by itself: its device was unplugged or taken away. */
  | { type: "microphone-ended"; legId: string }
  /** The provider measured the call's quality itself (Twilio's SDK, every second and at each warning). */
  | { type: "quality"; legId: string; quality: CallQuality };

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
  answer(legId: string, offer: string, quiet?: boolean): Promise<string>;
  /** Tear down a leg's media. Idempotent; unknown legs are ignored. */
  hangUp(legId: string): void;
  /** Play this leg's audio (the call switched to), not another's; unknown legs are ignored. */
  play(legId: string): void;
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
    /** Why the microphone could not be opened, when that was the failure. */
    readonly problem: MicrophoneProblem | null = null,
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
  /** Answered for a call on hold (its media back after a restart): not heard until `play` picks it. */
  quiet: boolean;
}

/** WebRTC to Talkbox's built-in engine: one RTCPeerConnection per leg, no trickle ICE. */
export class BuiltinMedia implements MediaAdapter {
  private readonly legs = new Map<string, LegMedia>();
  private readonly listeners = new Set<(event: MediaEvent) => void>();
  private readonly audioElement: HTMLAudioElement;
  private readonly audio: MediaTrackConstraints | boolean;
  private readonly iceGatheringTimeoutMs: number;
  /** The microphone chosen ("" the default). */
  private microphoneId = "";
  /** TURN, from the server's `welcome`: for pages whose network lets no UDP through to the engine. */
  private iceServers: RTCIceServer[] = [];

  constructor(options: BuiltinMediaOptions) {
    this.audioElement = options.audioElement;
    this.audio = options.audio;
    this.iceGatheringTimeoutMs = options.iceGatheringTimeoutMs ?? 2000;
  }

  onEvent(listener: (event: MediaEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The TURN servers `welcome` named, for the legs answered from now on. */
  useIceServers(servers: readonly RTCIceServer[]): void {
    this.iceServers = [...servers];
  }

  /** Talkbox's engine needs nothing set up: offers come over the websocket. */
  start(): Promise<void> {
    return Promise.resolve();
  }

  async answer(legId: string, offerSdp: string, quiet = false): Promise<string> {
    this.hangUp(legId); // a new offer for a leg replaces its old media
    const leg: LegMedia = {
      pc: null,
      microphone: null,
      remote: null,
      closed: false,
      connected: false,
      interrupted: false,
      quiet,
    };
    this.legs.set(legId, leg);

    try {
      leg.microphone = await this.openMicrophone();
    } catch (err) {
      if (leg.closed) throw new MediaCanceled("the leg was hung up while opening the microphone");
      this.release(legId, leg);
      const name = err instanceof Error ? err.name : "";
      throw new MediaFailure("microphone", `getUserMedia failed: ${String(err)}`, microphoneProblem(name));
    }
    if (leg.closed) {
      stopTracks(leg.microphone);
      throw new MediaCanceled("the leg was hung up while opening the microphone");
    }

    try {
      const pc = new RTCPeerConnection({ iceServers: this.iceServers });
      leg.pc = pc;
      pc.ontrack = (event) => this.playRemote(leg, event);
      pc.onconnectionstatechange = () => this.connectionChanged(legId, leg, pc.connectionState);

      for (const track of leg.microphone.getAudioTracks()) {
        pc.addTrack(track, leg.microphone);
        this.watchTrack(legId, leg, track);
      }
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

  /**
   * Use this microphone ("" the default) from now on, in the calls up now
   * too: their senders switch tracks (replaceTrack), so no renegotiation and
   * the call goes on. A microphone that cannot be opened leaves the old one.
   */
  async useMicrophone(deviceId: string): Promise<void> {
    if (deviceId === this.microphoneId) return;
    this.microphoneId = deviceId;
    for (const [legId, leg] of this.legs) {
      const pc = leg.pc;
      if (pc === null || leg.closed) continue;
      const stream = await this.openMicrophone();
      const track = stream.getAudioTracks()[0];
      const sender = pc.getSenders().find((s) => s.track === null || s.track.kind === "audio");
      if (track === undefined || sender === undefined || leg.closed) {
        stopTracks(stream);
        continue;
      }
      await sender.replaceTrack(track);
      stopTracks(leg.microphone);
      leg.microphone = stream;
      this.watchTrack(legId, leg, track);
    }
  }

  /** The counters of a leg's audio from getStats, null for a leg without media. */
  async readStats(legId: string): Promise<StatsReading | null> {
    const pc = this.legs.get(legId)?.pc;
    if (pc === undefined || pc === null) return null;
    return statsReading(await pc.getStats());
  }

  hangUp(legId: string): void {
    const leg = this.legs.get(legId);
    if (leg) this.release(legId, leg);
  }

  /** The one remote audio element plays one call at a time: the one I talk on. */
  play(legId: string): void {
    const leg = this.legs.get(legId);
    if (leg !== undefined) leg.quiet = false;
    const remote = leg?.remote;
    if (remote === null || remote === undefined || this.audioElement.srcObject === remote) return;
    this.audioElement.srcObject = remote;
    this.audioElement.play().catch(() => undefined);
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

  private openMicrophone(): Promise<MediaStream> {
    return navigator.mediaDevices.getUserMedia({ audio: withDevice(this.audio, this.microphoneId) });
  }

  /** A track that ends without us stopping it lost its device. */
  private watchTrack(legId: string, leg: LegMedia, track: MediaStreamTrack): void {
    track.addEventListener("ended", () => {
      if (!leg.closed && leg.microphone?.getAudioTracks().includes(track)) {
        this.emit({ type: "microphone-ended", legId });
      }
    });
  }

  private playRemote(leg: LegMedia, event: RTCTrackEvent): void {
    if (leg.closed) return;
    const stream = event.streams[0] ?? leg.remote ?? new MediaStream();
    if (!stream.getTracks().includes(event.track)) stream.addTrack(event.track);
    leg.remote = stream;
    if (leg.quiet) return;
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

/** Audio constraints asking for one device ("" the default); `ideal`, so a missing one gives the default. */
export function withDevice(audio: MediaTrackConstraints | boolean, deviceId: string): MediaTrackConstraints | boolean {
  if (deviceId === "") return audio;
  return { ...(audio === true ? {} : audio || {}), deviceId: { ideal: deviceId } };
}

/** RTT, jitter and loss counters from a getStats report: what the far end saw of ours, and what we receive. */
export function statsReading(report: RTCStatsReport): StatsReading {
  let roundTripTime: number | null = null;
  let jitter: number | null = null;
  let packetsReceived = 0;
  let packetsLost = 0;
  let pairRtt: number | null = null;
  report.forEach((stats: Record<string, unknown>) => {
    if (stats.kind !== undefined && stats.kind !== "audio") return;
    if (stats.type === "remote-inbound-rtp" && typeof stats.roundTripTime === "number") {
      roundTripTime = stats.roundTripTime;
    } else if (stats.type === "inbound-rtp") {
      if (typeof stats.jitter === "number") jitter = stats.jitter;
      packetsReceived += typeof stats.packetsReceived === "number" ? stats.packetsReceived : 0;
      packetsLost += typeof stats.packetsLost === "number" ? stats.packetsLost : 0;
    } else if (stats.type === "candidate-pair" && stats.nominated === true) {
      if (typeof stats.currentRoundTripTime === "number") pairRtt = stats.currentRoundTripTime;
    }
  });
  // The far end's reports give the RTT of the media itself; ICE's checks are the fallback.
  return { roundTripTime: roundTripTime ?? pairRtt, jitter, packetsReceived, packetsLost };
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
