import { describe, expect, it } from "vitest";
import { audioConstraints } from "../src/media";
import type { Msg } from "../src/model";
import { Connection, hasIdentity, identityHeaders, jitter, socketProtocols, socketUrl, urlSince } from "../src/socket";

describe("socketUrl", () => {
  it("passes client_name through on http", () => {
    expect(socketUrl({ protocol: "http:", host: "localhost:8000", search: "?client_name=alice" })).toBe(
      "ws://localhost:8000/ws?client_name=alice",
    );
  });

  it("never puts the token in the URL, on https as wss", () => {
    expect(socketUrl({ protocol: "https:", host: "talk.example", search: "?token=a.b.c&x=1" })).toBe(
      "wss://talk.example/ws",
    );
  });

  it("offers the token as a subprotocol after Talkbox's own", () => {
    expect(socketProtocols("?token=eyJ.eyJ.sig&client_name=mallory")).toEqual(["talkbox", "talkbox.token.eyJ.eyJ.sig"]);
    expect(socketProtocols("?client_name=alice")).toEqual(["talkbox"]);
    expect(socketProtocols("?token=")).toEqual(["talkbox"]);
  });

  it("sends the token to HTTP endpoints as a bearer header", () => {
    expect(identityHeaders("?token=a.b.c")).toEqual({ Authorization: "Bearer a.b.c" });
    expect(identityHeaders("?client_name=alice")).toEqual({});
  });

  it("drops other parameters and has no query without an identity", () => {
    expect(socketUrl({ protocol: "http:", host: "h", search: "?audio_processing=off" })).toBe("ws://h/ws");
  });

  it("knows whether the page has an identity", () => {
    expect(hasIdentity("?client_name=bob")).toBe(true);
    expect(hasIdentity("?token=t")).toBe(true);
    expect(hasIdentity("?client_name=")).toBe(false);
    expect(hasIdentity("")).toBe(false);
  });
});

describe("jitter", () => {
  it("keeps a delay between half and all of itself", () => {
    expect(jitter(1000, () => 0)).toBe(500);
    expect(jitter(1000, () => 0.999)).toBe(1000);
    expect(jitter(10000, () => 0.5)).toBe(7500);
  });
});

describe("audioConstraints", () => {
  it("is true (browser defaults) normally", () => {
    expect(audioConstraints("?client_name=alice")).toBe(true);
  });

  it("turns processing off with audio_processing=off", () => {
    expect(audioConstraints("?client_name=alice&audio_processing=off")).toEqual({
      echoCancellation: false,
      noiseSuppression: false,
      autoGainControl: false,
    });
  });
});

/** A socket the test drives: it records what the Connection opened, and plays the server's side. */
class FakeSocket {
  readyState = 0;
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(readonly url: string) {}
  serverSends(frame: object | string): void {
    this.onmessage?.({ data: typeof frame === "string" ? frame : JSON.stringify(frame) });
  }
  serverCloses(code: number): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: "" });
  }
}

function nth(sockets: FakeSocket[], index: number): FakeSocket {
  const socket = sockets[index];
  if (socket === undefined) throw new Error(`socket ${index} was never opened`);
  return socket;
}

function connectionWithFakes(url: string) {
  const sockets: FakeSocket[] = [];
  const msgs: Msg[] = [];
  const connection = new Connection(
    url,
    ["talkbox"],
    (msg) => msgs.push(msg),
    (opened) => {
      const socket = new FakeSocket(opened);
      sockets.push(socket);
      return socket as unknown as WebSocket;
    },
  );
  return { connection, sockets, msgs };
}

const conferenceFrame = (seq: number) => ({
  seq,
  type: "conference",
  conference: { id: "c-1", chair: "alice", status: "active", end_reason: null, legs: [], transfer: null, recording: null },
});

describe("Connection: catching up after a reconnect", () => {
  it("opens the first socket without since, then asks for what came after the last seq it saw", () => {
    const { connection, sockets } = connectionWithFakes("ws://h/ws?client_name=alice");
    connection.connect();
    expect(nth(sockets, 0).url).toBe("ws://h/ws?client_name=alice");
    nth(sockets, 0).serverSends({ type: "welcome", user: "alice", provider: "builtin", ice_servers: [] });
    nth(sockets, 0).serverSends(conferenceFrame(41));
    nth(sockets, 0).serverSends(conferenceFrame(42));
    nth(sockets, 0).serverCloses(1012);
    connection.connect();
    expect(nth(sockets, 1).url).toBe("ws://h/ws?client_name=alice&since=42");
  });

  it("hands replayed messages on in order, and keeps the seq across a socket that brought nothing", () => {
    const { connection, sockets, msgs } = connectionWithFakes("ws://h/ws");
    connection.connect();
    nth(sockets, 0).serverSends(conferenceFrame(7));
    nth(sockets, 0).serverCloses(1006);
    connection.connect();
    expect(nth(sockets, 1).url).toBe("ws://h/ws?since=7");
    nth(sockets, 1).serverCloses(1006);
    connection.connect();
    expect(nth(sockets, 2).url).toBe("ws://h/ws?since=7");
    nth(sockets, 2).serverSends({ type: "welcome", user: "alice", provider: "builtin", ice_servers: [] });
    nth(sockets, 2).serverSends(conferenceFrame(8));
    nth(sockets, 2).serverSends(conferenceFrame(9));
    const types = msgs.flatMap((msg) => (msg.type === "server-message" ? [msg.message.type] : []));
    expect(types).toEqual(["conference", "welcome", "conference", "conference"]);
    nth(sockets, 2).serverCloses(1006);
    connection.connect();
    expect(nth(sockets, 3).url).toBe("ws://h/ws?since=9");
  });

  it("follows the server's count when it starts again (Redis lost its data), and passes resync on", () => {
    const { connection, sockets, msgs } = connectionWithFakes("ws://h/ws");
    connection.connect();
    nth(sockets, 0).serverSends(conferenceFrame(500));
    nth(sockets, 0).serverCloses(1006);
    connection.connect();
    nth(sockets, 1).serverSends({ type: "resync" });
    nth(sockets, 1).serverSends(conferenceFrame(1));
    nth(sockets, 1).serverCloses(1006);
    connection.connect();
    expect(nth(sockets, 2).url).toBe("ws://h/ws?since=1");
    expect(msgs).toContainEqual({ type: "server-message", message: { type: "resync" } });
  });

  it("ignores a seq that is not a count, and a frame it cannot read", () => {
    const { connection, sockets, msgs } = connectionWithFakes("ws://h/ws");
    connection.connect();
    nth(sockets, 0).serverSends(conferenceFrame(3));
    nth(sockets, 0).serverSends({ ...conferenceFrame(4), seq: "4; drop table" });
    nth(sockets, 0).serverSends({ ...conferenceFrame(5), seq: -1 });
    nth(sockets, 0).serverSends("not json");
    nth(sockets, 0).serverCloses(1006);
    connection.connect();
    expect(nth(sockets, 1).url).toBe("ws://h/ws?since=3");
    expect(msgs.filter((msg) => msg.type === "server-message")).toHaveLength(3);
  });
});

describe("urlSince", () => {
  it("adds since to a URL with or without a query", () => {
    expect(urlSince("ws://h/ws", 5)).toBe("ws://h/ws?since=5");
    expect(urlSince("ws://h/ws?client_name=bob", 0)).toBe("ws://h/ws?client_name=bob&since=0");
    expect(urlSince("ws://h/ws", null)).toBe("ws://h/ws");
  });
});
