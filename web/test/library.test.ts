// Recording a call and voicemail on the page: the Record button's frames, what is said when a call starts
// or stops being recorded and when a voicemail arrives, and the list the server sends.

import { describe, expect, it } from "vitest";
import { dialMode } from "../src/call";
import type { Library } from "../src/library";
import { audioIdentity, badgeText, describeRecording, parseLibrary, withIdentity } from "../src/library";
import type { Effect, Model } from "../src/model";
import { callSummary } from "../src/narration";
import { describeOutcome } from "../src/outcome";
import type { Conference } from "../src/protocol";
import { parseServerFrame } from "../src/protocol";
import { aliceInCall, conf, conference, connectedAs, ended, leg, run, server } from "./fixtures";

const recorded = (recording: "call" | "voicemail" | null): Conference => ({
  ...conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress")]),
  recording,
});
const sent = (effects: Effect[]) => effects.flatMap((e) => (e.type === "send" ? [e.frame] : []));

function said(before: Model, after: Model): string | null {
  return after.announcement !== null && after.announcement.id !== before.announcement?.id
    ? after.announcement.text
    : null;
}

const entry = {
  id: "v-00000000000000b2",
  kind: "voicemail",
  caller: "carol",
  others: [],
  started_at: 1_700_000_000,
  seconds: 7.4,
  new: true,
  audio: "/api/recordings/v-00000000000000b2/audio",
};
const listed = (recordings: unknown[], voicemail = true): Library =>
  parseLibrary({ recordings, new_voicemails: 0, voicemail })!;

describe("recording a call", () => {
  it("the chair's Record starts it and, once recorded, stops it", () => {
    const calling = aliceInCall();
    expect(sent(run(calling, [{ type: "record-clicked" }]).effects)).toEqual([
      { type: "record", conference_id: "c-1", on: true },
    ]);
    const recording = run(calling, [conf(recorded("call"))]).model;
    expect(sent(run(recording, [{ type: "record-clicked" }]).effects)).toEqual([
      { type: "record", conference_id: "c-1", on: false },
    ]);
  });

  it("a guest has nothing to record with", () => {
    const bob = run(connectedAs("bob"), [conf(recorded(null))]).model;
    expect(run(bob, [{ type: "record-clicked" }]).effects).toEqual([]);
  });

  it("everyone on it is told when recording starts and stops", () => {
    const calling = aliceInCall();
    const started = run(calling, [conf(recorded("call"))]).model;
    expect(said(calling, started)).toBe("This call is being recorded.");
    const stopped = run(started, [conf(recorded(null))]).model;
    expect(said(started, stopped)).toBe("Recording stopped.");
  });

  it("a conference frame says what is recorded; anything else there is refused", () => {
    const frame = { type: "conference", conference: { ...recorded("call") } };
    expect(parseServerFrame(JSON.stringify(frame))).toEqual(frame);
    const bad = { type: "conference", conference: { ...recorded(null), recording: "everything" } };
    expect(parseServerFrame(JSON.stringify(bad))).toBeNull();
  });
});

describe("leaving a voicemail", () => {
  const leaving: Conference = {
    ...conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "busy", "rejected")]),
    recording: "voicemail",
  };

  it("the caller is told to speak after the tone, and cannot add anyone meanwhile", () => {
    const ringing = run(aliceInCall(), [
      conf(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "ringing")])),
    ]).model;
    const after = run(ringing, [conf(leaving)]).model;
    expect(callSummary(after)).toBe("Leaving a message for bob");
    expect(said(ringing, after)).toBe(
      "Leaving a message for bob. Speak after the tone; hang up when you are done.",
    );
    expect(dialMode(after)).toBe("hidden");
    expect(sent(run(after, [{ type: "record-clicked" }]).effects)).toEqual([]);
  });

  it("the call ends saying the message was left", () => {
    const done = ended([leg("l-a", "alice", "completed", "hung-up"), leg("l-b", "bob", "busy", "rejected")], "voicemail");
    expect(describeOutcome(done, "alice")).toBe("Your message for bob was left");
    const full = ended(
      [leg("l-a", "alice", "completed", "voicemail-full"), leg("l-b", "bob", "busy", "rejected")],
      "voicemail",
    );
    expect(describeOutcome(full, "alice")).toBe("Your message for bob was left (it reached the longest a message can be)");
  });
});

