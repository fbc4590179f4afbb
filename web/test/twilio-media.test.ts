// TwilioMedia with a fake Device and fake Calls (the SDK itself needs a
// browser and Twilio): the token fetched with the page's identity, the Device
// built and registered, the token refreshed, incoming calls announced and
// accepted, ignored or disconnected.

import { beforeEach, describe, expect, it, vi } from "vitest";
import type { MediaEvent, ProviderEvent } from "../src/media";
import { MediaFailure } from "../src/media";
import type { Fetch, TwilioDeviceOptions } from "../src/twilio-media";
import { TwilioMedia, describeError, failureReason, talkboxLeg, voiceTokenRequest } from "../src/twilio-media";

type Listener = (...args: unknown[]) => void;

class FakeEmitter {
  private readonly listeners = new Map<string, Listener[]>();
  on(event: string, listener: Listener): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return this;
  }
  emit(event: string, ...args: unknown[]): void {
    for (const listener of this.listeners.get(event) ?? []) listener(...args);
  }
}

class FakeCall extends FakeEmitter {
  readonly parameters: Record<string, string>;
  readonly customParameters: Map<string, string>;
  accepted: unknown[] = [];
  ignored = 0;
  disconnected = 0;
  constructor(sid: string, custom: Record<string, string>) {
    super();
    this.parameters = { CallSid: sid };
    this.customParameters = new Map(Object.entries(custom));
  }
  accept(options?: unknown): void {
    this.accepted.push(options);
  }
  ignore(): void {
    this.ignored += 1;
  }
  disconnect(): void {
    this.disconnected += 1;
  }
  digits: string[] = [];
  sendDigits(digits: string): void {
    this.digits.push(digits);
  }
}

class FakeDevice extends FakeEmitter {
  tokens: string[];
  registered = 0;
  incomingSound: boolean | undefined = true;
  readonly audio = {
    incoming: (enable?: boolean): boolean => {
      this.incomingSound = enable;
      return enable ?? true;
    },
  };
  constructor(
    token: string,
    readonly options: TwilioDeviceOptions,
  ) {
    super();
    this.tokens = [token];
  }
  register(): Promise<void> {
    this.registered += 1;
    this.emit("registering");
    return new Promise(() => undefined); // Twilio's signalling is not reachable here
  }
  refreshedAt = 0;
  updateToken(token: string): void {
    this.tokens.push(token);
    this.refreshedAt = Date.now();
  }
}

function legParams(legId: string, autoAnswer: boolean, caller = "alice"): Record<string, string> {
  return { conference_id: "c-1", leg_id: legId, caller, auto_answer: autoAnswer ? "true" : "false" };
}

function setUp(
  responses: Array<{ status: number; body?: unknown }> = [],
  search = "?client_name=alice&audio_processing=off",
  // null: the adapter's own default.
  refreshRetryMs: number | null = 1,
) {
  const requests: Array<{ url: string; init: RequestInit }> = [];
  let served = 0;
  const fetch: Fetch = async (url, init) => {
    requests.push({ url, init });
    served += 1;
    const response = responses[served - 1] ?? {
      status: 200,
      body: { identity: "alice", token: `jwt-${served}`, ttl: 3600 },
    };
    return { ok: response.status < 400, status: response.status, json: async () => response.body };
  };
  const devices: FakeDevice[] = [];
  const media = new TwilioMedia({
    tokenRequest: voiceTokenRequest(search),
    createDevice: (token, options) => {
      const device = new FakeDevice(token, options);
      devices.push(device);
      return device;
    },
    audio: { echoCancellation: false },
    fetch,
    ...(refreshRetryMs === null ? {} : { refreshRetryMs }),
  });
  const events: MediaEvent[] = [];
  const provider: ProviderEvent[] = [];
  media.onEvent((event) => events.push(event));
  media.onProviderEvent((event) => provider.push(event));
  return { media, requests, devices, events, provider };
}

const last = <T>(list: T[]): T | undefined => list[list.length - 1];

// The adapter logs what goes wrong; these tests make it go wrong on purpose.
beforeEach(() => {
  vi.spyOn(console, "warn").mockImplementation(() => undefined);
  return () => vi.restoreAllMocks();
});

const device = (devices: FakeDevice[]): FakeDevice => {
  const first = devices[0];
  if (first === undefined) throw new Error("no Device was built");
  return first;
};

