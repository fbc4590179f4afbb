// Renders the Model into the page. The elements live in index.html and stay
// put (focus and typing survive renders); only their text, values and
// `hidden` attributes change. User actions become Msgs. What is announced
// and where focus goes is decided in update (narration.ts); this carries it out.

import type { MySide } from "./call";
import {
  KEYPAD,
  canTransfer,
  transferableOut,
  canUseKeypad,
  dialButtonLabel,
  dialLabel,
  dialMode,
  dialPlaceholder,
  mySide,
  transferOf,
} from "./call";
import type { Model, Msg } from "./model";
import { notificationsOffered, signInOffered } from "./model";
import { connectionLine, providerLine } from "./connection";
import type { Announcement, FocusRequest, FocusTarget } from "./narration";
import {
  RINGTONE_BLOCKED,
  audioSummary,
  callNote,
  callSummary,
  heldCallName,
  pageTitle,
  recordingLine,
  ringingFrom,
  ringingText,
} from "./narration";
import type { RecordingEntry } from "./library";
import { badgeText, describeRecording } from "./library";
import { describeLegStatus } from "./outcome";
import type { Conference, Leg, LegStats } from "./protocol";
import { isTerminalLeg } from "./protocol";
import type { DeviceKind, DeviceOption } from "./devices";
import { pickerOptions } from "./devices";
import { qualityLine, qualityWarning, serverView } from "./quality";
import { doNotDisturb, emptyDirectoryText, listed } from "./directory";
import { callBackTo, callLine, duration, missedBadge } from "./history";
import { numberProblem } from "./numbers";

export interface View {
  render(model: Model): void;
}

interface Elements {
  connection: HTMLElement;
  connectionText: HTMLElement;
  mediaProvider: HTMLElement;
  mediaProviderText: HTMLElement;
  signIn: HTMLElement;
  signInForm: HTMLFormElement;
  signInName: HTMLInputElement;
  signInProblem: HTMLElement;
  signInHint: HTMLElement;
  dialer: HTMLElement;
  dialForm: HTMLFormElement;
  dialLabel: HTMLElement;
  dialHint: HTMLElement;
  dial: HTMLInputElement;
  call: HTMLButtonElement;
  placing: HTMLElement;
  incoming: HTMLElement;
  incomingText: HTMLElement;
  accept: HTMLButtonElement;
  reject: HTMLButtonElement;
  callPanel: HTMLElement;
  callTitle: HTMLElement;
  callNote: HTMLElement;
  mediaState: HTMLElement;
  legs: HTMLUListElement;
  mute: HTMLButtonElement;
  record: HTMLButtonElement;
  recordingState: HTMLElement;
  library: HTMLElement;
  voicemailBadge: HTMLElement;
  voicemailOn: HTMLInputElement;
  voicemailSetting: HTMLElement;
  recordings: HTMLUListElement;
  recordingsEmpty: HTMLElement;
  hold: HTMLButtonElement;
  completeTransfer: HTMLButtonElement;
  cancelTransfer: HTMLButtonElement;
  heldCalls: HTMLElement;
  heldList: HTMLUListElement;
  rejoin: HTMLButtonElement;
  hangUp: HTMLButtonElement;
  transferForm: HTMLFormElement;
  transferTo: HTMLInputElement;
  transfer: HTMLButtonElement;
  keypad: HTMLElement;
  quality: HTMLElement;
  qualityWarning: HTMLElement;
  devices: HTMLDetailsElement;
  pickers: Record<DeviceKind, HTMLSelectElement>;
  microphoneLevel: HTMLMeterElement;
  speakerHint: HTMLElement;
  microphoneHelp: HTMLElement;
  testSpeaker: HTMLButtonElement;
  status: HTMLElement;
  announcements: HTMLElement;
  alerts: HTMLElement;
  people: HTMLElement;
  dnd: HTMLInputElement;
  peopleSearch: HTMLInputElement;
  peopleList: HTMLUListElement;
  peopleEmpty: HTMLElement;
  history: HTMLDetailsElement;
  historyBadge: HTMLElement;
  historyList: HTMLOListElement;
  historyEmpty: HTMLElement;
  historyMore: HTMLButtonElement;
  ringtoneBlocked: HTMLElement;
  allowRingtone: HTMLButtonElement;
  notifyOffer: HTMLElement;
  notifyYes: HTMLButtonElement;
  notifyNo: HTMLButtonElement;
  dialProblem: HTMLElement;
  callTimer: HTMLElement;
}

/** One row of the legs list, kept across renders so focus on its buttons survives. */
interface LegRow {
  item: HTMLLIElement;
  name: HTMLSpanElement;
  status: HTMLSpanElement;
  muted: HTMLSpanElement;
  speaking: HTMLSpanElement;
  digits: HTMLSpanElement;
  server: HTMLSpanElement;
  actions: HTMLSpanElement;
  mute: HTMLButtonElement;
  hold: HTMLButtonElement;
  remove: HTMLButtonElement;
  transfer: HTMLButtonElement;
}

