// Wires the page together: dispatch(msg) -> update -> render -> run effects.

import type { Effect, Model, Msg } from "./model";
import { initialModel } from "./model";
import type { MediaAdapter, MediaEvent, ProviderEvent } from "./media";
import { BuiltinMedia, MediaCanceled, MediaFailure, audioConstraints } from "./media";
import { TwilioMedia, voiceTokenRequest } from "./twilio-media";
import { Ringtone } from "./ringtone";
import { Connection, pageIdentity, signInQuery, socketProtocols, socketUrl } from "./socket";
import { update } from "./update";
import { mountView } from "./view";

function start(): void {
  let model: Model = initialModel(pageIdentity(window.location.search));

  const audioElement = document.getElementById("remote-audio");
  if (!(audioElement instanceof HTMLAudioElement)) throw new Error("index.html lacks <audio id=remote-audio>");

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

  const ringtone = new Ringtone();
  const view = mountView(document, (msg) => dispatch(msg));
  const connection = new Connection(socketUrl(window.location), socketProtocols(window.location.search), (msg) =>
    dispatch(msg),
  );

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
            .answer(legId, effect.sdp)
            .then(
              (sdp) => dispatch({ type: "media-answer-ready", legId, sdp }),
              (err: unknown) => {
                // Hung up or replaced by a newer offer for the leg while answering.
                if (err instanceof MediaCanceled) return;
                console.warn("Talkbox: media failed for leg", legId, err);
                const reason = err instanceof MediaFailure ? err.reason : "media";
                dispatch({ type: "media-failed", legId, reason });
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
        case "start-ringtone":
          ringtone.start();
          return;
        case "stop-ringtone":
          ringtone.stop();
          return;
        case "reconnect-later":
          connection.reconnectLater(effect.delayMs);
          return;
        case "settle-later": {
          const { session } = effect;
          setTimeout(() => dispatch({ type: "state-settled", session }), effect.delayMs);
          return;
        }
      }
    } catch (err) {
      console.error("Talkbox: effect failed", effect, err);
    }
  }

  builtin.onEvent(onMediaEvent);

  view.render(model);
  if (!model.identityMissing) connection.connect();
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start, { once: true });
} else {
  start();
}
