"""Every event Talkbox publishes, one frozen pydantic model each.

Events are plain data that can cross a process boundary (the Redis bus
serialises them), so they carry ids and values, never live objects.

A request that creates something carries the id of what it creates, minted
when the event is made: an event handed out again (the Redis bus redelivers
what a dead node never acknowledged) names the same conference or leg, so
handling it twice changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


LegStatus = Literal[
    "queued",
    "initiated",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "no-answer",
    "canceled",
    "failed",
]
TerminalLegStatus = Literal["completed", "busy", "no-answer", "canceled", "failed"]
TERMINAL_STATUSES: frozenset[str] = frozenset(get_args(TerminalLegStatus))
# Why a leg ended (docs/protocol.md, "Leg end reasons"). The wire keeps `end_reason` a free string, so an older
# page reads a reason added here later as a plain "ended"; this list is the one the page's words are checked against.
LegEndReason = Literal[
    "hung-up",
    "ended",
    "rejected",
    "in-another-call",
    "removed",
    "timeout",
    "unavailable",
    "media",
    "microphone",
    "caller-canceled",
    "chair-unreachable",
    "lost",
    "server-restart",
    "busy-signal",
    "not-answered",
    "forbidden",
    "not-found",
    "address-incomplete",
    "not-allowed",
    "transferred",
    "transfer-failed",
    "answered-elsewhere",
    "provider-error",
    "voicemail-full",
    "dnd",
]
ConferenceStatus = Literal["active", "ended"]


def open_vocabulary(name: str) -> WithJsonSchema:
    """A word the page reads as one of vocabulary `name` or any other string (talkbox.ui.schema lists `name`).

    Open so that a page or embedded client older than its server still takes
    the frame when the server has learnt a new word, rather than dropping it.
    """
    return WithJsonSchema({"type": "string", "x-known": name})


ConferenceEndReason = Literal[
    "hung-up", "canceled", "busy", "no-answer", "unavailable", "failed", "chair-unreachable", "transfer-failed"
]
# Why the call rules (or the shell, for `store_unavailable`) refused a user's request: the whole vocabulary,
# which docs/protocol.md lists under `refused` (tests/component/test_wire_schema.py holds them to each other).
RefusalCode = Literal[
    "self_call",
    "invalid_destination",
    "too_many_calls",
    "no_telephones",
    "dnd",
    "not_chair",
    "already_in_conference",
    "conference_full",
    "transfer_pending",
    "held_by_self",
    "hold_failed",
    "not_held",
    "nobody_to_transfer_to",
    "not_on_call",
    "not_connected",
    "leaving_voicemail",
    "not_two_party",
    "self_transfer",
    "party_on_hold",
    "store_unavailable",
]
# What is at the end of a leg: a person on the page, or a telephone reached over SIP or through Twilio.
# Set where the leg is created; the handler picks the leg's provider by it.
LegKind = Literal["browser", "sip", "twilio"]
PhoneKind = Literal["sip", "twilio"]
# A call recorded by its chair, or a message left for someone who did not answer.
RecordingKind = Literal["call", "voicemail"]


class LegView(BaseModel):
    """A leg as the pages see it."""

    model_config = ConfigDict(frozen=True)

    id: str
    destination: str
    status: LegStatus
    kind: LegKind = "browser"
    muted: bool = False
    held: bool = False
    # Held by the chair (it hears music), not by its own user (away on another of their calls).
    held_by_chair: bool = False
    end_reason: Annotated[str, open_vocabulary("LegEndReason")] | None = None


class TransferView(BaseModel):
    """A blind transfer under way: `by` sent the call to `to`, which rings; or, unanswered, `by` is rung again."""

    model_config = ConfigDict(frozen=True)

    by: str
    to: str
    status: Literal["ringing", "recalling"]


class ConferenceView(BaseModel):
    """A conference as the pages see it: the whole state, sent on every change."""

    model_config = ConfigDict(frozen=True)

    id: str
    chair: str
    status: ConferenceStatus
    end_reason: Annotated[str, open_vocabulary("ConferenceEndReason")] | None = None
    # What is being recorded now: the call, or the caller's voicemail message; None: nothing.
    recording: RecordingKind | None = None
    legs: tuple[LegView, ...]
    transfer: TransferView | None = None


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def _conference_id() -> str:
    return new_id("c")


def _leg_id() -> str:
    return new_id("l")


# --- requests from users (published by the ui gateway) -----------------------


class UserRequestsCall(_Event):
    type: Literal["user_requests_call"] = "user_requests_call"
    user: str
    to: str
    # The conference this call will be: also its partition, so all its events share one. The HTTP API
    # chooses it (it answers with the id before the call exists); a page's request gets a fresh one.
    conference_id: str = Field(default_factory=_conference_id)
    # More people to add once the call exists: a conference of several in one request.
    also: tuple[str, ...] = ()


class UserHangsUp(_Event):
    type: Literal["user_hangs_up"] = "user_hangs_up"
    user: str
    conference_id: str


class UserAddsParticipant(_Event):
    type: Literal["user_adds_participant"] = "user_adds_participant"
    user: str
    conference_id: str
    to: str
    leg_id: str = Field(default_factory=_leg_id)  # the leg to add


class UserRemovesParticipant(_Event):
    type: Literal["user_removes_participant"] = "user_removes_participant"
    user: str
    conference_id: str
    leg_id: str


class UserMutesLeg(_Event):
    type: Literal["user_mutes_leg"] = "user_mutes_leg"
    user: str
    conference_id: str
    leg_id: str
    muted: bool


class UserHoldsLeg(_Event):
    """Put a leg on hold or take it off: its own user (their call), the chair (a participant), or the shell.

    The shell holds a user's other calls when one of their legs starts talking: one call at a time is live.
    """

    type: Literal["user_holds_leg"] = "user_holds_leg"
    user: str
    conference_id: str
    leg_id: str
    held: bool


class UserCompletesTransfer(_Event):
    """The chair leaves `leg_id` (held) and whoever they added talking to each other: an attended transfer."""

    type: Literal["user_completes_transfer"] = "user_completes_transfer"
    user: str
    conference_id: str
    leg_id: str


class UserTransfers(_Event):
    """A user hands the other party of their call of two to `to`, and leaves it (a blind transfer).

    With `party`, the chair of a larger call hands that leg's party to `to`, in a call of their own.
    """

    type: Literal["user_transfers"] = "user_transfers"
    user: str
    conference_id: str
    to: str
    leg_id: str = Field(default_factory=_leg_id)  # the leg that rings `to`
    party: str | None = None


class UserSendsDigits(_Event):
    """Keys pressed on a user's keypad during a call, for the telephones on it (RFC 4733)."""

    type: Literal["user_sends_digits"] = "user_sends_digits"
    user: str
    conference_id: str
    digits: str


