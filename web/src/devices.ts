// Which microphone, speaker and ringing device the page uses: the lists the
// browser offers, the person's choice (remembered in localStorage by the
// runtime), and what to say when a microphone cannot be had. Pure.

export type DeviceKind = "microphone" | "speaker" | "ringer";

export interface DeviceOption {
  id: string;
  label: string;
}

/** "" is the browser's default device. */
export type DeviceChoice = Record<DeviceKind, string>;

export const DEFAULT_CHOICE: DeviceChoice = { microphone: "", speaker: "", ringer: "" };

export interface DevicesState {
  microphones: DeviceOption[];
  speakers: DeviceOption[];
  chosen: DeviceChoice;
  /** Whether the browser lets a page choose where audio plays (setSinkId). */
  canChooseSpeaker: boolean;
  /** The Devices panel is open: the level meter runs. */
  open: boolean;
  /** The microphone's level, 0 to 1, while the panel is open. */
  level: number;
}

export function initialDevices(chosen: DeviceChoice = DEFAULT_CHOICE, canChooseSpeaker = false): DevicesState {
  return { microphones: [], speakers: [], chosen, canChooseSpeaker, open: false, level: 0 };
}

/** Why getUserMedia gave no microphone, from the DOMException's name. */
export type MicrophoneProblem = "denied" | "missing" | "busy" | "other";

export function microphoneProblem(errorName: string): MicrophoneProblem {
  if (errorName === "NotAllowedError" || errorName === "SecurityError") return "denied";
  if (errorName === "NotFoundError" || errorName === "OverconstrainedError") return "missing";
  if (errorName === "NotReadableError" || errorName === "AbortError") return "busy";
  return "other";
}

/** What happened, and what to do about it. */
export const MICROPHONE_HELP: Record<MicrophoneProblem, string> = {
  denied:
    "The browser blocked the microphone. Allow it for this site (the icon at the left of the address bar), " +
    "then reload the page.",
  missing: "No microphone was found. Plug one in, or choose another under Devices.",
  busy: "The microphone is in use by another program, or stopped working. Close that program, or choose another.",
  other: "Could not open the microphone.",
};

/** The choices whose device is gone from the lists (unplugged), each put back to the default. */
export function withoutMissing(state: DevicesState): { chosen: DeviceChoice; lost: DeviceKind[] } {
  // Before the microphone is allowed, the browser lists devices without ids: nothing can be told gone.
  const present = (list: DeviceOption[], id: string): boolean =>
    id === "" || list.some((d) => d.id === id || d.id === "");
  const lost: DeviceKind[] = [];
  const chosen = { ...state.chosen };
  if (!present(state.microphones, chosen.microphone)) lost.push("microphone");
  if (!present(state.speakers, chosen.speaker)) lost.push("speaker");
  if (!present(state.speakers, chosen.ringer)) lost.push("ringer");
  for (const kind of lost) chosen[kind] = "";
  return { chosen, lost };
}

const KIND_WORDS: Record<DeviceKind, string> = {
  microphone: "microphone",
  speaker: "speaker",
  ringer: "ringing device",
};

/** Says which devices went and what is used instead. */
export function lostDevicesText(lost: DeviceKind[]): string {
  if (lost.length === 0) return "";
  const what = lost.map((kind) => `the ${KIND_WORDS[kind]}`).join(" and ");
  return `${what.charAt(0).toUpperCase()}${what.slice(1)} went away (unplugged?): using the default instead`;
}

/**
 * The options a picker offers after its "Default" one: the browser's own
 * "default" and "communications" entries are that same device again, and an
 * unnamed one (before the microphone is allowed) gets a number.
 */
export function pickerOptions(list: DeviceOption[], noun: string): DeviceOption[] {
  const real = list.filter((d) => d.id !== "" && d.id !== "default" && d.id !== "communications");
  return real.map((d, i) => ({ id: d.id, label: d.label || `${noun} ${i + 1}` }));
}
