// The connection line at the top of the page, in words. Pure.

import type { Model } from "./model";
import { CloseCode } from "./protocol";

export interface ConnectionLine {
  /** `open`, `connecting` or `closed`: the dot's colour. */
  state: "open" | "connecting" | "closed";
  text: string;
}

export function connectionLine(
  model: Pick<Model, "identityMissing" | "authFailed" | "connection" | "closeCode" | "me">,
): ConnectionLine {
  if (model.identityMissing || model.authFailed) return { state: "closed", text: "Not signed in" };
  if (model.connection === "open") {
    return { state: "open", text: model.me ? `Connected as ${model.me}` : "Connected" };
  }
  // Between attempts and during them, say why the socket went.
  if (model.closeCode === CloseCode.TOO_MANY_SOCKETS) return { state: "closed", text: "Not connected: too many pages open" };
  if (model.closeCode !== null) {
    const text =
      model.closeCode === CloseCode.SERVICE_RESTART
        ? "Talkbox is restarting — reconnecting…"
        : model.closeCode === CloseCode.TOO_SLOW
          ? "Fell behind the server — reconnecting…"
          : model.closeCode === CloseCode.MOVING
            ? "Moving to another Talkbox server — reconnecting…"
            : "Disconnected — reconnecting…";
    return { state: model.connection, text };
  }
  return { state: model.connection, text: "Connecting…" };
}

/**
 * The media line under the connection line: which provider carries the
 * calls' audio, and (Twilio) how the page's Device stands. Null for the
 * built-in engine (nothing to say) or before `welcome`.
 */
export function providerLine(model: Pick<Model, "provider" | "device">): ConnectionLine | null {
  if (model.provider !== "twilio") return null;
  const device = model.device ?? { state: "starting", detail: null };
  const why = device.detail ? ` (${device.detail})` : "";
  switch (device.state) {
    case "starting":
      return { state: "connecting", text: "Twilio: getting a token…" };
    case "registering":
      return { state: "connecting", text: `Twilio: registering…${why}` };
    case "registered":
      return { state: "open", text: "Twilio: ready for calls" };
    case "unregistered":
      return { state: "closed", text: `Twilio: not registered${why}` };
    case "failed":
      return { state: "closed", text: `Twilio: unavailable${why}` };
  }
}
