"""Each person's call history, written from the conference's own updates.

`recorded` is pure: a conference's latest view, who it was sent to, the time
and the records kept so far in, the records that changed out. A record's times
are set once (the first update that shows a ring, an answer, an end), so an
update handled twice changes nothing. `HistoryHandler` is the shell: it reads
the records, writes what changed, and tells a person whose missed calls grew.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace

from talkbox.events.models import (
    TERMINAL_STATUSES,
    CallNotDisturbed,
    ConferenceUpdated,
    ConferenceView,
    Event,
    LegView,
    MissedCalls,
)
from talkbox.telephony.people import CallRecord, Outcome
from talkbox.telephony.store import ConferenceStore

# An outgoing call nobody answered, in the history's words, by the first callee's end reason.
_UNANSWERED: dict[str, Outcome] = {
    "rejected": "rejected",
    "timeout": "unanswered",
    "not-answered": "unanswered",
    "in-another-call": "busy",
    "busy-signal": "busy",
    "dnd": "busy",  # do not disturb, and the call went to their voicemail (otherwise refused: `not_disturbed`)
    "caller-canceled": "canceled",
    "hung-up": "canceled",
}


def people_on(view: ConferenceView) -> tuple[str, ...]:
    """The browser users with a leg on the conference: whose history it may be in."""
    return tuple(dict.fromkeys(leg.destination for leg in view.legs if leg.kind == "browser"))


def recorded(
    view: ConferenceView, told: tuple[str, ...], now: float, known: Mapping[str, CallRecord]
) -> list[CallRecord]:
    """The records this update changes. A person enters history once told of the call (their leg rang)."""
    changed = []
    for user in people_on(view):
        before = known.get(user)
        if before is None and user not in told:
            continue  # never rung (the chair's leg failed first, or they were removed before): not their call
        after = _record(view, user, now, before)
        if after != before:
            changed.append(after)
    return changed


def _record(view: ConferenceView, user: str, now: float, before: CallRecord | None) -> CallRecord:
    mine = [leg for leg in view.legs if leg.destination == user and leg.kind == "browser"]
    outgoing = view.chair == user
    others = [leg for leg in view.legs if leg.destination != user]
    record = before or CallRecord(
        user=user,
        conference_id=view.id,
        direction="outgoing" if outgoing else "incoming",
        peers=(view.chair,),
        started_at=now,
    )
    if outgoing:
        record = replace(record, peers=tuple(dict.fromkeys(leg.destination for leg in others)))
    answered = any(leg.status == "in-progress" for leg in (others if outgoing else mine))
    if answered and record.answered_at is None:
        record = replace(record, answered_at=now)
    over = view.status == "ended" if outgoing else all(leg.status in TERMINAL_STATUSES for leg in mine)
    if over and record.ended_at is None:
        outcome, reason = _how_it_went(record, mine, others, outgoing)
        record = replace(record, ended_at=now, outcome=outcome, end_reason=reason)
    return record


def not_disturbed(refused: CallNotDisturbed, now: float, known: Mapping[str, CallRecord]) -> list[CallRecord]:
    """A call refused for do not disturb: missed by the callee, and, if it was a call of its own, the caller's.

    Not when the person already has a record of that conference (an add refused during the chair's call).
    """
    over = {"started_at": now, "ended_at": now, "end_reason": "dnd"}
    records = [
        CallRecord(refused.caller, refused.conference_id, "outgoing", (refused.callee,), outcome="busy", **over),
        CallRecord(refused.callee, refused.conference_id, "incoming", (refused.caller,), outcome="missed", **over),
    ]
    return [record for record in records if record.user not in known]


def _how_it_went(
    record: CallRecord, mine: list[LegView], others: list[LegView], outgoing: bool
) -> tuple[Outcome, str | None]:
    my_reason = mine[-1].end_reason if mine else None
    if record.answered_at is not None:
        return "answered", my_reason
    if not outgoing:
        return ("rejected" if my_reason == "rejected" else "missed"), my_reason
    first = others[0].end_reason if others else None
    return _UNANSWERED.get(first or "", "failed"), first


@dataclass
class HistoryHandler:
    """Writes every conference update into the histories of the people on it."""

    store: ConferenceStore
    publish: Callable[[Event], Awaitable[None]]
    clock: Callable[[], float] = field(default=time.time)

    handles = (ConferenceUpdated, CallNotDisturbed)

    async def handle(self, event: Event) -> None:
        if isinstance(event, CallNotDisturbed):
            known = await self._known(event.conference_id, (event.caller, event.callee))
            changed = not_disturbed(event, self.clock(), known)
        else:
            assert isinstance(event, ConferenceUpdated)
            view = event.conference
            known = await self._known(view.id, people_on(view))
            changed = recorded(view, event.users, self.clock(), known)
        await self._save(changed, known)

    async def _known(self, conference_id: str, users: tuple[str, ...]) -> dict[str, CallRecord]:
        known = {}
        for user in users:
            record = await self.store.call_of(user, conference_id)
            if record is not None:
                known[user] = record
        return known

    async def _save(self, changed: list[CallRecord], known: dict[str, CallRecord]) -> None:
        if not changed:
            return
        await self.store.put_calls(changed)
        for record in changed:
            if record.missed and not (record.user in known and known[record.user].missed):
                await self.publish(MissedCalls(user=record.user, count=await missed_count(self.store, record.user)))


async def missed_count(store: ConferenceStore, user: str) -> int:
    """Missed calls since the person last looked at their history."""
    person = await store.person(user)
    return await store.missed_since(user, person.history_seen if person is not None else 0.0)