describe("the token and the Device", () => {
  it("the token request carries the page's own identity, nothing else, and a token only in a header", () => {
    expect(voiceTokenRequest("?client_name=alice&audio_processing=off")).toEqual({
      url: "/api/twilio/token?client_name=alice",
      headers: {},
    });
    expect(voiceTokenRequest("?token=abc.def")).toEqual({
      url: "/api/twilio/token",
      headers: { Authorization: "Bearer abc.def" },
    });
    expect(voiceTokenRequest("")).toEqual({ url: "/api/twilio/token", headers: {} });
  });

  it("in token mode sends the page's token in a header and nowhere in the URL", async () => {
    const { media, requests } = setUp([], "?token=abc.def");
    await media.start();
    expect(requests[0]?.url).toBe("/api/twilio/token");
    expect(requests[0]?.init.headers).toEqual({ Accept: "application/json", Authorization: "Bearer abc.def" });
  });

  it("fetches a token, builds the Device with Opus then PCMU and close protection, and registers it", async () => {
    const { media, requests, devices, provider } = setUp();
    await media.start();
    expect(requests).toHaveLength(1);
    expect(requests[0]?.url).toBe("/api/twilio/token?client_name=alice");
    expect(requests[0]?.init.cache).toBe("no-store");
    const built = device(devices);
    expect(built.tokens).toEqual(["jwt-1"]);
    expect(built.options).toEqual({
      codecPreferences: ["opus", "pcmu"],
      closeProtection: true,
      allowIncomingWhileBusy: true,
      tokenRefreshMs: 60_000,
    });
    expect(built.incomingSound).toBe(false); // the page rings itself
    expect(built.registered).toBe(1);
    built.emit("registered");
    expect(provider).toEqual([
      { type: "device", state: "starting", detail: null },
      { type: "device", state: "registering", detail: null },
      { type: "device", state: "registered", detail: null },
    ]);
  });

  it("a second start builds nothing new", async () => {
    const { media, requests, devices } = setUp();
    await Promise.all([media.start(), media.start()]);
    await media.start();
    expect(requests).toHaveLength(1);
    expect(devices).toHaveLength(1);
  });

  it("a refused token is reported, and the next start tries again", async () => {
    const { media, devices, provider } = setUp([{ status: 401, body: { detail: "no" } }]);
    await media.start();
    expect(devices).toHaveLength(0);
    expect(last(provider)).toEqual({
      type: "device",
      state: "failed",
      detail: "no token: /api/twilio/token answered 401",
    });
    await media.start();
    expect(devices).toHaveLength(1);
  });

  it("a Device error (Twilio unreachable) is reported with its code", async () => {
    const { media, devices, provider } = setUp();
    await media.start();
    device(devices).emit("error", { name: "ConnectionError", code: 31005, message: "unreachable" });
    expect(last(provider)).toEqual({ type: "device", state: "failed", detail: "ConnectionError 31005" });
  });

  it("tokenWillExpire asks for a refresh; the refresh fetches a new token for the Device", async () => {
    const { media, requests, devices, provider } = setUp();
    await media.start();
    device(devices).emit("tokenWillExpire");
    expect(last(provider)).toEqual({ type: "token-will-expire" });
    await media.refreshToken();
    expect(requests.map((r) => r.url)).toEqual([
      "/api/twilio/token?client_name=alice",
      "/api/twilio/token?client_name=alice",
    ]);
    expect(device(devices).tokens).toEqual(["jwt-1", "jwt-2"]);
  });

  it("a failed refresh is shown and tried again", async () => {
    vi.useFakeTimers();
    try {
      const { media, devices, provider } = setUp([{ status: 200, body: { token: "jwt-1" } }, { status: 503 }]);
      await media.start();
      await media.refreshToken();
      expect(last(provider)).toMatchObject({ type: "device", detail: "token refresh failed: /api/twilio/token answered 503" });
      await vi.advanceTimersByTimeAsync(10);
      expect(device(devices).tokens).toEqual(["jwt-1", "jwt-3"]);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("the token's refresh window", () => {
  // The SDK emits tokenWillExpire `tokenRefreshMs` before the token expires (its default: 10 s).
  it("the Device warns a minute ahead, and a refresh that keeps failing is retried within that minute", async () => {
    vi.useFakeTimers();
    try {
      const failures = Array.from({ length: 6 }, () => ({ status: 503 }));
      const { media, devices } = setUp([{ status: 200, body: { token: "jwt-1" } }, ...failures], undefined, null);
      await media.start();
      expect(device(devices).options.tokenRefreshMs).toBe(60_000);
      const warned = Date.now();
      await media.refreshToken();
      await vi.advanceTimersByTimeAsync(60_000);
      expect(device(devices).tokens).toEqual(["jwt-1", "jwt-8"]);
      expect(device(devices).refreshedAt - warned).toBeLessThan(60_000);
      await vi.advanceTimersByTimeAsync(600_000);
      expect(device(devices).tokens).toEqual(["jwt-1", "jwt-8"]); // and no more fetches once it worked
    } finally {
      vi.useRealTimers();
    }
  });

  it("tries every 5 s while the old token holds, and no longer", async () => {
    vi.useFakeTimers();
    try {
      const failures = Array.from({ length: 100 }, () => ({ status: 503 }));
      const { media, requests } = setUp([{ status: 200, body: { token: "jwt-1" } }, ...failures], undefined, null);
      await media.start();
      await media.refreshToken();
      await vi.advanceTimersByTimeAsync(600_000);
      const attempts = requests.length - 1;
      expect(attempts).toBeGreaterThanOrEqual(10); // one every 5 s
      expect(attempts).toBeLessThanOrEqual(12);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("incoming Twilio calls", () => {
  it("reads the leg from the custom parameters, or ignores a call Talkbox did not place", () => {
    expect(talkboxLeg(new Map(Object.entries(legParams("l-a", true))))).toEqual({
      conferenceId: "c-1",
      legId: "l-a",
      caller: "alice",
      autoAnswer: true,
    });
    expect(talkboxLeg(new Map([["caller", "alice"]]))).toBeNull();
    expect(talkboxLeg(new Map(Object.entries({ ...legParams("l-a", true), auto_answer: "yes" })))).toBeNull();
  });

  it("announces a Talkbox call with its CallSid; answer accepts it; the SDK's accept means connected", async () => {
    const { media, devices, provider, events } = setUp();
    await media.start();
    const call = new FakeCall("CA1", legParams("l-a", true));
    device(devices).emit("incoming", call);
    expect(last(provider)).toEqual({
      type: "incoming",
      conferenceId: "c-1",
      legId: "l-a",
      caller: "alice",
      autoAnswer: true,
      offer: "CA1",
    });
    await expect(media.answer("l-a", "CA1")).resolves.toBe("");
    expect(call.accepted).toEqual([{ rtcConstraints: { audio: { echoCancellation: false } } }]);
    call.emit("accept", call);
    expect(events).toEqual([{ type: "connected", legId: "l-a" }]);
    call.emit("reconnecting", { code: 53405 });
    call.emit("reconnected");
    expect(events.slice(1)).toEqual([
      { type: "interrupted", legId: "l-a" },
      { type: "connected", legId: "l-a" },
    ]);
    media.hangUp("l-a");
    expect(call.disconnected).toBe(1);
    expect(call.ignored).toBe(0);
  });

  it("keypad digits go into the accepted call as the SDK's sendDigits, and nowhere before it connects", async () => {
    const { media, devices } = setUp();
    await media.start();
    const call = new FakeCall("CA3", legParams("l-c", true));
    device(devices).emit("incoming", call);
    await media.answer("l-c", "CA3");
    media.sendDigits("l-c", "1");
    expect(call.digits).toEqual([]);
    call.emit("accept", call);
    media.sendDigits("l-c", "1");
    media.sendDigits("l-c", "#");
    media.sendDigits("l-unknown", "2");
    expect(call.digits).toEqual(["1", "#"]);
  });

  it("a call without Talkbox's parameters is ignored and not announced", async () => {
    const { media, devices, provider } = setUp();
    await media.start();
    const stranger = new FakeCall("CA9", {});
    device(devices).emit("incoming", stranger);
    expect(stranger.ignored).toBe(1);
    expect(provider.filter((e) => e.type === "incoming")).toEqual([]);
  });

  it("hanging up a call still ringing here ignores it (other pages keep ringing); answering it then fails", async () => {
    const { media, devices } = setUp();
    await media.start();
    const call = new FakeCall("CA2", legParams("l-b", false));
    device(devices).emit("incoming", call);
    media.hangUp("l-b");
    expect(call.ignored).toBe(1);
    expect(call.disconnected).toBe(0);
    await expect(media.answer("l-b", "CA2")).rejects.toBeInstanceOf(MediaFailure);
  });

  it("a microphone error while accepting is a failed leg with reason microphone", async () => {
    const { media, devices, events } = setUp();
    await media.start();
    const call = new FakeCall("CA3", legParams("l-b", false));
    device(devices).emit("incoming", call);
    await media.answer("l-b", "CA3");
    call.emit("error", { name: "PermissionDeniedError", code: 31401 });
    expect(events).toEqual([{ type: "failed", legId: "l-b", reason: "microphone" }]);
    expect(failureReason({ code: 31402 })).toBe("microphone");
    expect(failureReason({ code: 31005 })).toBe("media");
    expect(describeError(new Error("boom"))).toBe("boom");
  });

  it("a call canceled while ringing is forgotten", async () => {
    const { media, devices } = setUp();
    await media.start();
    const call = new FakeCall("CA4", legParams("l-b", false));
    device(devices).emit("incoming", call);
    call.emit("cancel");
    await expect(media.answer("l-b", "CA4")).rejects.toBeInstanceOf(MediaFailure);
  });

  it("start again (a new welcome) announces the calls still ringing here, not the accepted ones", async () => {
    const { media, devices, provider } = setUp();
    await media.start();
    device(devices).emit("incoming", new FakeCall("CA5", legParams("l-b", false)));
    device(devices).emit("incoming", new FakeCall("CA6", legParams("l-c", true)));
    await media.answer("l-c", "CA6");
    provider.length = 0;
    await media.start();
    expect(provider).toEqual([
      { type: "incoming", conferenceId: "c-1", legId: "l-b", caller: "alice", autoAnswer: false, offer: "CA5" },
    ]);
  });
});

describe("call quality from the SDK's own measure", () => {
  const sample = (rtt: number, jitter: number, packetsLostFraction: number, mos: number | null = 4.3) => ({
    rtt,
    jitter,
    packetsLostFraction,
    mos,
    audioInputLevel: 1000,
    bytesReceived: 8000,
  });

  async function connected() {
    const set = setUp();
    await set.media.start();
    const call = new FakeCall("CA1", legParams("l-a", true));
    device(set.devices).emit("incoming", call);
    await set.media.answer("l-a", "CA1");
    return { ...set, call };
  }
  const qualities = (events: MediaEvent[]) => events.flatMap((event) => (event.type === "quality" ? [event] : []));

  it("each sample of the connected call is its quality", async () => {
    const { call, events } = await connected();
    call.emit("sample", sample(20, 2, 0));
    expect(qualities(events)).toEqual([]); // not connected yet
    call.emit("accept", call);
    call.emit("sample", sample(123, 4.5, 0.5, 4.1));
    expect(qualities(events)).toEqual([
      { type: "quality", legId: "l-a", quality: { rttMs: 123, jitterMs: 4.5, lossPercent: 0.5, mos: 4.1, warnings: [] } },
    ]);
  });

  it("the SDK's warnings show until it clears them; its others (audio levels) are not about the network", async () => {
    const { call, events } = await connected();
    call.emit("accept", call);
    call.emit("sample", sample(450, 2, 0));
    call.emit("warning", "high-rtt", { threshold: { name: "max", value: 400 }, values: [450, 460, 470] });
    expect(last(qualities(events))?.quality.warnings).toEqual(["rtt"]);
    call.emit("warning", "constant-audio-input-level", {});
    call.emit("warning", "high-packets-lost-fraction", {});
    call.emit("warning", "low-mos", {});
    call.emit("sample", sample(450, 2, 5, 2.9));
    expect(last(qualities(events))?.quality).toMatchObject({ lossPercent: 5, mos: 2.9, warnings: ["rtt", "loss", "mos"] });
    call.emit("warning-cleared", "high-rtt");
    call.emit("warning-cleared", "low-mos");
    call.emit("warning-cleared", "high-packets-lost-fraction");
    expect(last(qualities(events))?.quality.warnings).toEqual([]);
  });

  it("nothing more once the call is over", async () => {
    const { call, events, media } = await connected();
    call.emit("accept", call);
    media.hangUp("l-a");
    call.emit("sample", sample(20, 2, 0));
    call.emit("warning", "high-jitter", {});
    expect(qualities(events)).toEqual([]);
  });
});
