// The websocket to Talkbox: opens /ws with the page's identity (its name in
// the URL, its token in a subprotocol, never in the URL), turns what
// happens on it into Msgs, and sends frames.

import type { InitOptions, Msg } from "./model";
import { nameProblem } from "./names";
import type { ClientFrame } from "./protocol";
import { encodeClientFrame, parseServerFrame } from "./protocol";

/** The page URL's identity parameters: `client_name` (open mode) or `token` (token mode). */
export const IDENTITY_PARAMS = ["token", "client_name"] as const;

/** The websocket subprotocol Talkbox speaks; the server names it back when it accepts. */
export const SOCKET_PROTOCOL = "talkbox";
/** A second offered subprotocol carries the token: headers stay out of access logs, URLs do not. */
export const TOKEN_PROTOCOL_PREFIX = "talkbox.token.";

function param(search: string, name: (typeof IDENTITY_PARAMS)[number]): string | null {
  const value = new URLSearchParams(search).get(name);
  return value === null || value === "" ? null : value;
}

export function hasIdentity(search: string): boolean {
  return IDENTITY_PARAMS.some((name) => param(search, name) !== null);
}

/**
 * How the page starts from its URL: signed in, or at the sign-in form, which
 * shows a `client_name` the server would refuse with what is wrong with it
 * (rather than connecting to be told in the server's words).
 */
export function pageIdentity(search: string): InitOptions {
  if (!hasIdentity(search)) return { identityMissing: true };
  const name = param(search, "client_name");
  if (param(search, "token") !== null || name === null) return { identityMissing: false };
  const problem = nameProblem(name);
  if (problem === null) return { identityMissing: false };
  return { identityMissing: true, signInName: name, signInProblem: problem };
}

/** The page's URL query for signing in as `name`: its other parameters kept, any token dropped. */
export function signInQuery(search: string, name: string): string {
  const params = new URLSearchParams(search);
  params.delete("token");
  params.set("client_name", name);
  return `?${params.toString()}`;
}

/**
 * The page's `client_name` as a query string, `?client_name=…` or "". A name is
 * no secret; the token never goes into a URL the page builds (see socketProtocols).
 */
export function nameQuery(search: string): string {
  const name = param(search, "client_name");
  return name === null ? "" : `?${new URLSearchParams({ client_name: name }).toString()}`;
}

/** `ws(s)://<host>/ws`, with the page's client_name if it has one. */
export function socketUrl(location: Pick<Location, "protocol" | "host" | "search">): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws${nameQuery(location.search)}`;
}

/** The subprotocols to offer: Talkbox's own, and the page's token if it has one. */
export function socketProtocols(search: string): string[] {
  const token = param(search, "token");
  return token === null ? [SOCKET_PROTOCOL] : [SOCKET_PROTOCOL, `${TOKEN_PROTOCOL_PREFIX}${token}`];
}

/** The page's token as an Authorization header for its HTTP requests ({} without one). */
export function identityHeaders(search: string): Record<string, string> {
  const token = param(search, "token");
  return token === null ? {} : { Authorization: `Bearer ${token}` };
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
    private readonly protocols: string[],
    private readonly dispatch: (msg: Msg) => void,
  ) {}

  connect(): void {
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.dispatch({ type: "socket-connecting" });
    const socket = new WebSocket(this.url, this.protocols);
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

  /** Close the socket for good: no reconnecting, nothing more dispatched. */
  close(): void {
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000);
  }

  /** Sends a frame; false when the socket is not open. */
  send(frame: ClientFrame): boolean {
    const socket = this.socket;
    if (socket === null || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(encodeClientFrame(frame));
    return true;
  }
}
