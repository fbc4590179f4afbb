import { describe, expect, it } from "vitest";
import type { Model } from "../src/model";
import { notificationsOffered } from "../src/model";
import { RINGTONE_BLOCKED } from "../src/narration";
import { conf, connectedAs, ended, leg, offer, run } from "./fixtures";

const withNotifications = (model: Model, notifications: Model["notifications"]): Model => ({ ...model, notifications });

describe("a call in a background tab", () => {
  it("a ringing call gets a desktop notification, closed when it stops ringing", () => {
    const bob = withNotifications(connectedAs("bob"), "granted");
    const ringing = run(bob, [offer("l-b")]);
    expect(ringing.effects).toContainEqual({ type: "notify-call", tag: "l-b", caller: "alice" });
    const missed = run(ringing.model, [
      conf(ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "no-answer", "timeout")], "no-answer")),
    ]);
    expect(missed.effects).toContainEqual({ type: "close-notification", tag: "l-b" });
  });

  it("no notification without the permission", () => {
    const { effects } = run(withNotifications(connectedAs("bob"), "denied"), [offer("l-b")]);
    expect(effects.some((e) => e.type === "notify-call")).toBe(false);
  });

  it("answering from the notification brings focus to Accept; Accept closes it", () => {
    const ringing = run(withNotifications(connectedAs("bob"), "granted"), [offer("l-b")]).model;
    const clicked = run(ringing, [{ type: "notification-clicked" }]).model;
    expect(clicked.focus?.target).toBe("accept");
    const accepted = run(clicked, [{ type: "accept-clicked" }]);
    expect(accepted.effects).toContainEqual({ type: "close-notification", tag: "l-b" });
  });

  it("notifications are offered only after a call, asked for on request, and Not now is kept", () => {
    const fresh = withNotifications(connectedAs("bob"), "default");
    expect(notificationsOffered(fresh)).toBe(false); // not on load
    const afterCall = run(fresh, [
      offer("l-b"),
      conf(ended([leg("l-a", "alice", "completed", "ended"), leg("l-b", "bob", "no-answer", "timeout")], "no-answer")),
    ]).model;
    expect(notificationsOffered(afterCall)).toBe(true);
    const asked = run(afterCall, [{ type: "notifications-asked" }]);
    expect(asked.effects).toEqual([{ type: "ask-notifications" }]);
    const granted = run(asked.model, [{ type: "notifications-answered", permission: "granted" }]).model;
    expect(notificationsOffered(granted)).toBe(false);
    const notNow = run(afterCall, [{ type: "notifications-dismissed" }]);
    expect(notNow.effects).toEqual([{ type: "remember-notifications-dismissed" }]);
    expect(notificationsOffered(notNow.model)).toBe(false);
    expect(run(notNow.model, [{ type: "notifications-asked" }]).effects).toEqual([]);
  });
});

describe("the ringtone and the autoplay policy", () => {
  it("blocked sound is said, with a button; the press lets it out", () => {
    const ringing = run(connectedAs("bob"), [offer("l-b"), { type: "ringtone-blocked" }]);
    expect(ringing.model.ringtoneBlocked).toBe(true);
    expect(ringing.model.announcement?.text).toContain(RINGTONE_BLOCKED);
    const pressed = run(ringing.model, [{ type: "ringtone-allowed-clicked" }]);
    expect(pressed.effects).toEqual([{ type: "allow-ringtone" }]);
    expect(run(pressed.model, [{ type: "ringtone-audible" }]).model.ringtoneBlocked).toBe(false);
  });

  it("a block reported once nothing rings is not shown, and one shown goes when the ringing stops", () => {
    expect(run(connectedAs("bob"), [{ type: "ringtone-blocked" }]).model.ringtoneBlocked).toBe(false);
    const blocked = run(connectedAs("bob"), [offer("l-b"), { type: "ringtone-blocked" }]).model;
    expect(run(blocked, [{ type: "reject-clicked" }]).model.ringtoneBlocked).toBe(false);
  });
});