class UserRejoins(_Event):
    type: Literal["user_rejoins"] = "user_rejoins"
    user: str
    conference_id: str
    leg_id: str = Field(default_factory=_leg_id)  # the chair's new leg


class UserRecords(_Event):
    """The chair starts (`on`) or stops recording the call."""

    type: Literal["user_records"] = "user_records"
    user: str
    conference_id: str
    on: bool
    recording_id: str = Field(default_factory=lambda: new_id("r"))  # the recording a start makes


class ClientAnsweredLeg(_Event):
    """A page accepted a leg offered to its user, with its SDP answer."""

    type: Literal["client_answered_leg"] = "client_answered_leg"
    user: str
    leg_id: str
    # The leg's conference when the gateway knows it: then the event is in the conference's partition.
    conference_id: str | None = None
    sdp: str


class ClientResumesLeg(_Event):
    """A page has no media for a live leg of its user (reloaded, or the server restarted)."""

    type: Literal["client_resumes_leg"] = "client_resumes_leg"
    user: str
    leg_id: str
    conference_id: str | None = None


class ClientRejectedLeg(_Event):
    type: Literal["client_rejected_leg"] = "client_rejected_leg"
    user: str
    leg_id: str
    conference_id: str | None = None


class ClientLegFailed(_Event):
    """A page could not bring up media for a leg it was offered."""

    type: Literal["client_leg_failed"] = "client_leg_failed"
    user: str
    leg_id: str
    conference_id: str | None = None
    reason: str


class PresenceChanged(_Event):
    """How many pages a user has open on this node changed."""

    type: Literal["presence_changed"] = "presence_changed"
    user: str
    online: bool