/** One call on hold: its own small panel, kept across renders like the leg rows. */
interface HeldRow {
  item: HTMLLIElement;
  summary: HTMLSpanElement;
  resume: HTMLButtonElement;
  hangUp: HTMLButtonElement;
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
    signInForm: byId(doc, "sign-in-form", HTMLFormElement),
    signInName: byId(doc, "sign-in-name", HTMLInputElement),
    signInProblem: byId(doc, "sign-in-problem", HTMLElement),
    signInHint: byId(doc, "sign-in-hint", HTMLElement),
    dialer: byId(doc, "dialer", HTMLElement),
    dialForm: byId(doc, "dial-form", HTMLFormElement),
    dialLabel: byId(doc, "dial-label", HTMLElement),
    dialHint: byId(doc, "dial-hint", HTMLElement),
    dial: byId(doc, "dial", HTMLInputElement),
    call: byId(doc, "call", HTMLButtonElement),
    placing: byId(doc, "placing", HTMLElement),
    incoming: byId(doc, "incoming", HTMLElement),
    incomingText: byId(doc, "incoming-text", HTMLElement),
    accept: byId(doc, "accept", HTMLButtonElement),
    reject: byId(doc, "reject", HTMLButtonElement),
    callPanel: byId(doc, "call-panel", HTMLElement),
    callTitle: byId(doc, "call-title", HTMLElement),
    callNote: byId(doc, "call-note", HTMLElement),
    mediaState: byId(doc, "media-state", HTMLElement),
    legs: byId(doc, "legs", HTMLUListElement),
    mute: byId(doc, "mute", HTMLButtonElement),
    record: byId(doc, "record", HTMLButtonElement),
    recordingState: byId(doc, "recording-state", HTMLElement),
    library: byId(doc, "library", HTMLElement),
    voicemailBadge: byId(doc, "voicemail-badge", HTMLElement),
    voicemailOn: byId(doc, "voicemail-on", HTMLInputElement),
    voicemailSetting: byId(doc, "voicemail-setting", HTMLElement),
    recordings: byId(doc, "recordings", HTMLUListElement),
    recordingsEmpty: byId(doc, "recordings-empty", HTMLElement),
    hold: byId(doc, "hold", HTMLButtonElement),
    completeTransfer: byId(doc, "complete-transfer", HTMLButtonElement),
    cancelTransfer: byId(doc, "cancel-transfer", HTMLButtonElement),
    heldCalls: byId(doc, "held-calls", HTMLElement),
    heldList: byId(doc, "held-list", HTMLUListElement),
    rejoin: byId(doc, "rejoin", HTMLButtonElement),
    hangUp: byId(doc, "hang-up", HTMLButtonElement),
    transferForm: byId(doc, "transfer-form", HTMLFormElement),
    transferTo: byId(doc, "transfer-to", HTMLInputElement),
    transfer: byId(doc, "transfer", HTMLButtonElement),
    keypad: byId(doc, "keypad", HTMLElement),
    quality: byId(doc, "quality", HTMLElement),
    qualityWarning: byId(doc, "quality-warning", HTMLElement),
    devices: byId(doc, "devices", HTMLDetailsElement),
    pickers: {
      microphone: byId(doc, "microphone", HTMLSelectElement),
      speaker: byId(doc, "speaker", HTMLSelectElement),
      ringer: byId(doc, "ringer", HTMLSelectElement),
    },
    microphoneLevel: byId(doc, "microphone-level", HTMLMeterElement),
    speakerHint: byId(doc, "speaker-hint", HTMLElement),
    microphoneHelp: byId(doc, "microphone-help", HTMLElement),
    testSpeaker: byId(doc, "test-speaker", HTMLButtonElement),
    status: byId(doc, "status", HTMLElement),
    announcements: byId(doc, "announcements", HTMLElement),
    alerts: byId(doc, "alerts", HTMLElement),
    people: byId(doc, "people", HTMLElement),
    dnd: byId(doc, "dnd", HTMLInputElement),
    peopleSearch: byId(doc, "people-search", HTMLInputElement),
    peopleList: byId(doc, "people-list", HTMLUListElement),
    peopleEmpty: byId(doc, "people-empty", HTMLElement),
    history: byId(doc, "history", HTMLDetailsElement),
    historyBadge: byId(doc, "history-badge", HTMLElement),
    historyList: byId(doc, "history-list", HTMLOListElement),
    historyEmpty: byId(doc, "history-empty", HTMLElement),
    historyMore: byId(doc, "history-more", HTMLButtonElement),
    ringtoneBlocked: byId(doc, "ringtone-blocked", HTMLElement),
    allowRingtone: byId(doc, "allow-ringtone", HTMLButtonElement),
    notifyOffer: byId(doc, "notify-offer", HTMLElement),
    notifyYes: byId(doc, "notify-yes", HTMLButtonElement),
    notifyNo: byId(doc, "notify-no", HTMLButtonElement),
    dialProblem: byId(doc, "dial-problem", HTMLElement),
    callTimer: byId(doc, "call-timer", HTMLElement),
  };

  el.signInForm.addEventListener("submit", (event) => {
    event.preventDefault();
    dispatch({ type: "sign-in-submitted", name: el.signInName.value });
  });
  el.dial.addEventListener("input", () =>
    dispatch({ type: "dial-changed", text: el.dial.value, caretAtEnd: el.dial.selectionStart === el.dial.value.length }),
  );
  // Answer and hang up from anywhere on the page (documented next to the buttons, and in aria-keyshortcuts).
  doc.addEventListener("keydown", (event) => {
    if (!event.altKey || !event.shiftKey || event.ctrlKey || event.metaKey) return;
    const action = event.code === "KeyA" ? "answer" : event.code === "KeyH" ? "hang-up" : null;
    if (action === null) return;
    event.preventDefault();
    dispatch({ type: "shortcut", action });
  });
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
  el.record.addEventListener("click", () => dispatch({ type: "record-clicked" }));
  el.voicemailOn.addEventListener("change", () => dispatch({ type: "voicemail-toggled", on: el.voicemailOn.checked }));
  el.recordings.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("button") : null;
    const id = button?.dataset.recordingId;
    if (id) dispatch({ type: "recording-delete-clicked", id });
  });
  // `play` does not bubble: caught on the way down.
  el.recordings.addEventListener(
    "play",
    (event) => {
      const id = event.target instanceof HTMLAudioElement ? event.target.dataset.recordingId : undefined;
      if (id) dispatch({ type: "recording-played", id });
    },
    true,
  );
  el.transferTo.addEventListener("input", () => dispatch({ type: "transfer-changed", text: el.transferTo.value }));
  el.transferForm.addEventListener("submit", (event) => {
    event.preventDefault();
    dispatch({ type: "transfer-changed", text: el.transferTo.value });
    dispatch({ type: "transfer-submitted" });
  });
  for (const key of KEYPAD) {
    const button = doc.createElement("button");
    button.type = "button";
    button.textContent = key.digit;
    button.dataset.digit = key.digit;
    if (key.label !== key.digit) button.setAttribute("aria-label", key.label);
    el.keypad.append(button);
  }
  el.keypad.addEventListener("click", (event) => {
    const digit = event.target instanceof Element ? event.target.closest("button")?.dataset.digit : undefined;
    if (digit !== undefined) dispatch({ type: "keypad-pressed", digit });
  });
  // The keyboard's digits are keypad keys while the call panel has focus, except in its text box.
  el.callPanel.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLInputElement || event.ctrlKey || event.metaKey || event.altKey) return;
    if (el.keypad.hidden || !KEYPAD.some((key) => key.digit === event.key)) return;
    event.preventDefault();
    dispatch({ type: "keypad-pressed", digit: event.key });
  });
  // Mute buttons (mine and, for the chair, everyone's) and Remove buttons
  // carry what they act on in data attributes.
  const onLegAction = (event: Event): void => {
    const target = event.target;
    if (!(target instanceof Element)) return;
    const button = target.closest("button");
    const legId = button?.dataset.legId;
    if (!button || !legId) return;
    if (button.dataset.action === "remove") dispatch({ type: "remove-clicked", legId });
    if (button.dataset.action === "transfer-out") dispatch({ type: "transfer-out-clicked", legId });
    if (button.dataset.action === "mute") dispatch({ type: "mute-clicked", legId });
    if (button.dataset.action === "hold") dispatch({ type: "hold-clicked", legId });
    if (button.dataset.action === "complete-transfer") dispatch({ type: "complete-transfer-clicked", legId });
    if (button.dataset.action === "cancel-transfer") dispatch({ type: "cancel-transfer-clicked", legId });
  };
  el.legs.addEventListener("click", onLegAction);
  el.devices.addEventListener("toggle", () => dispatch({ type: "devices-toggled", open: el.devices.open }));
  for (const kind of ["microphone", "speaker", "ringer"] as const) {
    const picker = el.pickers[kind];
    picker.addEventListener("change", () => dispatch({ type: "device-chosen", kind, id: picker.value }));
  }
  el.testSpeaker.addEventListener("click", () => dispatch({ type: "speaker-test-clicked" }));
  el.dnd.addEventListener("change", () => dispatch({ type: "dnd-toggled", on: el.dnd.checked }));
  el.peopleSearch.addEventListener("input", () =>
    dispatch({ type: "directory-filter-changed", text: el.peopleSearch.value }),
  );
  // A person's button and a call's "Call back" carry whom they call.
  const onPerson = (event: Event): void => {
    const target = event.target;
    const button = target instanceof Element ? target.closest("button") : null;
    const name = button?.dataset.name;
    if (name) dispatch({ type: "person-clicked", name });
  };
  el.peopleList.addEventListener("click", onPerson);
  el.historyList.addEventListener("click", onPerson);
  el.history.addEventListener("toggle", () => dispatch({ type: "history-toggled", open: el.history.open }));
  el.historyMore.addEventListener("click", () => dispatch({ type: "history-more-clicked" }));
  el.allowRingtone.addEventListener("click", () => dispatch({ type: "ringtone-allowed-clicked" }));
  el.notifyYes.addEventListener("click", () => dispatch({ type: "notifications-asked" }));
  el.notifyNo.addEventListener("click", () => dispatch({ type: "notifications-dismissed" }));
  el.mute.addEventListener("click", onLegAction);
  el.hold.addEventListener("click", onLegAction);
  el.completeTransfer.addEventListener("click", onLegAction);
  el.cancelTransfer.addEventListener("click", onLegAction);
  el.heldList.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("button") : null;
    const conferenceId = button?.dataset.conferenceId;
    if (!button || !conferenceId) return;
    if (button.dataset.action === "switch") dispatch({ type: "switch-clicked", conferenceId });
    if (button.dataset.action === "hang-up") dispatch({ type: "hang-up-held-clicked", conferenceId });
  });

  const rows = new Map<string, LegRow>();
  const recordingRows = new Map<string, HTMLLIElement>();
  const heldRows = new Map<string, HeldRow>();
  const focusTargets: Record<FocusTarget, HTMLElement> = {
    "sign-in": el.signInName,
    dial: el.dial,
    accept: el.accept,
    "hang-up": el.hangUp,
    rejoin: el.rejoin,
  };
  let spoken = 0;
  let focused = 0;
  // A request for a control not shown yet (Hang up, accepted before the call's first frame) waits for it.
  let pendingFocus: FocusRequest | null = null;

  return {
    render(model: Model): void {
      renderConnection(el, model);
      renderSignIn(el, model);
      const online = model.connection === "open";

      // One dial box: Call when not on a call, Add for the chair on one; a
      // guest on a call cannot add, so it goes. Its label says which.
      const mode = dialMode(model);
      const signedOut = model.identityMissing || model.authFailed;
      setHidden(el.dialer, signedOut || mode === "hidden");
      setText(el.dialLabel, dialLabel(mode));
      setHidden(el.dialHint, mode !== "add");
      // A description is read even when hidden: it is linked only while shown.
      setAttribute(el.dial, "aria-describedby", mode === "add" ? el.dialHint.id : null);
      setText(el.call, dialButtonLabel(mode));
      const placeholder = dialPlaceholder(model, mode);
      if (el.dial.placeholder !== placeholder) el.dial.placeholder = placeholder;
      if (el.dial.value !== model.dialText) el.dial.value = model.dialText;
      setUnavailable(el.call, !online);
      const problem = numberProblem(model.dialText);
      setText(el.dialProblem, problem ?? "");
      setHidden(el.dialProblem, problem === null);
      const placing = model.placing !== null && model.conference === null;
      setHidden(el.placing, !placing);
      setText(el.placing, placing ? callSummary(model) : "");

      const caller = ringingFrom(model);
      setHidden(el.incoming, caller === null);
      setText(el.incomingText, ringingText(model) ?? "");
      setUnavailable(el.accept, !online);
      setUnavailable(el.reject, !online);
      setText(el.ringtoneBlocked, model.ringtoneBlocked ? RINGTONE_BLOCKED : "");
      setHidden(el.ringtoneBlocked, !model.ringtoneBlocked);
      setHidden(el.allowRingtone, !model.ringtoneBlocked);
      setHidden(el.notifyOffer, signedOut || !notificationsOffered(model));

      renderCall(el, doc, rows, model);
      renderLibrary(el, doc, recordingRows, model);
      renderHeld(el, doc, heldRows, model);
      renderDevices(el, doc, model);
      renderPeople(el, doc, model, signedOut);
      renderHistory(el, doc, model, signedOut);

      setText(el.status, model.notice ?? model.outcome ?? "");
      const title = pageTitle(model);
      if (doc.title !== title) doc.title = title;

      if (model.announcement !== null && model.announcement.id !== spoken) {
        spoken = model.announcement.id;
        speak(doc, model.announcement.urgent ? el.alerts : el.announcements, model.announcement);
      }
      if (model.focus !== null && model.focus.id !== focused) {
        focused = model.focus.id;
        pendingFocus = model.focus;
      }
      if (pendingFocus !== null && moveFocus(doc, focusTargets[pendingFocus.target])) pendingFocus = null;
    },
  };
}

