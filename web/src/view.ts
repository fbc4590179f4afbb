// Renders the Model into the page. The elements live in index.html and stay
// put (focus and typing survive renders); only their text, values and
// `hidden` attributes change. User actions become Msgs.

import type { MySide } from "./call";
import { dialButtonLabel, dialMode, mySide } from "./call";
import type { Model, Msg } from "./model";
import { connectionLine, providerLine } from "./connection";
import { describeLegStatus } from "./outcome";
import type { Conference, Leg } from "./protocol";
import { isTerminalLeg } from "./protocol";

export interface View {
  render(model: Model): void;
}

interface Elements {
  connection: HTMLElement;
  connectionText: HTMLElement;
  mediaProvider: HTMLElement;
  mediaProviderText: HTMLElement;
  signIn: HTMLElement;
  dialer: HTMLElement;
  dialForm: HTMLFormElement;
  dial: HTMLInputElement;
  call: HTMLButtonElement;
  placing: HTMLElement;
  incoming: HTMLElement;
  incomingText: HTMLElement;
  accept: HTMLButtonElement;
  reject: HTMLButtonElement;
  callPanel: HTMLElement;
  callTitle: HTMLElement;
  mediaState: HTMLElement;
  legs: HTMLUListElement;
  mute: HTMLButtonElement;
  rejoin: HTMLButtonElement;
  hangUp: HTMLButtonElement;
  status: HTMLElement;
}

/** One row of the legs list, kept across renders so focus on its buttons survives. */
interface LegRow {
  item: HTMLLIElement;
  name: HTMLSpanElement;
  status: HTMLSpanElement;
  muted: HTMLSpanElement;
  speaking: HTMLSpanElement;
  digits: HTMLSpanElement;
  actions: HTMLSpanElement;
  mute: HTMLButtonElement;
  remove: HTMLButtonElement;
}

function byId<T extends HTMLElement>(doc: Document, id: string, type: { new (): T }): T {
  const element = doc.getElementById(id);
  if (!(element instanceof type)) throw new Error(`index.html lacks #${id}`);
  return element;
}

export function mountView(doc: Document, dispatch: (msg: Msg) => void): View {
  const el: Elements = {
    connection: byId(doc, "connection", HTMLElement),
    connectionText: byId(doc, "connection-text", HTMLElement),
    mediaProvider: byId(doc, "media-provider", HTMLElement),
    mediaProviderText: byId(doc, "media-provider-text", HTMLElement),
    signIn: byId(doc, "sign-in", HTMLElement),
    dialer: byId(doc, "dialer", HTMLElement),
    dialForm: byId(doc, "dial-form", HTMLFormElement),
    dial: byId(doc, "dial", HTMLInputElement),
    call: byId(doc, "call", HTMLButtonElement),
    placing: byId(doc, "placing", HTMLElement),
    incoming: byId(doc, "incoming", HTMLElement),
    incomingText: byId(doc, "incoming-text", HTMLElement),
    accept: byId(doc, "accept", HTMLButtonElement),
    reject: byId(doc, "reject", HTMLButtonElement),
    callPanel: byId(doc, "call-panel", HTMLElement),
    callTitle: byId(doc, "call-title", HTMLElement),
    mediaState: byId(doc, "media-state", HTMLElement),
    legs: byId(doc, "legs", HTMLUListElement),
    mute: byId(doc, "mute", HTMLButtonElement),
    rejoin: byId(doc, "rejoin", HTMLButtonElement),
    hangUp: byId(doc, "hang-up", HTMLButtonElement),
    status: byId(doc, "status", HTMLElement),
  };

  el.dial.addEventListener("input", () => dispatch({ type: "dial-changed", text: el.dial.value }));
  // The dial box calls, or (the chair, on a call) adds: update decides.
  // Enter submits even while the button is disabled (implicit submission
  // would silently do nothing then).
  el.dial.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.isComposing) {
      event.preventDefault();
      dispatch({ type: "dial-changed", text: el.dial.value });
      dispatch({ type: "dial-submitted" });
    }
  });
  el.dialForm.addEventListener("submit", (event) => {
    event.preventDefault();
    dispatch({ type: "dial-changed", text: el.dial.value });
    dispatch({ type: "dial-submitted" });
  });
  el.accept.addEventListener("click", () => dispatch({ type: "accept-clicked" }));
  el.reject.addEventListener("click", () => dispatch({ type: "reject-clicked" }));
  el.hangUp.addEventListener("click", () => dispatch({ type: "hang-up-clicked" }));
  el.rejoin.addEventListener("click", () => dispatch({ type: "rejoin-clicked" }));
  // Mute buttons (mine and, for the chair, everyone's) and Remove buttons
  // carry what they act on in data attributes.
  const onLegAction = (event: Event): void => {
    const target = event.target;
    if (!(target instanceof Element)) return;
    const button = target.closest("button");
    const legId = button?.dataset.legId;
    if (!button || !legId) return;
    if (button.dataset.action === "remove") dispatch({ type: "remove-clicked", legId });
    if (button.dataset.action === "mute") dispatch({ type: "mute-clicked", legId });
  };
  el.legs.addEventListener("click", onLegAction);
  el.mute.addEventListener("click", onLegAction);

  const rows = new Map<string, LegRow>();
  let wasRinging = false;

  return {
    render(model: Model): void {
      renderConnection(el, model);

      const signedOut = model.identityMissing || model.authFailed;
      setHidden(el.signIn, !signedOut);
      // One dial box: Call when not on a call, Add for the chair on one; a
      // guest on a call cannot add, so it goes. Its label stays "Call to".
      const mode = dialMode(model);
      setHidden(el.dialer, signedOut || mode === "hidden");
      setText(el.call, dialButtonLabel(mode));
      const placeholder = mode === "add" ? "carol or +441234567890" : "bob or +441234567890";
      if (el.dial.placeholder !== placeholder) el.dial.placeholder = placeholder;
      if (el.dial.value !== model.dialText) el.dial.value = model.dialText;
      el.call.disabled = model.connection !== "open";
      const placing = model.placing !== null && model.conference === null;
      setHidden(el.placing, !placing);
      setText(el.placing, placing ? `Calling ${model.placing}…` : "");

      const ringing = model.incoming !== null && !model.incoming.rejected;
      setHidden(el.incoming, !ringing);
      setText(el.incomingText, ringing && model.incoming ? `${model.incoming.caller} is calling` : "");
      el.accept.disabled = model.connection !== "open";
      el.reject.disabled = model.connection !== "open";
      if (ringing && !wasRinging && !el.incoming.contains(doc.activeElement) && doc.activeElement !== el.dial) {
        el.accept.focus({ preventScroll: true });
      }
      wasRinging = ringing;

      renderCall(el, doc, rows, model);

      setText(el.status, model.notice ?? model.outcome ?? "");
      const title = ringing && model.incoming ? `${model.incoming.caller} is calling — Talkbox` : "Talkbox";
      if (doc.title !== title) doc.title = title;
    },
  };
}