class UserSetsPresence(_Event):
    """A user turns do not disturb on or off (the page's `set_presence`), for all their pages."""

    type: Literal["user_sets_presence"] = "user_sets_presence"
    user: str
    dnd: bool


class UserReturned(_Event):
    """A page of `user` (re)connected while they are on this conference; its state has been sent.

    In the conference's partition, so it reaches whoever carries the conference
    (with several nodes, not always the node that handled the presence): that
    one offers again what still rings for the user.
    """

    type: Literal["user_returned"] = "user_returned"
    user: str
    conference_id: str


class StateSent(_Event):
    """Every conference `user` is on has been sent to their pages, after one of them (re)connected.

    It names those conferences, so a page can tell a call it still shows has
    ended without depending on the order the conference messages arrive in
    (with several nodes they come from the conferences' own partitions).
    """

    type: Literal["state_sent"] = "state_sent"
    user: str
    conference_ids: tuple[str, ...]


# --- reports from providers --------------------------------------------------


class SpeakingChanged(_Event):
    """Who is speaking in a conference now, from the media engine's levels (at most a few a second)."""

    type: Literal["speaking_changed"] = "speaking_changed"
    conference_id: str
    legs: tuple[str, ...]


class LegStatusChanged(_Event):
    """A provider's report on one leg; `sequence` orders reports of the same leg."""

    type: Literal["leg_status_changed"] = "leg_status_changed"
    conference_id: str
    leg_id: str
    status: LegStatus
    sequence: int
    reason: str | None = None
    # The provider's own id for the leg (Twilio's CallSid), when it has one.
    provider_id: str | None = None


class DigitPressed(_Event):
    """A key pressed on a conference: on a telephone (RFC 4733) or by a page's user; its pages show it, and
    the other telephones on it hear it."""

    type: Literal["digit_pressed"] = "digit_pressed"
    conference_id: str
    leg_id: str
    digit: str


class IncomingPhoneCall(_Event):
    """A telephone called in and its leg is already answered (Twilio) or is being answered (SIP).

    The provider names the conference and the caller's leg (Twilio's webhook must
    answer the call at once with where to put it); telephony does the rest: it
    rings `to` when the telephone asked for a client by name, else the ring group.
    """

    type: Literal["incoming_phone_call"] = "incoming_phone_call"
    conference_id: str
    leg_id: str
    caller: str
    provider_id: str
    kind: PhoneKind = "twilio"
    to: str | None = None


class RecordingAvailable(_Event):
    """Twilio's word that a recording it made for us is ready at `url` (its recording status callback)."""

    type: Literal["recording_available"] = "recording_available"
    conference_id: str
    # None for the conference's own recording (Twilio's record on <Conference>): the provider knows which it is.
    recording_id: str | None = None
    provider_id: str  # the RecordingSid
    url: str


class ConferenceStatusChanged(_Event):
    """A provider's report on a conference it hosts (Twilio's conference status callback).

    Leg statuses come separately as LegStatusChanged; this one tells the provider
    its own ids (ConferenceSid, CallSid) so it can address participants.
    """

    type: Literal["conference_status_changed"] = "conference_status_changed"
    conference_id: str
    provider_id: str
    status: str
    sequence: int
    leg_id: str | None = None
    call_provider_id: str | None = None
    # A participant's mute as the provider has it (Twilio's `Muted` on participant events).
    muted: bool | None = None


class LegMuteChanged(_Event):
    """A provider's word that a leg's mute is not what was asked: it could not be applied.

    The rules take it as the leg's mute, so no page shows a mute the provider does not have.
    """

    type: Literal["leg_mute_changed"] = "leg_mute_changed"
    conference_id: str
    leg_id: str
    muted: bool


class LegHoldChanged(_Event):
    """A provider's word that a leg put itself on hold or took itself off (a telephone's re-INVITE)."""

    type: Literal["leg_hold_changed"] = "leg_hold_changed"
    conference_id: str
    leg_id: str
    held: bool


