"""The websocket messages, both ways (docs/protocol.md is their prose)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from talkbox.events.models import ConferenceView, RecordingKind

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


PageMessage = Annotated[
    Call
    | HangUpMessage
    | Answer
    | Reject
    | LegFailed
    | Add
    | Remove
    | MuteMessage
    | RejoinMessage
    | Resume
    | RecordMessage,
    Field(discriminator="type"),
]
page_message: TypeAdapter[PageMessage] = TypeAdapter(PageMessage)
PAGE_MESSAGE_TYPES = frozenset(
    {"call", "hang_up", "answer", "reject", "leg_failed", "add", "remove", "mute", "rejoin", "resume", "record"}
)

# --- server -> page -----------------------------------------------------------


class Welcome(_Message):
    type: Literal["welcome"] = "welcome"
    user: str
    provider: str


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
    code: str
    message: str


# Why a frame was not accepted: the whole vocabulary (docs/protocol.md, "Limits").
# `unavailable`: the server could not take it just now (Redis out of reach); the page may try again.
ErrorCode = Literal[
    "too_large", "invalid_json", "unknown_type", "invalid_message", "not_text", "rate_limited", "unavailable"
]


class Error(_Message):
    type: Literal["error"] = "error"
    code: ErrorCode
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
    digit: str


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


ServerMessage = (
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
)

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
