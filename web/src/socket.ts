// The websocket to Talkbox: opens /ws with the page's identity, turns what
// happens on it into Msgs, and sends frames.

import type { Msg } from "./model";
import type { ClientFrame } from "./protocol";
import { encodeClientFrame, parseServerFrame } from "./protocol";

/** The identity query parameters passed through from the page URL to /ws. */
export const IDENTITY_PARAMS = ["token", "client_name"] as const;

export function hasIdentity(search: string): boolean {
  const params = new URLSearchParams(search);
  return IDENTITY_PARAMS.some((name) => (params.get(name) ?? "") !== "");
}

/** The page URL's identity (its token or client_name) as a query string, `?…` or "". */
export function identityQuery(search: string): string {
  const page = new URLSearchParams(search);
  const query = new URLSearchParams();
  for (const name of IDENTITY_PARAMS) {
    const value = page.get(name);
    if (value !== null && value !== "") query.set(name, value);
  }
  const qs = query.toString();
  return qs ? `?${qs}` : "";
}

/** `ws(s)://<host>/ws?…` for a page at `location`, carrying its token or client_name. */
export function socketUrl(location: Pick<Location, "protocol" | "host" | "search">): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws${identityQuery(location.search)}`;
}

/** A random factor in [0.5, 1) applied to backoff delays, so pages do not reconnect in step. */
export function jitter(delayMs: number, random: () => number = Math.random): number {
  return Math.round(delayMs * (0.5 + random() / 2));
}

export class Connection {
  private socket: WebSocket | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly url: string,
    private readonly dispatch: (msg: Msg) => void,
  ) {}

  connect(): void {
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.dispatch({ type: "socket-connecting" });
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket === socket) this.dispatch({ type: "socket-opened" });
    };
    socket.onmessage = (event: MessageEvent) => {
      if (this.socket !== socket) return;
      const message = parseServerFrame(event.data);
      if (message === null) {
        console.warn("Talkbox: ignoring a frame the page does not understand", event.data);
        return;
      }
      this.dispatch({ type: "server-message", message });
    };
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.dispatch({ type: "socket-closed", code: event.code, reason: event.reason });
    };
    // An error is always followed by close, which is what we act on.
    socket.onerror = () => undefined;
  }

  /** Connect again after `delayMs` plus jitter. */
  reconnectLater(delayMs: number): void {
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, jitter(delayMs));
  }

  /** Sends a frame; false when the socket is not open. */
  send(frame: ClientFrame): boolean {
    const socket = this.socket;
    if (socket === null || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(encodeClientFrame(frame));
    return true;
  }
}