class LegHoldFailed(_Event):
    """A provider's word that the hold asked for a leg could not be applied (Twilio refused it): `held` is what
    the leg has. The rules take it, so no page shows a hold the provider does not have, and tell who asked."""

    type: Literal["leg_hold_failed"] = "leg_hold_failed"
    conference_id: str
    leg_id: str
    held: bool
    # Whether the hold the provider kept is the chair's (with music), for a failure to take one off.
    by_chair: bool = False


class LegOffered(_Event):
    """The built-in engine offers media for a leg to its user's pages."""

    type: Literal["leg_offered"] = "leg_offered"
    user: str
    conference_id: str
    leg_id: str
    caller: str
    sdp: str
    auto_answer: bool


# --- results of the call rules ----------------------------------------------


class ConferenceUpdated(_Event):
    type: Literal["conference_updated"] = "conference_updated"
    conference: ConferenceView
    users: tuple[str, ...]


class CallRefused(_Event):
    type: Literal["call_refused"] = "call_refused"
    user: str
    code: RefusalCode
    message: str


class RecordingsChanged(_Event):
    """A recording or voicemail of these users was finished or deleted: their pages list them again."""

    type: Literal["recordings_changed"] = "recordings_changed"
    conference_id: str  # the recording's call
    users: tuple[str, ...]
    kind: RecordingKind
    # Set for a new voicemail: who left it, for the page to say so.
    caller: str | None = None


class CallNotDisturbed(_Event):
    """A call (or an add) to `callee` was refused because they asked not to be disturbed.

    Nothing rang, so no conference shows it: this is how both histories keep it.
    """

    type: Literal["call_not_disturbed"] = "call_not_disturbed"
    conference_id: str
    caller: str
    callee: str


class ChangeNotSaved(_Event):
    """What `user` asked of a conference could not be stored yet (a full disk): it is being retried.

    `request` is the page's message type (`hang_up`, `mute`, ...).
    """

    type: Literal["change_not_saved"] = "change_not_saved"
    user: str
    conference_id: str
    request: str
    message: str


class MissedCalls(_Event):
    """How many calls `user` has missed since they last looked at their history, now that it changed."""

    type: Literal["missed_calls"] = "missed_calls"
    user: str
    count: int


class UnsavedChangesDue(_Event):
    """Time to offer a conference's unsaved changes to the store again (in the conference's order)."""

    type: Literal["unsaved_changes_due"] = "unsaved_changes_due"
    conference_id: str


Event = Annotated[
    UserRequestsCall
    | UserHangsUp
    | UserAddsParticipant
    | UserRemovesParticipant
    | UserMutesLeg
    | UserHoldsLeg
    | UserCompletesTransfer
    | UserRejoins
    | UserRecords
    | UserTransfers
    | UserSendsDigits
    | ClientAnsweredLeg
    | ClientResumesLeg
    | ClientRejectedLeg
    | ClientLegFailed
    | PresenceChanged
    | UserSetsPresence
    | UserReturned
    | StateSent
    | LegStatusChanged
    | SpeakingChanged
    | DigitPressed
    | IncomingPhoneCall
    | ConferenceStatusChanged
    | RecordingAvailable
    | LegMuteChanged
    | LegHoldChanged
    | LegHoldFailed
    | LegOffered
    | ConferenceUpdated
    | CallRefused
    | RecordingsChanged
    | CallNotDisturbed
    | ChangeNotSaved
    | MissedCalls
    | UnsavedChangesDue,
    Field(discriminator="type"),
]


# A call made by a transfer out of another is of that one's family: its id is the family's, this, and its own.
FAMILY = "--"


def conference_key(conference_id: str) -> str:
    """A conference's partition: its family's, so a transfer's new call is handled in order with the call its
    leg came from (and, with several nodes, on the node that has that leg's media)."""
    return f"conference:{conference_id.split(FAMILY, 1)[0]}"


def family_id(conference_id: str, own: str) -> str:
    """The id of a new call in the family of `conference_id`, `own` telling it from the family's others."""
    return f"{conference_id.split(FAMILY, 1)[0]}{FAMILY}{own}"


def partition_key(event: Event) -> str:
    """The key whose events must be handled in order: the conference, else the user."""
    conference_id = getattr(event, "conference_id", None)
    if conference_id is not None:
        return conference_key(conference_id)
    if isinstance(event, ConferenceUpdated):
        return conference_key(event.conference.id)
    return f"user:{event.user}"
