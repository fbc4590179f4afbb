"""Twilio's call statuses in Talkbox's vocabulary (docs/protocol.md, leg end reasons)."""

from __future__ import annotations

from talkbox.events.models import LegStatus

STATUSES: dict[str, LegStatus] = {
    "queued": "queued",
    "initiated": "initiated",
    "ringing": "ringing",
    "answered": "in-progress",
    "in-progress": "in-progress",
    "completed": "completed",
    "busy": "busy",
    "no-answer": "no-answer",
    "canceled": "canceled",
    "failed": "failed",
}

# Twilio says how a call ended, not why; these say no more than Twilio's own
# words: busy "received a busy signal", no-answer "no answer or the call was
# rejected" (so neither is a rejection, nor a timeout, Talkbox can vouch for).
# When Talkbox itself hung a leg up, the rules keep the reason it gave instead.
END_REASONS: dict[str, str] = {
    "completed": "hung-up",
    "busy": "busy-signal",
    "no-answer": "not-answered",
    "failed": "unavailable",
    "canceled": "caller-canceled",
}


def leg_status(twilio_status: str | None) -> LegStatus | None:
    return STATUSES.get((twilio_status or "").lower())


def end_reason(status: LegStatus) -> str | None:
    return END_REASONS.get(status)


def sequence(twilio_sequence: int | None) -> int:
    """Twilio counts from 0; the rules count from 1 (a leg's 0 means no report accepted yet)."""
    return (twilio_sequence or 0) + 1
