// Builders for conferences, legs and server messages used across tests.

import type { Effect, Model, Msg } from "../src/model";
import { initialModel } from "../src/model";
import type { Conference, Leg, LegStatus, ServerMessage } from "../src/protocol";
import { update } from "../src/update";

export function leg(
  id: string,
  destination: string,
  status: LegStatus,
  end_reason: Leg["end_reason"] = null,
): Leg {
  return { id, destination, status, kind: "browser", muted: false, held: false, held_by_chair: false, end_reason };
}

export function conference(
  legs: Leg[],
  options: { id?: string; chair?: string; end_reason?: Conference["end_reason"] } = {},
): Conference {
  const end_reason = options.end_reason ?? null;
  return {
    id: options.id ?? "c-1",
    chair: options.chair ?? "alice",
    status: end_reason === null ? "active" : "ended",
    end_reason,
    legs,
    transfer: null,
    recording: null,
  };
}

export function ended(legs: Leg[], end_reason: NonNullable<Conference["end_reason"]>, chair = "alice", id = "c-1"): Conference {
  return conference(legs, { id, chair, end_reason });
}

export const server = (message: ServerMessage): Msg => ({ type: "server-message", message });

export const conf = (c: Conference): Msg => server({ type: "conference", conference: c });

export function offer(
  legId: string,
  options: { conferenceId?: string; caller?: string; autoAnswer?: boolean; sdp?: string } = {},
): Msg {
  return server({
    type: "offer",
    conference_id: options.conferenceId ?? "c-1",
    leg_id: legId,
    caller: options.caller ?? "alice",
    sdp: options.sdp ?? `offer-sdp-${legId}`,
    auto_answer: options.autoAnswer ?? false,
  });
}

/** A page connected as `me`. */
export function connectedAs(me: string): Model {
  return run(initialModel(), [
    { type: "socket-opened" },
    server({ type: "welcome", user: me, provider: "builtin", ice_servers: [] }),
  ]).model;
}

/** alice on a call with bob that she placed, her media connected. */
export function aliceInCall(model: Model = connectedAs("alice")): Model {
  return run(model, [
    { type: "dial-changed", text: "bob" },
    { type: "call-clicked" },
    conf(conference([leg("l-a", "alice", "in-progress"), leg("l-b", "bob", "in-progress")])),
    offer("l-a", { autoAnswer: true }),
    { type: "media-connected", legId: "l-a" },
  ]).model;
}

/** Applies msgs in order; returns the final model and every effect emitted. */
export function run(model: Model, msgs: Msg[]): { model: Model; effects: Effect[] } {
  const effects: Effect[] = [];
  let current = model;
  for (const msg of msgs) {
    const [next, out] = update(current, msg);
    current = next;
    effects.push(...out);
  }
  return { model: current, effects };
}