/** Announcements kept in a live region: the newest few, so the region does not grow all day. */
const KEPT_ANNOUNCEMENTS = 3;

/** Adds one line to an always-present live region: screen readers say each addition once. */
function speak(doc: Document, region: HTMLElement, announcement: Announcement): void {
  const line = doc.createElement("p");
  line.textContent = announcement.text;
  region.append(line);
  while (region.childElementCount > KEPT_ANNOUNCEMENTS) region.firstElementChild?.remove();
}

/**
 * Focuses `target` once it is shown; true when done, or given up on because
 * the user is typing in another text box (one with text in it): taking it
 * away would lose keystrokes, and an incoming call is announced anyway.
 */
function moveFocus(doc: Document, target: HTMLElement): boolean {
  if (target.closest("[hidden]") !== null) return false;
  const active = doc.activeElement;
  const typing =
    active instanceof HTMLInputElement &&
    active !== target &&
    active.value !== "" &&
    active.closest("[hidden]") === null;
  if (!typing) target.focus();
  return true;
}

function renderSignIn(el: Elements, model: Model): void {
  setHidden(el.signIn, !signInOffered(model));
  const { name, problem } = model.signIn;
  if (name !== "" && el.signInName.value === "") el.signInName.value = name;
  setText(el.signInProblem, problem ?? "");
  // The problem states the rule too: it takes the hint's place, on screen and as the description.
  setHidden(el.signInProblem, problem === null);
  setHidden(el.signInHint, problem !== null);
  setAttribute(el.signInName, "aria-describedby", problem === null ? el.signInHint.id : el.signInProblem.id);
  setAttribute(el.signInName, "aria-invalid", problem === null ? null : "true");
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
  setText(el.callTitle, callSummary(model));
  const note = callNote(model);
  setText(el.callNote, note);
  setHidden(el.callNote, note === "");
  const phase = model.media.conferenceId === conference.id ? model.media.phase : "idle";
  setText(el.mediaState, audioSummary(model));
  const started = model.callStartedAt;
  setHidden(el.callTimer, started === null);
  setText(el.callTimer, started === null ? "" : duration((model.now - started) / 1000));
  el.mediaState.dataset.phase = side.inAnotherTab ? "elsewhere" : phase;
  // Buttons that need the server say so while it is away, but stay in the
  // Tab order (update explains a press); Hang up then leaves on this page.
  const online = model.connection === "open";

  const outable = new Set(transferableOut(model, conference).map((leg) => leg.id));
  const { digits, legStats } = model;
  renderLegs(el.legs, doc, rows, conference, side, online, new Set(model.speaking), digits, legStats, outable);

  const myLeg = side.myLeg;
  const canMute = myLeg !== undefined && myLeg.status === "in-progress";
  setHidden(el.mute, !canMute);
  if (myLeg !== undefined) setMuteButton(el.mute, myLeg, myLeg.muted ? "Unmute" : "Mute");
  // My own hold puts the call on hold (a chair's hold of me is hers to take off).
  setHidden(el.hold, !canMute || myLeg?.held === true);
  if (myLeg !== undefined && el.hold.dataset.legId !== myLeg.id) el.hold.dataset.legId = myLeg.id;
  setUnavailable(el.hold, !online);
  // An attended transfer under way: hand the held party to the one I added, or go back to them.
  const transfer = transferOf(model, conference);
  for (const button of [el.completeTransfer, el.cancelTransfer]) {
    setHidden(button, transfer === null);
    if (transfer !== null && button.dataset.legId !== transfer.held.id) button.dataset.legId = transfer.held.id;
    setUnavailable(button, !online);
  }

  const recording = recordingLine(model);
  setText(el.recordingState, recording);
  setHidden(el.recordingState, recording === "");
  const canRecord = side.chair && canMute && conference.recording !== "voicemail";
  setHidden(el.record, !canRecord);
  setText(el.record, conference.recording === "call" ? "Stop recording" : "Record");
  setAttribute(el.record, "aria-pressed", conference.recording === "call" ? "true" : "false");
  setUnavailable(el.record, !online);

  setHidden(el.rejoin, !side.canRejoin);
  setHidden(el.hangUp, !side.onCall);
  // A call of two is transferred by the form's button; a larger one by each participant's, to whom it names.
  setHidden(el.transferForm, !canTransfer(model, conference) && outable.size === 0);
  setHidden(el.transfer, !canTransfer(model, conference));
  if (el.transferTo.value !== model.transferText) el.transferTo.value = model.transferText;
  setUnavailable(el.transfer, !online);
  setHidden(el.keypad, !canUseKeypad(model, conference));
  const measured = side.onCall && phase === "connected" && model.quality !== null ? model.quality : null;
  setHidden(el.quality, measured === null);
  setText(el.quality, measured === null ? "" : `Call quality: ${qualityLine(measured)}`);
  const warning = qualityWarning(measured);
  setHidden(el.qualityWarning, warning === "");
  setText(el.qualityWarning, warning);
  const warned = String(warning !== "");
  if (el.quality.dataset.warning !== warned) el.quality.dataset.warning = warned;
  setUnavailable(el.mute, !online);
  setUnavailable(el.rejoin, !online);
}

