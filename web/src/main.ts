// Wires the page together: dispatch(msg) -> update -> render -> run effects.

import type { Effect, Model, Msg, NotificationChoice } from "./model";
import { initialModel } from "./model";
import type { DeviceChoice, DeviceOption } from "./devices";
import { DEFAULT_CHOICE, microphoneProblem } from "./devices";
import { LevelMeter, playTestTone } from "./meter";
import type { MediaAdapter, MediaEvent, ProviderEvent } from "./media";
import { BuiltinMedia, MediaCanceled, MediaFailure, audioConstraints } from "./media";
import { TwilioMedia, voiceTokenRequest } from "./twilio-media";
import { CALL_WAITING, RING, Ringtone } from "./ringtone";
import { Connection, identityHeaders, nameQuery, pageIdentity, signInQuery, socketProtocols, socketUrl } from "./socket";
import { parseLibrary, withIdentity } from "./library";
import { update } from "./update";
import { mountView } from "./view";

function start(): void {
  const canChooseSpeaker = "setSinkId" in HTMLMediaElement.prototype;
  let model: Model = initialModel({
    ...pageIdentity(window.location.search),
    devices: rememberedDevices(),
    canChooseSpeaker,
    notifications: notificationChoice(),
  });
  const notifications = new Map<string, Notification>();

  const audioElement = document.getElementById("remote-audio");
  if (!(audioElement instanceof HTMLAudioElement)) throw new Error("index.html lacks <audio id=remote-audio>");
  const remoteAudio: HTMLAudioElement = audioElement;

  // One adapter per provider name the server may announce in `welcome`:
  // the built-in one from the start, Twilio's once `welcome` asks for it.
  const adapters = new Map<string, MediaAdapter>();
  const builtin = new BuiltinMedia({ audioElement, audio: audioConstraints(window.location.search) });
  adapters.set("builtin", builtin);
  const mediaFor = (): MediaAdapter => adapters.get(model.provider ?? "builtin") ?? builtin;
  let twilio: Promise<TwilioMedia> | null = null;

  /** Twilio's adapter, the SDK loaded on first use (bundled in app.js, evaluated only in Twilio mode). */
  function twilioMedia(): Promise<TwilioMedia> {
    twilio ??= import("./twilio-device").then(({ createTwilioDevice }) => {
      const adapter = new TwilioMedia({
        tokenRequest: voiceTokenRequest(window.location.search),
        createDevice: createTwilioDevice,
        audio: audioConstraints(window.location.search),
      });
      adapter.onEvent(onMediaEvent);
      adapter.onProviderEvent(onProviderEvent);
      adapters.set("twilio", adapter);
      return adapter;
    });
    return twilio;
  }

  function useMedia(provider: string): void {
    const adapter = provider === "twilio" ? twilioMedia() : Promise.resolve(adapters.get(provider) ?? builtin);
    adapter
      .then((media) => media.start())
      .catch((err: unknown) => {
        console.error("Talkbox: could not start the media adapter", provider, err);
        if (provider === "twilio") dispatch({ type: "media-device", state: "failed", detail: String(err) });
      });
  }

  function onMediaEvent(event: MediaEvent): void {
    if (event.type === "connected") dispatch({ type: "media-connected", legId: event.legId });
    else if (event.type === "interrupted") dispatch({ type: "media-interrupted", legId: event.legId });
    else if (event.type === "microphone-ended") dispatch({ type: "microphone-ended", legId: event.legId });
    else if (event.type === "quality") dispatch({ type: "quality-measured", legId: event.legId, quality: event.quality });
    else dispatch({ type: "media-failed", legId: event.legId, reason: event.reason });
  }

  function onProviderEvent(event: ProviderEvent): void {
    if (event.type === "incoming") {
      const { conferenceId, legId, caller, autoAnswer, offer } = event;
      dispatch({ type: "media-offered", conferenceId, legId, caller, autoAnswer, offer });
    } else if (event.type === "device") {
      dispatch({ type: "media-device", state: event.state, detail: event.detail });
    } else {
      dispatch({ type: "media-token-expiring" });
    }
  }

  const ringtone = new Ringtone(() => dispatch({ type: "ringtone-blocked" }));
  const meter = new LevelMeter(
    audioConstraints(window.location.search),
    (level) => dispatch({ type: "microphone-level", level }),
    (err) => dispatch({ type: "microphone-unavailable", problem: microphoneProblem(errorName(err)) }),
  );

  /** The browser's devices, to the update: their labels come once a microphone was allowed. */
  function listDevices(): void {
    navigator.mediaDevices
      ?.enumerateDevices()
      .then((found) => {
        const of = (kind: MediaDeviceKind): DeviceOption[] =>
          found.filter((d) => d.kind === kind).map((d) => ({ id: d.deviceId, label: d.label }));
        dispatch({ type: "devices-listed", microphones: of("audioinput"), speakers: of("audiooutput") });
      })
      .catch((err: unknown) => console.warn("Talkbox: could not list devices", err));
  }

  function useDevices(chosen: DeviceChoice, remember: boolean): void {
    if (remember) window.localStorage.setItem(DEVICES_KEY, JSON.stringify(chosen));
    if (canChooseSpeaker) remoteAudio.setSinkId(chosen.speaker).catch((err: unknown) => console.warn(err));
    ringtone.useOutput(chosen.ringer);
    builtin.useMicrophone(chosen.microphone).catch((err: unknown) => {
      console.warn("Talkbox: could not switch the microphone", err);
      dispatch({ type: "microphone-unavailable", problem: microphoneProblem(errorName(err)) });
    });
  }

  // My leg's quality, read while its media is connected (built-in engine: Twilio's SDK measures its own).
  setInterval(() => {
    const { legId, phase } = model.media;
    if (legId === null || phase !== "connected" || model.provider === "twilio") return;
    builtin
      .readStats(legId)
      .then((reading) => {
        if (reading !== null) dispatch({ type: "stats-read", legId, reading });
      })
      .catch(() => undefined);
    dispatch({ type: "leg-stats-due" }); // the chair's view of each leg, from the server
  }, STATS_INTERVAL_MS);
  // The call timer's second hand: only while a call is on the panel.
  setInterval(() => {
    if (model.conference !== null || model.callStartedAt !== null) dispatch({ type: "clock-ticked", now: Date.now() });
  }, 1000);
  const view = mountView(document, (msg) => dispatch(msg));
  const connection = new Connection(socketUrl(window.location), socketProtocols(window.location.search), (msg) => {
    // TURN is the media's business, not the model's: the adapter takes it straight from `welcome`.
    if (msg.type === "server-message" && msg.message.type === "welcome") builtin.useIceServers(msg.message.ice_servers ?? []);
    dispatch(msg);
  });

  // Messages dispatched while effects run are queued, so each update sees
  // the model left by the previous one and renders stay in order.
  const queue: Msg[] = [];
  let running = false;

  function dispatch(msg: Msg): void {
    queue.push(msg);
    if (running) return;
    running = true;
    try {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
        const [updated, effects] = update(model, next);
        model = updated;
        view.render(model);
        for (const effect of effects) run(effect);
      }
    } finally {
      running = false;
    }
  }

  /** One request to the recordings API as this page's user; the answer's JSON, or null when it failed. */
  async function askServer(method: string, path: string, body?: unknown): Promise<unknown> {
    const search = window.location.search;
    const headers: Record<string, string> = { ...identityHeaders(search) };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    try {
      const init: RequestInit = { method, headers };
      if (body !== undefined) init.body = JSON.stringify(body);
      const response = await fetch(`${path}${nameQuery(search)}`, init);
      if (!response.ok) {
        console.warn("Talkbox:", method, path, response.status);
        return null;
      }
      return response.status === 204 ? {} : await response.json();
    } catch (err) {
      console.warn("Talkbox:", method, path, err);
      return null;
    }
  }

  function fetchLibrary(): void {
    askServer("GET", "/api/recordings").then((raw) => {
      const library = parseLibrary(raw);
      dispatch({ type: "library-loaded", library: library && withIdentity(library, window.location.search) });
    });
  }

  function run(effect: Effect): void {
    try {
      switch (effect.type) {
        case "send":
          if (!connection.send(effect.frame)) dispatch({ type: "send-failed", frame: effect.frame });
          return;
        case "sign-in":
          window.location.assign(signInQuery(window.location.search, effect.name));
          return;
        case "answer-media": {
          const { legId } = effect;
          mediaFor()
            .answer(legId, effect.sdp, effect.quiet === true)
            .then(
              (sdp) => dispatch({ type: "media-answer-ready", legId, sdp }),
              (err: unknown) => {
                // Hung up or replaced by a newer offer for the leg while answering.
                if (err instanceof MediaCanceled) return;
                console.warn("Talkbox: media failed for leg", legId, err);
                const reason = err instanceof MediaFailure ? err.reason : "media";
                const problem = err instanceof MediaFailure ? err.problem : null;
                const failed: Msg = { type: "media-failed", legId, reason };
                dispatch(problem === null ? failed : { ...failed, problem });
                listDevices();
              },
            );
          return;
        }
        case "use-media":
          useMedia(effect.provider);
          return;
        case "refresh-media-token":
          twilio
            ?.then((adapter) => adapter.refreshToken())
            .catch((err: unknown) => console.error("Talkbox: token refresh failed", err));
          return;
        case "stop-media":
          for (const adapter of new Set(adapters.values())) adapter.hangUp(effect.legId);
          return;
        case "send-digits":
          twilio
            ?.then((adapter) => adapter.sendDigits(effect.legId, effect.digits))
            .catch((err: unknown) => console.warn("Talkbox: could not send digits", err));
          return;
        case "use-devices":
          useDevices(effect.chosen, effect.remember);
          return;
        case "start-level-meter":
          // Once the microphone is allowed the lists gain their names.
          meter.start(effect.microphone).then(listDevices, () => undefined);
          return;
        case "stop-level-meter":
          meter.stop();
          return;
        case "play-test-tone":
          playTestTone(effect.speaker).catch((err: unknown) => console.warn("Talkbox: test tone failed", err));
          return;
        case "start-ringtone":
          ringtone.start(effect.waiting ? CALL_WAITING : RING);
          return;
        case "play-media":
          for (const adapter of new Set(adapters.values())) adapter.play(effect.legId);
          return;
        case "stop-ringtone":
          ringtone.stop();
          return;
        case "allow-ringtone":
          ringtone
            .allowSound()
            .then((audible) => audible && dispatch({ type: "ringtone-audible" }))
            .catch(() => undefined);
          return;
        case "ask-notifications":
          Notification.requestPermission()
            .then((permission) => dispatch({ type: "notifications-answered", permission }))
            .catch(() => undefined);
          return;
        case "remember-notifications-dismissed":
          window.localStorage.setItem(NOTIFICATIONS_KEY, "dismissed");
          return;
        case "notify-call": {
          // Only a tab someone is not looking at needs one: in front, the page itself rings.
          if (document.visibilityState === "visible" && document.hasFocus()) return;
          const shown = new Notification(`${effect.caller} is calling`, {
            body: "Click to answer in Talkbox",
            tag: effect.tag,
            requireInteraction: true,
          });
          shown.onclick = () => {
            window.focus();
            shown.close();
            dispatch({ type: "notification-clicked" });
          };
          notifications.set(effect.tag, shown);
          return;
        }
        case "close-notification":
          notifications.get(effect.tag)?.close();
          notifications.delete(effect.tag);
          return;
        case "reconnect-later":
          connection.reconnectLater(effect.delayMs);
          return;
        case "fetch-library":
          fetchLibrary();
          return;
        case "mark-heard":
          askServer("POST", `/api/recordings/${encodeURIComponent(effect.id)}/heard`).then(fetchLibrary);
          return;
        case "delete-recording":
          // The server answers with recordings_changed, which lists them again.
          void askServer("DELETE", `/api/recordings/${encodeURIComponent(effect.id)}`);
          return;
        case "set-voicemail":
          askServer("PUT", "/api/voicemail", { on: effect.on }).then(fetchLibrary);
          return;
      }
    } catch (err) {
      console.error("Talkbox: effect failed", effect, err);
    }
  }

  builtin.onEvent(onMediaEvent);
  navigator.mediaDevices?.addEventListener("devicechange", listDevices);
  listDevices();
  // The remembered devices, in use from the start.
  if (model.devices.chosen !== DEFAULT_CHOICE) useDevices(model.devices.chosen, false);

  view.render(model);
  if (!model.identityMissing) connection.connect();
}

const DEVICES_KEY = "talkbox.devices";
const NOTIFICATIONS_KEY = "talkbox.notifications";

/** The browser's notification permission; "dismissed" when Not now was pressed and the browser was never asked. */
function notificationChoice(): NotificationChoice {
  if (!("Notification" in window)) return "unsupported";
  const permission = Notification.permission;
  if (permission === "default" && window.localStorage.getItem(NOTIFICATIONS_KEY) === "dismissed") return "dismissed";
  return permission;
}
const STATS_INTERVAL_MS = 2000;

/** The devices chosen on an earlier visit (the defaults when none, or unreadable). */
function rememberedDevices(): DeviceChoice {
  try {
    const stored: unknown = JSON.parse(window.localStorage.getItem(DEVICES_KEY) ?? "null");
    if (typeof stored !== "object" || stored === null) return DEFAULT_CHOICE;
    const pick = (key: string): string => {
      const value = (stored as Record<string, unknown>)[key];
      return typeof value === "string" ? value : "";
    };
    return { microphone: pick("microphone"), speaker: pick("speaker"), ringer: pick("ringer") };
  } catch {
    return DEFAULT_CHOICE;
  }
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : "";
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start, { once: true });
} else {
  start();
}