describe("the voicemail and recordings list", () => {
  it("a change on the server fetches the list again, and a new voicemail in it is announced", () => {
    const bob = run(connectedAs("bob"), [{ type: "library-loaded", library: listed([]) }]).model;
    const note = parseServerFrame(JSON.stringify({ type: "recordings_changed", kind: "voicemail", caller: "carol" }));
    expect(note).toEqual({ type: "recordings_changed", kind: "voicemail", caller: "carol" });
    expect(run(bob, [server(note!)]).effects).toEqual([{ type: "fetch-library" }]);
    const after = run(bob, [{ type: "library-loaded", library: listed([entry]) }]).model;
    expect(said(bob, after)).toBe("New voicemail from carol.");
    expect(badgeText(after.library)).toBe("1 new voicemail");
  });

  it("what is already there when the page opens is not announced", () => {
    const bob = connectedAs("bob");
    const after = run(bob, [{ type: "library-loaded", library: listed([entry]) }]).model;
    expect(said(bob, after)).toBeNull();
  });

  it("playing a new voicemail marks it heard; deleting and the setting go to the server", () => {
    const bob = run(connectedAs("bob"), [{ type: "library-loaded", library: listed([entry]) }]).model;
    expect(run(bob, [{ type: "recording-played", id: entry.id }]).effects).toEqual([
      { type: "mark-heard", id: entry.id },
    ]);
    const heard = run(bob, [{ type: "library-loaded", library: listed([{ ...entry, new: false }]) }]).model;
    expect(run(heard, [{ type: "recording-played", id: entry.id }]).effects).toEqual([]);
    expect(run(bob, [{ type: "recording-delete-clicked", id: entry.id }]).effects).toEqual([
      { type: "delete-recording", id: entry.id },
    ]);
    const off = run(bob, [{ type: "voicemail-toggled", on: false }]);
    expect(off.effects).toEqual([{ type: "set-voicemail", on: false }]);
    expect(off.model.library?.voicemail).toBe(false); // the box stays as ticked while the server is asked
  });

  it("an entry that plays from elsewhere, or is malformed, is left out", () => {
    const library = listed([
      entry,
      { ...entry, id: "v-00000000000000b3", audio: "https://evil.example/x.ogg" },
      { ...entry, id: "../../etc" },
      "nonsense",
    ]);
    expect(library.recordings.map((r) => r.id)).toEqual([entry.id]);
    expect(parseLibrary({ recordings: "no" })).toBeNull();
  });

  it("a server without voicemail: its switch is not offered, and voicemail reads as off", () => {
    const off = parseLibrary({ recordings: [], new_voicemails: 0, voicemail: true, voicemail_available: false })!;
    expect([off.voicemail, off.voicemailAvailable]).toEqual([false, false]);
    const on = parseLibrary({ recordings: [], new_voicemails: 0, voicemail: true, voicemail_available: true })!;
    expect([on.voicemail, on.voicemailAvailable]).toEqual([true, true]);
    expect(listed([]).voicemailAvailable).toBe(true); // a server from before the field has voicemail
  });

  it("the file's address says who asks, as the page itself was opened", () => {
    expect(audioIdentity("?client_name=bob")).toBe("?client_name=bob");
    expect(audioIdentity("?token=abc.def&client_name=x")).toBe("?token=abc.def");
    expect(withIdentity(listed([entry]), "?client_name=bob").recordings[0]?.audio).toBe(`${entry.audio}?client_name=bob`);
  });

  it("each entry in words, for its row and the names of its buttons", () => {
    const at = () => "today";
    const [message] = listed([entry]).recordings;
    expect(describeRecording(message!, at)).toBe("Voicemail from carol, today, 7 s");
    const [call] = listed([{ ...entry, id: "r-00000000000000a1", kind: "call", caller: "alice", others: ["alice", "carol"] }])
      .recordings;
    expect(describeRecording(call!, at)).toBe("Call recording with alice, carol, today, 7 s");
  });
});