/** When a recording was made, as people read it here. */
function shownTime(seconds: number): string {
  return new Date(seconds * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function renderLibrary(el: Elements, doc: Document, rows: Map<string, HTMLLIElement>, model: Model): void {
  const library = model.library;
  setHidden(el.library, library === null || model.identityMissing || model.authFailed);
  if (library === null) return;
  const badge = badgeText(library);
  setText(el.voicemailBadge, badge ?? "");
  setHidden(el.voicemailBadge, badge === null);
  // A server without voicemail: no switch that would promise one.
  setHidden(el.voicemailSetting, !library.voicemailAvailable);
  if (el.voicemailOn.checked !== library.voicemail) el.voicemailOn.checked = library.voicemail;
  setHidden(el.recordingsEmpty, library.recordings.length > 0);
  const items = library.recordings.map((entry) => {
    let item = rows.get(entry.id);
    if (item === undefined) {
      item = recordingRow(doc, entry);
      rows.set(entry.id, item);
    }
    const isNew = String(entry.isNew);
    if (item.dataset.new !== isNew) item.dataset.new = isNew;
    const what = item.querySelector(".what");
    if (what instanceof HTMLElement) setText(what, `${entry.isNew ? "New: " : ""}${describeRecording(entry, shownTime)}`);
    return item;
  });
  const wanted = new Set(library.recordings.map((r) => r.id));
  for (const id of [...rows.keys()]) if (!wanted.has(id)) rows.delete(id);
  const current = Array.from(el.recordings.children);
  if (current.length !== items.length || current.some((child, i) => child !== items[i])) {
    el.recordings.replaceChildren(...items);
  }
}

/** A row built once per recording: re-rendering must not reload (and stop) an <audio> that plays. */
function recordingRow(doc: Document, entry: RecordingEntry): HTMLLIElement {
  const words = describeRecording(entry, shownTime);
  const item = doc.createElement("li");
  item.dataset.recordingId = entry.id;
  item.dataset.kind = entry.kind;
  const what = doc.createElement("span");
  what.className = "what";
  const audio = doc.createElement("audio");
  audio.controls = true;
  audio.preload = "metadata";
  audio.src = entry.audio;
  audio.dataset.recordingId = entry.id;
  audio.setAttribute("aria-label", `Play ${words}`);
  const remove = doc.createElement("button");
  remove.type = "button";
  remove.className = "danger";
  remove.textContent = "Delete";
  remove.dataset.recordingId = entry.id;
  remove.setAttribute("aria-label", `Delete ${words}`);
  item.append(what, audio, remove);
  return item;
}

/** My calls on hold, each with its own Resume (switch to it) and Hang up. */
function renderHeld(el: Elements, doc: Document, rows: Map<string, HeldRow>, model: Model): void {
  setHidden(el.heldCalls, model.held.length === 0);
  const online = model.connection === "open";
  const items: HTMLLIElement[] = [];
  for (const call of model.held) {
    const id = call.conference.id;
    let row = rows.get(id);
    if (row === undefined) {
      row = heldRow(doc, id);
      rows.set(id, row);
    }
    const who = heldCallName(model, call);
    setText(row.summary, `Call with ${who}: on hold`);
    setText(row.resume, `Resume the call with ${who}`);
    setText(row.hangUp, `Hang up the call with ${who}`);
    setUnavailable(row.resume, !online);
    setUnavailable(row.hangUp, !online);
    items.push(row.item);
  }
  const ids = new Set(model.held.map((call) => call.conference.id));
  for (const id of [...rows.keys()]) if (!ids.has(id)) rows.delete(id);
  const current = Array.from(el.heldList.children);
  if (current.length !== items.length || current.some((child, i) => child !== items[i])) {
    el.heldList.replaceChildren(...items);
  }
}

function heldRow(doc: Document, conferenceId: string): HeldRow {
  const item = doc.createElement("li");
  item.className = "leg";
  item.dataset.conferenceId = conferenceId;
  const summary = doc.createElement("span");
  summary.className = "leg-name";
  const actions = doc.createElement("span");
  actions.className = "leg-actions";
  const resume = doc.createElement("button");
  resume.type = "button";
  resume.className = "accept";
  resume.dataset.action = "switch";
  resume.dataset.conferenceId = conferenceId;
  const hangUp = doc.createElement("button");
  hangUp.type = "button";
  hangUp.className = "danger";
  hangUp.dataset.action = "hang-up";
  hangUp.dataset.conferenceId = conferenceId;
  actions.append(resume, hangUp);
  item.append(summary, actions);
  return { item, summary, resume, hangUp };
}

function renderPeople(el: Elements, doc: Document, model: Model, signedOut: boolean): void {
  setHidden(el.people, signedOut || model.me === null);
  const dnd = doNotDisturb(model.directory, model.me);
  if (el.dnd.checked !== dnd) el.dnd.checked = dnd;
  if (el.peopleSearch.value !== model.directory.filter) el.peopleSearch.value = model.directory.filter;
  const mode = dialMode(model);
  const verb = mode === "add" ? "Add" : "Call";
  const unavailable = mode === "hidden" || model.connection !== "open";
  const items = listed(model.directory, model.me).map((person) => {
    const item = doc.createElement("li");
    item.className = "person";
    item.dataset.status = person.status;
    const button = doc.createElement("button");
    button.type = "button";
    button.dataset.name = person.name;
    if (unavailable) button.setAttribute("aria-disabled", "true");
    button.append(hiddenText(doc, `${verb} `), person.name);
    const status = doc.createElement("span");
    status.className = "person-status";
    status.textContent = person.words;
    item.append(button, status);
    return item;
  });
  replaceIfChanged(el.peopleList, items);
  const empty = emptyDirectoryText(model.directory, model.me);
  setText(el.peopleEmpty, empty);
  setHidden(el.peopleEmpty, empty === "");
}

function renderHistory(el: Elements, doc: Document, model: Model, signedOut: boolean): void {
  const { history } = model;
  setHidden(el.history, signedOut || model.me === null);
  if (el.history.open !== history.open) el.history.open = history.open;
  const badge = missedBadge(history.missed);
  setText(el.historyBadge, badge);
  setHidden(el.historyBadge, badge === "");
  const items = history.calls.map((call) => {
    const item = doc.createElement("li");
    item.className = "call";
    item.dataset.outcome = call.outcome ?? "going-on";
    const line = doc.createElement("span");
    line.className = "call-line";
    line.textContent = callLine(call);
    const when = doc.createElement("time");
    when.dateTime = new Date(call.started_at * 1000).toISOString();
    when.textContent = new Date(call.started_at * 1000).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
    item.append(line, when);
    const to = callBackTo(call);
    if (to !== null && call.outcome !== null) {
      const back = doc.createElement("button");
      back.type = "button";
      back.dataset.name = to;
      back.append("Call back", hiddenText(doc, ` ${to}`));
      item.append(back);
    }
    return item;
  });
  replaceIfChanged(el.historyList, items);
  const empty = history.loading === "first" ? "Loading…" : history.calls.length === 0 ? "No calls yet" : "";
  setText(el.historyEmpty, empty);
  setHidden(el.historyEmpty, empty === "");
  setHidden(el.historyMore, history.before === null);
  setUnavailable(el.historyMore, history.loading !== null || model.connection !== "open");
}

function hiddenText(doc: Document, text: string): HTMLSpanElement {
  const span = doc.createElement("span");
  span.className = "visually-hidden";
  span.textContent = text;
  return span;
}

/** Swaps in freshly built rows only when they differ, so a focused button survives renders that change nothing. */
function replaceIfChanged(list: HTMLElement, items: HTMLElement[]): void {
  const current = Array.from(list.children);
  const same = current.length === items.length && current.every((child, i) => child.isEqualNode(items[i] ?? null));
  if (!same) list.replaceChildren(...items);
}

const PICKER_NOUNS: Record<DeviceKind, string> = { microphone: "Microphone", speaker: "Speaker", ringer: "Speaker" };

function renderDevices(el: Elements, doc: Document, model: Model): void {
  const { devices } = model;
  if (el.devices.open !== devices.open) el.devices.open = devices.open;
  const lists: Record<DeviceKind, DeviceOption[]> = {
    microphone: devices.microphones,
    speaker: devices.speakers,
    ringer: devices.speakers,
  };
  for (const kind of ["microphone", "speaker", "ringer"] as const) {
    renderPicker(doc, el.pickers[kind], pickerOptions(lists[kind], PICKER_NOUNS[kind]), devices.chosen[kind]);
  }
  // Without setSinkId the speaker cannot be chosen: the picker says so rather than pretend.
  for (const kind of ["speaker", "ringer"] as const) {
    setAttribute(el.pickers[kind], "disabled", devices.canChooseSpeaker ? null : "");
  }
  setHidden(el.speakerHint, devices.canChooseSpeaker);
  const level = devices.open ? devices.level : 0;
  if (el.microphoneLevel.value !== level) el.microphoneLevel.value = level;
  setText(el.microphoneHelp, model.microphoneHelp ?? "");
  setHidden(el.microphoneHelp, model.microphoneHelp === null);
}

/** A picker's options: "Default", then the devices; rebuilt only when they changed, so an open list stays. */
function renderPicker(doc: Document, picker: HTMLSelectElement, options: DeviceOption[], chosen: string): void {
  const wanted = [{ id: "", label: "Default" }, ...options];
  const current = Array.from(picker.options);
  const same =
    current.length === wanted.length &&
    current.every((o, i) => o.value === wanted[i]?.id && o.text === wanted[i]?.label);
  if (!same) {
    picker.replaceChildren(
      ...wanted.map((d) => {
        const option = doc.createElement("option");
        option.value = d.id;
        option.text = d.label;
        return option;
      }),
    );
  }
  // A remembered device not plugged in (yet) shows as the default, which is what plays.
  const value = wanted.some((d) => d.id === chosen) ? chosen : "";
  if (picker.value !== value) picker.value = value;
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
  legStats: Record<string, LegStats>,
  outable: Set<string>,
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
    const heard = live ? serverView(legStats[leg.id]) : "";
    setText(row.server, heard);
    setHidden(row.server, heard === "");
    // The chair may mute and remove the others (removing one that rings
    // cancels it); my own mute is the panel's Mute button.
    const others = chairOnCall && !mine && live;
    setHidden(row.mute, !others);
    setMuteButton(row.mute, leg, `${leg.muted ? "Unmute" : "Mute"} ${leg.destination}`);
    // The chair holds a connected guest (who then hears music) and takes her hold off; not one away by their own.
    const holdable = others && leg.status === "in-progress" && (leg.held !== true || leg.held_by_chair === true);
    setHidden(row.hold, !holdable);
    setText(row.hold, `${leg.held ? "Resume" : "Hold"} ${leg.destination}`);
    setUnavailable(row.hold, !online);
    setHidden(row.remove, !others);
    setUnavailable(row.mute, !online);
    setUnavailable(row.remove, !online);
    setText(row.remove, `Remove ${leg.destination}`);
    setHidden(row.transfer, !outable.has(leg.id));
    setUnavailable(row.transfer, !online);
    setText(row.transfer, `Transfer ${leg.destination}`);
    const buttons = [row.mute, row.hold, row.transfer, row.remove];
    setHidden(row.actions, buttons.every((button) => button.hidden === true));
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
  const server = doc.createElement("span");
  server.className = "leg-server";
  server.hidden = true;
  const actions = doc.createElement("span");
  actions.className = "leg-actions";
  const mute = doc.createElement("button");
  mute.type = "button";
  mute.dataset.action = "mute";
  mute.dataset.legId = legId;
  const hold = doc.createElement("button");
  hold.type = "button";
  hold.dataset.action = "hold";
  hold.dataset.legId = legId;
  const remove = doc.createElement("button");
  remove.type = "button";
  remove.className = "danger";
  remove.dataset.action = "remove";
  remove.dataset.legId = legId;
  // Out of a call of more than two: to whoever is typed in Transfer to.
  const transfer = doc.createElement("button");
  transfer.type = "button";
  transfer.dataset.action = "transfer-out";
  transfer.dataset.legId = legId;
  actions.append(mute, hold, transfer, remove);
  item.append(name, status, muted, speaking, digits, server, actions);
  return { item, name, status, muted, speaking, digits, server, actions, mute, hold, remove, transfer };
}

function setMuteButton(button: HTMLButtonElement, leg: Leg, label: string): void {
  setText(button, label);
  const muted = String(leg.muted);
  if (button.dataset.muted !== muted) button.dataset.muted = muted;
  if (button.dataset.legId !== leg.id) button.dataset.legId = leg.id;
  if (button.dataset.action !== "mute") button.dataset.action = "mute";
}

/** aria-disabled, not disabled: the control keeps its place in the Tab order and still says why it cannot act. */
function setUnavailable(button: HTMLButtonElement, unavailable: boolean): void {
  setAttribute(button, "aria-disabled", unavailable ? "true" : null);
}

/** Sets an attribute, or removes it for null; untouched when it already is so. */
function setAttribute(element: HTMLElement, name: string, value: string | null): void {
  if (element.getAttribute(name) === value) return;
  if (value === null) element.removeAttribute(name);
  else element.setAttribute(name, value);
}

function setHidden(element: HTMLElement, hidden: boolean): void {
  if (element.hidden !== hidden) element.hidden = hidden;
}

function setText(element: HTMLElement, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}
