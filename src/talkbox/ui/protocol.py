"""The websocket messages, both ways (docs/protocol.md is their prose)."""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from talkbox.events.models import ConferenceView, RecordingKind, RefusalCode, open_vocabulary

Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
Sdp = Annotated[str, StringConstraints(min_length=1, max_length=12_000)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- page -> server -----------------------------------------------------------


class _PageMessage(_Message):
    # Strict: JSON's own types only, so `"muted": 1` or `"yes"` is refused rather than read as true.
    model_config = ConfigDict(strict=True)


class Call(_PageMessage):
    type: Literal["call"]
    # Checked by the call rules, so a bad name is refused with a reason rather than an error.
    to: Annotated[str, StringConstraints(max_length=200)]


class HangUpMessage(_PageMessage):
    type: Literal["hang_up"]
    conference_id: Id


class Answer(_PageMessage):
    type: Literal["answer"]
    leg_id: Id
    sdp: Sdp


class Reject(_PageMessage):
    type: Literal["reject"]
    leg_id: Id


class LegFailed(_PageMessage):
    type: Literal["leg_failed"]
    leg_id: Id
    reason: Literal["microphone", "media"]


class Add(_PageMessage):
    type: Literal["add"]
    conference_id: Id
    to: Annotated[str, StringConstraints(max_length=200)]


class Remove(_PageMessage):
    type: Literal["remove"]
    conference_id: Id
    leg_id: Id


class MuteMessage(_PageMessage):
    type: Literal["mute"]
    conference_id: Id
    leg_id: Id
    muted: bool


class HoldMessage(_PageMessage):
    """Hold a leg or take it off hold: your own (switching calls), or anyone's if you are the chair."""

    type: Literal["hold"]
    conference_id: Id
    leg_id: Id
    held: bool


class CompleteTransferMessage(_PageMessage):
    """The chair completes an attended transfer: `leg_id`, on hold, is left talking to whoever was added."""

    type: Literal["complete_transfer"]
    conference_id: Id
    leg_id: Id


class RejoinMessage(_PageMessage):
    type: Literal["rejoin"]
    conference_id: Id


class Resume(_PageMessage):
    type: Literal["resume"]
    leg_id: Id


class RecordMessage(_PageMessage):
    """The chair starts (`on`) or stops recording the call."""

    type: Literal["record"]
    conference_id: Id
    on: bool


class TransferMessage(_PageMessage):
    """A blind transfer: the other party of my call of two is handed to `to`, and I leave.

    With `leg_id`, the chair of a larger call hands that participant to `to` (a call of their own) and stays.
    """

    type: Literal["transfer"]
    conference_id: Id
    to: Annotated[str, StringConstraints(max_length=200)]
    leg_id: Id | None = None


class DtmfMessage(_PageMessage):
    type: Literal["dtmf"]
    conference_id: Id
    # A keypad's keys only (A-D are not on it); a few at once, for a pasted PIN.
    digits: Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[0-9*#]+$")]


class SetPresence(_PageMessage):
    """Do not disturb on (`dnd`) or off (`available`), for every page of the user."""

    type: Literal["set_presence"]
    status: Literal["available", "dnd"]


class DirectoryRequest(_PageMessage):
    """Send me the directory (`presence`, complete) and my missed calls, then who changes as they do."""

    type: Literal["directory"]


class LegStatsRequest(_PageMessage):
    """The chair asks for the server's view of each leg of their conference (the media engine's)."""

    type: Literal["leg_stats"]
    conference_id: Id


MAX_HISTORY_PAGE = 50


class HistoryRequest(_PageMessage):
    """A page of the user's call history: the newest calls, or those started before `before`."""

    type: Literal["history"]
    before: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_HISTORY_PAGE)] = 20


class HistorySeen(_PageMessage):
    """The user has looked at their history: missed calls until now are no longer new."""

    type: Literal["history_seen"]