function renderConnection(el: Elements, model: Model): void {
  const { state, text } = connectionLine(model);
  if (el.connection.dataset.state !== state) el.connection.dataset.state = state;
  setText(el.connectionText, text);

  const media = providerLine(model);
  setHidden(el.mediaProvider, media === null);
  const mediaState = media?.state ?? "connecting";
  if (el.mediaProvider.dataset.state !== mediaState) el.mediaProvider.dataset.state = mediaState;
  setText(el.mediaProviderText, media?.text ?? "");
}

function renderCall(el: Elements, doc: Document, rows: Map<string, LegRow>, model: Model): void {
  const conference = model.conference;
  setHidden(el.callPanel, conference === null);
  if (conference === null) {
    rows.clear();
    el.legs.replaceChildren();
    return;
  }

  const side = mySide(model, conference);
  setText(el.callTitle, callTitle(side));
  const phase = model.media.conferenceId === conference.id ? model.media.phase : "idle";
  setText(el.mediaState, side.inAnotherTab ? IN_ANOTHER_TAB : MEDIA_WORDS[phase]);
  el.mediaState.dataset.phase = side.inAnotherTab ? "elsewhere" : phase;
  // Buttons that need the server wait for the socket; the panel stays.
  const online = model.connection === "open";

  renderLegs(el.legs, doc, rows, conference, side, online, new Set(model.speaking), model.digits);

  const myLeg = side.myLeg;
  const canMute = myLeg !== undefined && myLeg.status === "in-progress";
  setHidden(el.mute, !canMute);
  if (myLeg !== undefined) setMuteButton(el.mute, myLeg, myLeg.muted ? "Unmute" : "Mute");

  setHidden(el.rejoin, !side.canRejoin);
  setHidden(el.hangUp, !side.onCall);
  el.mute.disabled = !online;
  el.rejoin.disabled = !online;
  el.hangUp.disabled = !online;
}

const MEDIA_WORDS: Record<Model["media"]["phase"], string> = {
  idle: "",
  connecting: "Connecting audio…",
  connected: "Audio connected",
  failed: "Audio failed",
  lost: "Audio lost",
};

/** What the media badge says while another page (tab) of mine has the call's media. */
export const IN_ANOTHER_TAB = "In call in another tab";

