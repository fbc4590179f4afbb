// The server could not save a request yet (its disk is full) and keeps trying.

import { describe, expect, it } from "vitest";
import type { Model } from "../src/model";
import { parseServerFrame } from "../src/protocol";
import { conf, conference, connectedAs, ended, leg, offer, run, server } from "./fixtures";

const retrying = (request: string, message = "") =>
  server({ type: "retrying", conference_id: "c-1", request, message });

/** Alice, in a call with Bob that she placed, her media up. */
function inCall(): Model {
  let model = connectedAs("alice");
  model = run(model, [{ type: "dial-changed", text: "bob" }, { type: "call-clicked" }]).model;
  model = run(model, [
    conf(conference([leg("l-a", "alice", "queued"), leg("l-b", "bob", "queued")])),
    offer("l-a", { autoAnswer: true }),
    { type: "media-answer-ready", legId: "l-a", sdp: "answer" },
    { type: "media-connected", legId: "l-a" },
    conf(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress")])),
  ]).model;
  expect(model.media.phase).toBe("connected");
  return model;
}

describe("retrying", () => {
  it("parses, and refuses a frame without its conference", () => {
    const frame = { type: "retrying", conference_id: "c-1", request: "hang_up", message: "m" };
    expect(parseServerFrame(JSON.stringify(frame))).toEqual(frame);
    expect(parseServerFrame(JSON.stringify({ type: "retrying", request: "hang_up" }))).toBeNull();
  });

  it("a hang-up not saved yet says so and stops my media at once; the end clears it", () => {
    let model = inCall();
    const hangUp = run(model, [{ type: "hang-up-clicked" }]);
    expect(hangUp.effects).toEqual([{ type: "send", frame: { type: "hang_up", conference_id: "c-1" } }]);
    const told = run(hangUp.model, [retrying("hang_up", "Could not hang up yet: Talkbox could not save it. Retrying…")]);
    model = told.model;
    expect(model.notice).toBe("Could not hang up yet: Talkbox could not save it. Retrying…");
    expect(told.effects).toEqual([{ type: "stop-media", legId: "l-a" }]);
    expect(model.media.legId).toBeNull();
    expect(model.conference?.id).toBe("c-1"); // the panel waits for the server to confirm

    // The stalled connection it left behind is not resumed.
    const lost = run(model, [{ type: "media-interrupted", legId: "l-a" }]);
    expect(lost.effects.some((e) => e.type === "send")).toBe(false);

    const done = run(model, [
      conf(ended([leg("l-a", "alice", "completed", "hung-up"), leg("l-b", "bob", "completed", "ended")], "hung-up")),
    ]).model;
    expect(done.conference).toBeNull();
    expect(done.notice).toBeNull();
    expect(done.outcome).not.toBeNull();
  });

  it("words of its own when the server sends none, and other requests keep the media", () => {
    const told = run(inCall(), [retrying("hang_up")]);
    expect(told.model.notice).toBe("Could not hang up yet: Talkbox could not save it. Retrying…");
    const mute = run(inCall(), [retrying("mute")]);
    expect(mute.effects).toEqual([]);
    expect(mute.model.media.phase).toBe("connected");
    expect(mute.model.notice).toContain("Retrying");
    // Saved at last: the conference comes with the change, and the notice goes.
    const saved = run(mute.model, [
      conf(conference([leg("l-a", "alice", "in-progress"), { ...leg("l-b", "bob", "in-progress"), muted: true }])),
    ]).model;
    expect(saved.notice).toBeNull();
    expect(saved.retrying).toBeNull();
  });

  it("a call the server could not save is refused in words", () => {
    let model = connectedAs("alice");
    model = run(model, [{ type: "dial-changed", text: "bob" }, { type: "call-clicked" }]).model;
    model = run(model, [server({ type: "refused", code: "store_unavailable", message: "" })]).model;
    expect(model.placing).toBeNull();
    expect(model.notice).toContain("could not save");
  });
});
