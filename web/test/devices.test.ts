// Devices in the update: choosing (remembered), the meter with the panel,
// a device that goes away mid-call, and a microphone that cannot be had.

import { describe, expect, it } from "vitest";
import { MICROPHONE_HELP, microphoneProblem, pickerOptions } from "../src/devices";
import type { Msg } from "../src/model";
import { initialModel } from "../src/model";
import { update } from "../src/update";
import { aliceInCall, conf, conference, connectedAs, leg, offer, run } from "./fixtures";

const mics = [
  { id: "default", label: "Default - Headset" },
  { id: "mic-headset", label: "Headset" },
  { id: "mic-built-in", label: "Built-in" },
];
const speakers = [{ id: "spk-headset", label: "Headset" }];
const listed = (microphones = mics, outputs = speakers): Msg => ({
  type: "devices-listed",
  microphones,
  speakers: outputs,
});
const DEFAULTS = { microphone: "", speaker: "", ringer: "" };

describe("choosing devices", () => {
  it("a choice is used at once and remembered", () => {
    const model = run(connectedAs("alice"), [listed()]).model;
    const [next, effects] = update(model, { type: "device-chosen", kind: "microphone", id: "mic-headset" });
    expect(next.devices.chosen.microphone).toBe("mic-headset");
    expect(effects).toEqual([
      { type: "use-devices", chosen: { microphone: "mic-headset", speaker: "", ringer: "" }, remember: true },
    ]);
  });

  it("the remembered choice is where the page starts", () => {
    const chosen = { microphone: "mic-headset", speaker: "spk-headset", ringer: "" };
    expect(initialModel({ devices: chosen }).devices.chosen).toEqual(chosen);
  });

  it("the pickers offer each device once, the browser's 'default' entry being the Default option", () => {
    expect(pickerOptions(mics, "Microphone")).toEqual([
      { id: "mic-headset", label: "Headset" },
      { id: "mic-built-in", label: "Built-in" },
    ]);
    expect(pickerOptions([{ id: "x", label: "" }], "Microphone")).toEqual([{ id: "x", label: "Microphone 1" }]);
  });
});

describe("the level meter", () => {
  it("runs while the Devices panel is open, on the chosen microphone", () => {
    const chosen = run(connectedAs("alice"), [{ type: "device-chosen", kind: "microphone", id: "mic-headset" }]).model;
    const [open, effects] = update(chosen, { type: "devices-toggled", open: true });
    expect(effects).toEqual([{ type: "start-level-meter", microphone: "mic-headset" }]);
    const [heard] = update(open, { type: "microphone-level", level: 0.6 });
    expect(heard.devices.level).toBe(0.6);
    const [closed, closing] = update(heard, { type: "devices-toggled", open: false });
    expect(closing).toEqual([{ type: "stop-level-meter" }]);
    expect(closed.devices.level).toBe(0);
  });

  it("follows a microphone chosen while it runs", () => {
    const open = run(connectedAs("alice"), [{ type: "devices-toggled", open: true }]).model;
    const [, effects] = update(open, { type: "device-chosen", kind: "microphone", id: "mic-built-in" });
    expect(effects).toContainEqual({ type: "start-level-meter", microphone: "mic-built-in" });
  });

  it("a level after the panel closed (a late sample) is ignored", () => {
    const model = connectedAs("alice");
    expect(update(model, { type: "microphone-level", level: 0.9 })[0]).toBe(model);
  });
});

describe("a device that goes away", () => {
  it("an unplugged headset mid-call: the default takes over (not remembered), the call goes on, it is said", () => {
    const chosen = run(connectedAs("alice"), [
      listed(),
      { type: "device-chosen", kind: "microphone", id: "mic-headset" },
      { type: "device-chosen", kind: "speaker", id: "spk-headset" },
    ]).model;
    const call = aliceInCall(chosen);
    const unplugged = listed([mics[0]!, mics[2]!], []);
    const [next, effects] = update(call, unplugged);
    expect(next.devices.chosen).toEqual(DEFAULTS);
    expect(effects).toEqual([{ type: "use-devices", chosen: DEFAULTS, remember: false }]);
    expect(next.notice).toBe("The microphone and the speaker went away (unplugged?): using the default instead");
    expect(next.media.phase).toBe("connected");
    expect(next.conference).not.toBeNull();
  });

  it("devices listed before the microphone is allowed (no ids) lose no choice", () => {
    const chosen = run(connectedAs("alice"), [{ type: "device-chosen", kind: "microphone", id: "mic-headset" }]).model;
    const [next, effects] = update(chosen, listed([{ id: "", label: "" }], [{ id: "", label: "" }]));
    expect(next.devices.chosen.microphone).toBe("mic-headset");
    expect(effects).toEqual([]);
  });

  it("the call's microphone track ending falls back to the default microphone", () => {
    const headset = run(connectedAs("alice"), [{ type: "device-chosen", kind: "microphone", id: "mic-headset" }]);
    const call = aliceInCall(headset.model);
    const [next, effects] = update(call, { type: "microphone-ended", legId: "l-a" });
    expect(next.devices.chosen.microphone).toBe("");
    expect(effects).toEqual([{ type: "use-devices", chosen: DEFAULTS, remember: false }]);
    expect(next.notice).toContain("The microphone went away");
    expect(next.media.phase).toBe("connected");
  });
});

describe("a microphone that cannot be had", () => {
  it("is classified from the browser's error", () => {
    expect(microphoneProblem("NotAllowedError")).toBe("denied");
    expect(microphoneProblem("NotFoundError")).toBe("missing");
    expect(microphoneProblem("NotReadableError")).toBe("busy");
    expect(microphoneProblem("TypeError")).toBe("other");
  });

  it("denied on a call: the notice says what failed and the help what to do", () => {
    const placing = run(connectedAs("alice"), [
      { type: "dial-changed", text: "bob" },
      { type: "call-clicked" },
      conf(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "ringing")])),
      offer("l-a", { autoAnswer: true }),
    ]).model;
    const [next] = update(placing, { type: "media-failed", legId: "l-a", reason: "microphone", problem: "denied" });
    expect(next.notice).toBe("Could not open the microphone");
    expect(next.microphoneHelp).toBe(MICROPHONE_HELP.denied);
    expect(next.microphoneHelp).toContain("Allow it for this site");
    expect(next.announcement?.text).toContain("Allow it for this site");
  });

  it("missing, found by the meter: says to plug one in; a level later clears it", () => {
    const open = run(connectedAs("alice"), [{ type: "devices-toggled", open: true }]).model;
    const [missing] = update(open, { type: "microphone-unavailable", problem: "missing" });
    expect(missing.microphoneHelp).toContain("Plug one in");
    const [working] = update(missing, { type: "microphone-level", level: 0.3 });
    expect(working.microphoneHelp).toBeNull();
  });
});

describe("the speaker test", () => {
  it("plays on the chosen speaker", () => {
    const model = run(connectedAs("alice"), [{ type: "device-chosen", kind: "speaker", id: "spk-headset" }]).model;
    const [, effects] = update(model, { type: "speaker-test-clicked" });
    expect(effects).toEqual([{ type: "play-test-tone", speaker: "spk-headset" }]);
  });
});