function callTitle(side: MySide): string {
  const names = side.othersLive.map((leg) => leg.destination).join(", ");
  if (!side.onCall) return names ? `${names} still on the call` : "Call ended";
  if (names === "") return "Call";
  if (side.othersLive.some((leg) => leg.status === "in-progress")) return `In call with ${names}`;
  return side.chair ? `Calling ${names}` : `Call with ${names}`;
}

function renderLegs(
  list: HTMLUListElement,
  doc: Document,
  rows: Map<string, LegRow>,
  conference: Conference,
  side: MySide,
  online: boolean,
  speaking: Set<string>,
  digits: Record<string, string>,
): void {
  const seen = new Set<string>();
  const chairOnCall = side.chair && side.onCall;
  const items: HTMLLIElement[] = [];
  for (const leg of conference.legs) {
    // An ended leg of someone who is back on a new one (a chair who rejoined) says nothing useful.
    const replaced =
      isTerminalLeg(leg.status) &&
      conference.legs.some((other) => other.destination === leg.destination && !isTerminalLeg(other.status));
    if (replaced) continue;
    seen.add(leg.id);
    let row = rows.get(leg.id);
    if (row === undefined) {
      row = legRow(doc, leg.id);
      rows.set(leg.id, row);
    }
    const mine = leg === side.myLeg;
    const live = !isTerminalLeg(leg.status);
    if (row.item.dataset.status !== leg.status) row.item.dataset.status = leg.status;
    const ended = String(!live);
    if (row.item.dataset.ended !== ended) row.item.dataset.ended = ended;
    setText(row.name, mine ? `${leg.destination} (you)` : leg.destination);
    setText(row.status, describeLegStatus(leg));
    setHidden(row.muted, !(leg.muted && live));
    const talking = String(live && !leg.muted && speaking.has(leg.id));
    if (row.item.dataset.speaking !== talking) row.item.dataset.speaking = talking;
    setHidden(row.speaking, talking !== "true");
    const pressed = digits[leg.id] ?? "";
    setText(row.digits, pressed ? `pressed ${pressed}` : "");
    setHidden(row.digits, !pressed);
    // The chair may mute and remove the others (removing one that rings
    // cancels it); my own mute is the panel's Mute button.
    const others = chairOnCall && !mine && live;
    setHidden(row.mute, !others);
    setMuteButton(row.mute, leg, `${leg.muted ? "Unmute" : "Mute"} ${leg.destination}`);
    setHidden(row.remove, !others);
    row.mute.disabled = !online;
    row.remove.disabled = !online;
    setText(row.remove, `Remove ${leg.destination}`);
    setHidden(row.actions, row.mute.hidden === true && row.remove.hidden === true);
    items.push(row.item);
  }
  for (const id of [...rows.keys()]) if (!seen.has(id)) rows.delete(id);
  // Re-append only when the order or membership changed, so focus stays put.
  const current = Array.from(list.children);
  if (current.length !== items.length || current.some((child, i) => child !== items[i])) {
    list.replaceChildren(...items);
  }
}

function legRow(doc: Document, legId: string): LegRow {
  const item = doc.createElement("li");
  item.className = "leg";
  item.dataset.legId = legId;
  const name = doc.createElement("span");
  name.className = "leg-name";
  const status = doc.createElement("span");
  status.className = "leg-status";
  const muted = doc.createElement("span");
  muted.className = "leg-muted";
  muted.textContent = "muted";
  const speaking = doc.createElement("span");
  speaking.className = "leg-speaking";
  speaking.textContent = "speaking";
  speaking.hidden = true;
  const digits = doc.createElement("span");
  digits.className = "leg-digits";
  digits.hidden = true;
  const actions = doc.createElement("span");
  actions.className = "leg-actions";
  const mute = doc.createElement("button");
  mute.type = "button";
  mute.dataset.action = "mute";
  mute.dataset.legId = legId;
  const remove = doc.createElement("button");
  remove.type = "button";
  remove.className = "danger";
  remove.dataset.action = "remove";
  remove.dataset.legId = legId;
  actions.append(mute, remove);
  item.append(name, status, muted, speaking, digits, actions);
  return { item, name, status, muted, speaking, digits, actions, mute, remove };
}

function setMuteButton(button: HTMLButtonElement, leg: Leg, label: string): void {
  setText(button, label);
  const muted = String(leg.muted);
  if (button.dataset.muted !== muted) button.dataset.muted = muted;
  if (button.dataset.legId !== leg.id) button.dataset.legId = leg.id;
  if (button.dataset.action !== "mute") button.dataset.action = "mute";
}

function setHidden(element: HTMLElement, hidden: boolean): void {
  if (element.hidden !== hidden) element.hidden = hidden;
}

function setText(element: HTMLElement, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}