PageMessage = Annotated[
    Call
    | HangUpMessage
    | Answer
    | Reject
    | LegFailed
    | Add
    | Remove
    | MuteMessage
    | HoldMessage
    | CompleteTransferMessage
    | RejoinMessage
    | Resume
    | RecordMessage
    | TransferMessage
    | DtmfMessage
    | SetPresence
    | LegStatsRequest
    | DirectoryRequest
    | HistoryRequest
    | HistorySeen,
    Field(discriminator="type"),
]
page_message: TypeAdapter[PageMessage] = TypeAdapter(PageMessage)
# Read off the union, so that a message added to it is known to parse_frame too.
PAGE_MESSAGE_TYPES = frozenset(
    get_args(model.model_fields["type"].annotation)[0] for model in get_args(get_args(PageMessage)[0])
)

# --- server -> page -----------------------------------------------------------


class IceServer(_Message):
    """An RTCIceServer for the page's RTCPeerConnection: TURN, with credentials for this user."""

    urls: list[str]
    username: str
    credential: str


class Welcome(_Message):
    type: Literal["welcome"] = "welcome"
    user: str
    provider: str
    ice_servers: list[IceServer] = []


class ConferenceMessage(_Message):
    type: Literal["conference"] = "conference"
    conference: ConferenceView


class Offer(_Message):
    type: Literal["offer"] = "offer"
    conference_id: str
    leg_id: str
    caller: str
    sdp: str
    auto_answer: bool


class Refused(_Message):
    type: Literal["refused"] = "refused"
    code: Annotated[RefusalCode, open_vocabulary("RefusalCode")]
    message: str


# Why a frame was not accepted: the whole vocabulary (docs/protocol.md, "Limits").
# `unavailable`: the server could not take it just now (Redis out of reach); the page may try again.
ErrorCode = Literal[
    "too_large", "invalid_json", "unknown_type", "invalid_message", "not_text", "rate_limited", "unavailable"
]


class Error(_Message):
    # Its name in the page's generated types, where `Error` is JavaScript's own.
    model_config = ConfigDict(title="ErrorMessage")

    type: Literal["error"] = "error"
    code: Annotated[ErrorCode, open_vocabulary("ErrorCode")]
    message: str


class Retrying(_Message):
    """A request the server took but could not save yet (its disk is full, say): it keeps trying.

    `request` is the page message it was (`hang_up`, `add`, `remove`, `mute`, `rejoin`).
    """

    type: Literal["retrying"] = "retrying"
    conference_id: str
    request: str
    message: str


class Speaking(_Message):
    """Who is speaking in a conference, from the media engine's levels: at most four a second."""

    type: Literal["speaking"] = "speaking"
    conference_id: str
    legs: tuple[str, ...]


class Digit(_Message):
    """A key pressed on a telephone on the conference (RFC 4733), one message per key."""

    type: Literal["digit"] = "digit"
    conference_id: str
    leg_id: str
    digit: Annotated[str, StringConstraints(pattern=r"^[0-9*#A-D]$")]  # RFC 4733's sixteen events


class RecordingsChangedMessage(_Message):
    """A recording or voicemail of this user was finished: the page lists them again (GET /api/recordings).

    `caller` is set for a new voicemail: who left it.
    """

    type: Literal["recordings_changed"] = "recordings_changed"
    kind: RecordingKind
    caller: str | None = None


class Resync(_Message):
    """The page asked to catch up from a sequence the server no longer keeps: the snapshot that follows is all."""

    type: Literal["resync"] = "resync"


class Synced(_Message):
    """The state after a (re)connect is complete: these are all the conferences the user is on.

    A call the page shows that is not listed ended while it was away.
    """

    type: Literal["synced"] = "synced"
    conferences: tuple[str, ...]


PresenceStatus = Literal["online", "in_call", "dnd", "offline"]


class PersonStatus(_Message):
    name: str
    status: PresenceStatus


class PresenceMessage(_Message):
    """People in the directory and how each stands: all this page may see (`complete`), or one who changed."""

    type: Literal["presence"] = "presence"
    people: tuple[PersonStatus, ...]
    complete: bool


