// The websocket to Talkbox: opens /ws with the page's identity (its name in
// the URL, its token in a subprotocol, never in the URL), turns what
// happens on it into Msgs, and sends frames.

import type { InitOptions, Msg } from "./model";
import { nameProblem } from "./names";
import type { ClientFrame } from "./protocol";
import { encodeClientFrame, frameSequence, parseServerFrame } from "./protocol";

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

/**
 * The socket URL for one attempt: with `since=N` once the page has seen the
 * message numbered N, so the server (with several nodes) replays what came after.
 */
export function urlSince(url: string, since: number | null): string {
  if (since === null) return url;
  return `${url}${url.includes("?") ? "&" : "?"}since=${since}`;
}

/** Opens a websocket; the page's is the browser's, a test's is its own. */
export type SocketOpener = (url: string, protocols: string[]) => WebSocket;

const OPEN = 1; // WebSocket.OPEN, without needing the global

export class Connection {
  private socket: WebSocket | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  /** The `seq` of the last message this page was sent, on any socket: what it asks to replay from. */
  private lastSeq: number | null = null;

  constructor(
    private readonly url: string,
    private readonly protocols: string[],
    private readonly dispatch: (msg: Msg) => void,
    private readonly open: SocketOpener = (url, protocols) => new WebSocket(url, protocols),
  ) {}

  connect(): void {
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.dispatch({ type: "socket-connecting" });
    const socket = this.open(urlSince(this.url, this.lastSeq), this.protocols);
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket === socket) this.dispatch({ type: "socket-opened" });
    };
    socket.onmessage = (event: MessageEvent) => {
      if (this.socket !== socket) return;
      this.received(event.data);
    };
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.dispatch({ type: "socket-closed", code: event.code, reason: event.reason });
    };
    // An error is always followed by close, which is what we act on.
    socket.onerror = () => undefined;
  }

  private received(text: unknown): void {
    let data: unknown;
    try {
      data = typeof text === "string" ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    const message = parseServerFrame(data);
    if (message === null) {
      // Its type only: an offer's frame carries SDP, which has no place in a log.
      const kind = typeof data === "object" && data !== null ? (data as { type?: unknown }).type : undefined;
      console.warn("Talkbox: ignoring a frame the page does not understand, of type", String(kind));
      return;
    }
    // The last one, not the highest: after Redis lost its data the count starts again, and so must the page.
    const seq = frameSequence(data);
    if (seq !== null) this.lastSeq = seq;
    this.dispatch({ type: "server-message", message });
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
    if (socket === null || socket.readyState !== OPEN) return false;
    socket.send(encodeClientFrame(frame));
    return true;
  }
}
