import { describe, expect, it } from "vitest";
import { audioConstraints } from "../src/media";
import { hasIdentity, identityHeaders, jitter, socketProtocols, socketUrl } from "../src/socket";

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