CallOutcome = Literal["answered", "missed", "rejected", "unanswered", "busy", "canceled", "failed"]


class CallEntry(_Message):
    """One call of the user's history; times are seconds since the epoch, `outcome` null while it goes on."""

    conference_id: str
    direction: Literal["incoming", "outgoing"]
    peers: tuple[str, ...]
    started_at: float
    answered_at: float | None
    ended_at: float | None
    outcome: CallOutcome | None
    end_reason: str | None


class HistoryPage(_Message):
    """The answer to `history`: newest first; `before` asks for the next page, null when this was the last."""

    type: Literal["history"] = "history"
    calls: tuple[CallEntry, ...]
    before: float | None


class LegStats(_Message):
    """One leg as the media engine sees it (docs/protocol.md, `leg_stats`)."""

    leg_id: str
    buffered: bool
    delay_ms: float
    target_ms: float
    received: int
    concealed: int
    late: int
    dropped: int
    loss: float
    peer_round_trip_ms: float | None
    peer_loss: float | None
    peer_jitter_ms: float | None


class LegStatsMessage(_Message):
    type: Literal["leg_stats"] = "leg_stats"
    conference_id: str
    legs: tuple[LegStats, ...]


class Missed(_Message):
    """How many calls the user missed since they last looked at their history (the badge)."""

    type: Literal["missed"] = "missed"
    count: Annotated[int, Field(ge=0)]


ServerMessage = Annotated[
    Welcome
    | ConferenceMessage
    | Offer
    | Refused
    | Error
    | Retrying
    | Speaking
    | Digit
    | RecordingsChangedMessage
    | Resync
    | Synced
    | PresenceMessage
    | HistoryPage
    | Missed
    | LegStatsMessage,
    Field(discriminator="type"),
]
# What the page's validator is generated from (talkbox.ui.schema): a message added to the union is all it takes.
server_message: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)


class CloseCode(IntEnum):
    """Why the server closed a page's socket (docs/protocol.md): the page decides by it whether to come back."""

    SERVICE_RESTART = 1012  # uvicorn's, when Talkbox stops gracefully: reconnect, the calls go on
    TRY_AGAIN = 1013  # RFC 6455's "try again later"
    MOVING = 4012  # this node is draining: reconnect (to another node); the calls' media stays where it is
    UNAUTHORIZED = 4401  # a bad or missing identity: do not reconnect
    TOO_SLOW = 4408  # the page fell too far behind reading its messages: reconnect
    TOO_MANY_SOCKETS = 4429  # the user has as many pages open as allowed: do not reconnect


# --- reading a frame ------------------------------------------------------------


def parse_frame(text: str, max_bytes: int) -> PageMessage | Error:
    """A page message, or the error to answer: never an exception, whatever the page sent.

    One place decides what a frame means, so the gateway's loop has nothing
    that can raise on bad input (a raise there would drop the socket).
    """
    if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        return Error(code="too_large", message=f"messages are capped at {max_bytes} bytes")
    raw = _json(text)
    if isinstance(raw, Error):
        return raw
    kind = raw.get("type") if isinstance(raw, dict) else None
    if not isinstance(kind, str) or kind not in PAGE_MESSAGE_TYPES:
        return Error(code="unknown_type", message=f"unknown message type {_shown(kind)}")
    try:
        return page_message.validate_python(raw)
    except ValidationError as error:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:3])
        return Error(code="invalid_message", message=details[:300])
    except RecursionError:
        return Error(code="invalid_message", message="nested too deeply")


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:  # "[[[[…" nested past Python's recursion limit
        return Error(code="invalid_json", message="nested too deeply")
    except ValueError:  # not JSON, or an integer of thousands of digits
        return Error(code="invalid_json", message="a message must be a JSON object")


def _shown(kind: object) -> str:
    """The type as the error repeats it: a short string, or just what JSON type it was."""
    if isinstance(kind, str):
        return repr(kind[:64])
    return "null" if kind is None else f"of JSON type {type(kind).__name__}"
