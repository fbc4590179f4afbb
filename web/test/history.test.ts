import { describe, expect, it } from "vitest";
import { callBackTo, callLine, duration, missedBadge } from "../src/history";
import type { CallEntry } from "../src/protocol";
import { parseServerFrame } from "../src/protocol";
import { aliceInCall, conf, connectedAs, ended, leg, run, server } from "./fixtures";

function entry(overrides: Partial<CallEntry> = {}): CallEntry {
  return {
    conference_id: "c-1",
    direction: "incoming",
    peers: ["alice"],
    started_at: 1000,
    answered_at: 1005,
    ended_at: 1130,
    outcome: "answered",
    end_reason: "hung-up",
    ...overrides,
  };
}

const page = (calls: CallEntry[], before: number | null = null) => server({ type: "history", calls, before });
const sends = (effects: { type: string }[]) => effects.filter((e) => e.type === "send");

describe("history", () => {
  it("opening it asks for the newest calls and marks them seen; the badge goes", () => {
    const start = run(connectedAs("bob"), [server({ type: "missed", count: 2 })]).model;
    expect(missedBadge(start.history.missed)).toBe("2 missed calls");
    const { model, effects } = run(start, [{ type: "history-toggled", open: true }]);
    expect(sends(effects)).toEqual([
      { type: "send", frame: { type: "history", limit: 20 } },
      { type: "send", frame: { type: "history_seen" } },
    ]);
    expect(model.history.loading).toBe("first");
    expect(model.history.missed).toBe(0);
  });

  it("a page replaces the list; Show older calls adds the next one", () => {
    const first = run(connectedAs("bob"), [
      { type: "history-toggled", open: true },
      page([entry({ conference_id: "c-3" }), entry({ conference_id: "c-2", started_at: 900 })], 900),
    ]).model;
    expect(first.history.calls.map((c) => c.conference_id)).toEqual(["c-3", "c-2"]);
    const more = run(first, [{ type: "history-more-clicked" }]);
    expect(sends(more.effects)).toEqual([{ type: "send", frame: { type: "history", before: 900, limit: 20 } }]);
    const both = run(more.model, [page([entry({ conference_id: "c-1", started_at: 800 })])]).model;
    expect(both.history.calls.map((c) => c.conference_id)).toEqual(["c-3", "c-2", "c-1"]);
    expect(both.history.before).toBeNull();
    expect(sends(run(both, [{ type: "history-more-clicked" }]).effects)).toEqual([]);
  });

  it("a missed call while it is open is fetched; while closed it only counts", () => {
    const closed = run(connectedAs("bob"), [server({ type: "missed", count: 1 })]);
    expect(sends(closed.effects)).toEqual([]);
    expect(closed.model.history.missed).toBe(1);
    const open = run(connectedAs("bob"), [{ type: "history-toggled", open: true }, server({ type: "missed", count: 1 })]);
    expect(sends(open.effects).length).toBe(4);
    expect(open.model.history.missed).toBe(0);
  });

  it("a call of mine ending while it is open is fetched", () => {
    const open = run(aliceInCall(), [{ type: "history-toggled", open: true }]).model;
    const { effects } = run(open, [
      conf(ended([leg("l-a", "alice", "completed", "hung-up"), leg("l-b", "bob", "completed", "ended")], "hung-up")),
    ]);
    expect(sends(effects)).toContainEqual({ type: "send", frame: { type: "history", limit: 20 } });
  });

  it("Call back calls whom the call was with", () => {
    expect(callBackTo(entry({ direction: "outgoing", peers: ["bob", "carol"] }))).toBe("bob");
    const { effects } = run(connectedAs("bob"), [{ type: "person-clicked", name: "alice" }]);
    expect(sends(effects)).toEqual([{ type: "send", frame: { type: "call", to: "alice" } }]);
  });

  it("says each call in people's words", () => {
    expect(callLine(entry())).toBe("Call from alice, 2:05 (you hung up)");
    expect(callLine(entry({ direction: "outgoing", peers: ["bob"], end_reason: "ended" }))).toBe(
      "Call to bob, 2:05 (bob hung up)",
    );
    expect(callLine(entry({ outcome: "missed", answered_at: null, end_reason: "timeout" }))).toBe(
      "Missed call from alice",
    );
    expect(callLine(entry({ outcome: "missed", answered_at: null, end_reason: "in-another-call" }))).toBe(
      "Missed call from alice (you were on another call)",
    );
    expect(callLine(entry({ outcome: "rejected", answered_at: null }))).toBe("You declined a call from alice");
    expect(callLine(entry({ outcome: "missed", answered_at: null, end_reason: "dnd" }))).toBe(
      "Missed call from alice (do not disturb was on)",
    );
    expect(callLine(entry({ direction: "outgoing", peers: ["bob"], outcome: "busy", end_reason: "dnd" }))).toBe(
      "bob did not want to be disturbed",
    );
    expect(callLine(entry({ direction: "outgoing", peers: ["bob"], outcome: "rejected" }))).toBe("bob declined");
    expect(callLine(entry({ direction: "outgoing", peers: ["bob"], outcome: "unanswered" }))).toBe(
      "bob did not answer",
    );
    expect(callLine(entry({ outcome: null, ended_at: null }))).toBe("Call from alice, going on");
    expect(duration(3723)).toBe("1:02:03");
    expect(missedBadge(1)).toBe("1 missed call");
    expect(missedBadge(0)).toBe("");
  });

  it("parses history and missed frames and refuses malformed ones", () => {
    const good = { type: "history", calls: [entry()], before: 1000 };
    expect(parseServerFrame(good)).toEqual(good);
    expect(parseServerFrame({ ...good, calls: [{ ...entry(), outcome: "lost" }] })).toBeNull();
    expect(parseServerFrame({ ...good, before: "soon" })).toBeNull();
    expect(parseServerFrame({ type: "missed", count: 3 })).toEqual({ type: "missed", count: 3 });
    expect(parseServerFrame({ type: "missed", count: -1 })).toBeNull();
  });
});
