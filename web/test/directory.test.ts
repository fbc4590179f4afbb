import { describe, expect, it } from "vitest";
import { doNotDisturb, emptyDirectoryText, listed } from "../src/directory";
import { parseServerFrame } from "../src/protocol";
import type { PersonStatus } from "../src/protocol";
import { aliceInCall, connectedAs, run, server } from "./fixtures";

const presence = (people: PersonStatus[], complete = false) => server({ type: "presence", people, complete });

describe("directory", () => {
  it("welcome asks for the directory", () => {
    const { effects } = run(connectedAs("bob"), [server({ type: "welcome", user: "bob", provider: "builtin", ice_servers: [] })]);
    expect(effects).toContainEqual({ type: "send", frame: { type: "directory" } });
  });

  it("a snapshot replaces the list and a change updates one person; I am not listed", () => {
    const { model } = run(connectedAs("bob"), [
      presence(
        [
          { name: "bob", status: "online" },
          { name: "carol", status: "offline" },
          { name: "dave", status: "online" },
        ],
        true,
      ),
      presence([{ name: "alice", status: "in_call" }]),
      presence([{ name: "dave", status: "dnd" }]),
    ]);
    expect(listed(model.directory, "bob").map((p) => [p.name, p.words])).toEqual([
      ["alice", "in a call"],
      ["dave", "do not disturb"],
      ["carol", "offline"],
    ]);
    const again = run(model, [presence([{ name: "erin", status: "online" }], true)]).model;
    expect(listed(again.directory, "bob").map((p) => p.name)).toEqual(["erin"]);
  });

  it("the search box filters by any part of the name, in any case", () => {
    const { model } = run(connectedAs("bob"), [
      presence(
        [
          { name: "Alice", status: "online" },
          { name: "malcolm", status: "online" },
          { name: "carol", status: "online" },
        ],
        true,
      ),
      { type: "directory-filter-changed", text: " AL " },
    ]);
    expect(listed(model.directory, "bob").map((p) => p.name)).toEqual(["Alice", "malcolm"]);
    const none = run(model, [{ type: "directory-filter-changed", text: "zed" }]).model;
    expect(emptyDirectoryText(none.directory, "bob")).toBe("Nobody matches “zed”");
    expect(emptyDirectoryText(connectedAs("bob").directory, "bob")).toBe("Nobody else is here yet");
  });

  it("clicking a name calls them; on my own call it adds them", () => {
    const idle = run(connectedAs("bob"), [{ type: "person-clicked", name: "alice" }]);
    expect(idle.effects).toEqual([{ type: "send", frame: { type: "call", to: "alice" } }]);
    expect(idle.model.placing).toBe("alice");
    const chairing = run(aliceInCall(), [{ type: "person-clicked", name: "carol" }]);
    expect(chairing.effects).toEqual([{ type: "send", frame: { type: "add", conference_id: "c-1", to: "carol" } }]);
  });

  it("do not disturb is asked for, shown at once, and settled by the server's word", () => {
    const asked = run(connectedAs("bob"), [{ type: "dnd-toggled", on: true }]);
    expect(asked.effects).toEqual([{ type: "send", frame: { type: "set_presence", status: "dnd" } }]);
    expect(doNotDisturb(asked.model.directory, "bob")).toBe(true);
    const confirmed = run(asked.model, [presence([{ name: "bob", status: "dnd" }])]).model;
    expect(confirmed.directory.asked).toBeNull();
    expect(doNotDisturb(confirmed.directory, "bob")).toBe(true);
    // Turned off in another tab: this one follows.
    const elsewhere = run(confirmed, [presence([{ name: "bob", status: "online" }])]).model;
    expect(doNotDisturb(elsewhere.directory, "bob")).toBe(false);
  });

  it("a change about me sent before my do-not-disturb arrived does not flip the switch back", () => {
    const asked = run(connectedAs("bob"), [{ type: "dnd-toggled", on: true }]).model;
    // bob's call had just ended: the server said so before it read his asking.
    const stale = run(asked, [presence([{ name: "bob", status: "online" }])]).model;
    expect(doNotDisturb(stale.directory, "bob")).toBe(true);
    const confirmed = run(stale, [presence([{ name: "bob", status: "dnd" }])]).model;
    expect(confirmed.directory.asked).toBeNull();
    expect(doNotDisturb(confirmed.directory, "bob")).toBe(true);
  });

  it("a whole list from a socket opened again settles what I asked on the last one", () => {
    const asked = run(connectedAs("bob"), [{ type: "dnd-toggled", on: true }]).model;
    const snapshot = run(asked, [presence([{ name: "bob", status: "online" }], true)]).model;
    expect(doNotDisturb(snapshot.directory, "bob")).toBe(false);
  });

  it("do not disturb is not sent while Talkbox cannot be reached", () => {
    const { model, effects } = run(connectedAs("bob"), [
      { type: "socket-closed", code: 1006, reason: "" },
      { type: "dnd-toggled", on: true },
    ]);
    expect(effects.filter((e) => e.type === "send")).toEqual([]);
    expect(model.notice).not.toBeNull();
  });

  it("a call refused as do not disturb says so", () => {
    const { model } = run(connectedAs("alice"), [
      { type: "person-clicked", name: "bob" },
      server({ type: "refused", code: "dnd", message: "bob does not want to be disturbed" }),
    ]);
    expect(model.notice).toBe("bob does not want to be disturbed");
    expect(model.placing).toBeNull();
  });

  it("parses presence frames and refuses malformed ones", () => {
    const good = { type: "presence", people: [{ name: "a", status: "dnd" }], complete: true };
    expect(parseServerFrame(JSON.stringify(good))).toEqual(good);
    expect(parseServerFrame({ ...good, people: [{ name: "a", status: "away" }] })).toBeNull();
    expect(parseServerFrame({ ...good, complete: "yes" })).toBeNull();
  });
});
