"""The call model: every call is a conference of legs (DESIGN.md, "The call model")."""

from __future__ import annotations

from dataclasses import dataclass, replace

from talkbox.events.models import (
    TERMINAL_STATUSES,
    ConferenceView,
    LegKind,
    LegStatus,
    LegView,
    RecordingKind,
    TransferView,
)


@dataclass(frozen=True)
class Leg:
    id: str
    destination: str
    status: LegStatus = "queued"
    sequence: int = 0
    muted: bool = False
    end_reason: str | None = None
    provider_id: str | None = None
    # Why Talkbox asked for this leg to end, kept until the provider reports it ended:
    # a provider that cannot say why (Twilio says only "completed") gets this reason.
    hang_up_reason: str | None = None
    # Talkbox has asked the provider to dial it. A leg is dialled once, and a leg the
    # provider has had ends only by the provider's report (else its phone rings on).
    dialled: bool = False
    # A browser (its destination is a user's name) or a telephone (an E.164 number) over SIP or Twilio.
    kind: LegKind = "browser"
    # On hold: left out of everyone's mix. Not a status, since statuses only move forward and a hold comes and goes.
    held: bool = False
    # Who held it: the chair (the held party hears music) or its own user (away on another call: hears nothing).
    held_by_chair: bool = False
    # The conference this leg left for, transferred out of a call of more than two (or back from the new
    # call when its target did not answer): no longer on this call, though its own call goes on there.
    left_for: str | None = None

    @property
    def ended(self) -> bool:
        """Over as far as this conference goes: ended for good, or gone on to another conference."""
        return self.status in TERMINAL_STATUSES or self.left_for is not None

    @property
    def talking(self) -> bool:
        """Connected, not on hold, and on this call: where its user's voice goes now."""
        return self.status == "in-progress" and not self.held and self.left_for is None


@dataclass(frozen=True)
class Transfer:
    """A blind transfer under way: `leg_id` waits (hearing ringback) while `target_leg_id` rings.

    Kept until the target answers. If it does not, `by` is rung again on `recall_leg_id`
    (`recalling`); if that is not answered either, the transferred leg is hung up.
    """

    by: str
    leg_id: str
    target_leg_id: str
    recall_leg_id: str
    # Whether `by` was the chair: answering the recall makes them the chair again.
    by_chair: bool
    recalling: bool = False
    # Transferred out of a call of more than two into this new one: the conference the leg goes back to
    # if the target does not answer (instead of recalling `by`, whose call goes on without it).
    back_to: str | None = None


@dataclass(frozen=True)
class Taping:
    """A recording in progress: a call's (the chair started it) or a voicemail (a caller leaving a message).

    `owners` are who may hear it: everyone who was on the call while it was recorded, or the voicemail's callee.
    """

    id: str
    kind: RecordingKind
    owners: tuple[str, ...]


@dataclass(frozen=True)
class Conference:
    id: str
    chair_leg_id: str
    legs: tuple[Leg, ...]
    provider_id: str | None = None
    end_reason: str | None = None
    # Legs rung together for one incoming call: the first to answer takes it.
    ring_group: tuple[str, ...] = ()
    # The voicemail the callee's missed call would become (its id, minted with the call); None: none.
    voicemail_id: str | None = None
    taping: Taping | None = None
    # Every recording this conference has had, so a start delivered again does not record twice.
    recorded: tuple[str, ...] = ()
    transfer: Transfer | None = None
    # The new calls parties of this one were transferred into, so a transfer delivered again makes none twice.
    spun_off: tuple[str, ...] = ()

    @property
    def ended(self) -> bool:
        return all(leg.ended for leg in self.legs)

    @property
    def chair(self) -> Leg:
        return self.leg(self.chair_leg_id)

    def leg(self, leg_id: str) -> Leg:
        return next(leg for leg in self.legs if leg.id == leg_id)

    def has_leg(self, leg_id: str) -> bool:
        return any(leg.id == leg_id for leg in self.legs)

    def live_legs(self) -> tuple[Leg, ...]:
        return tuple(leg for leg in self.legs if not leg.ended)

    def live_leg_of(self, user: str) -> Leg | None:
        return next((leg for leg in self.live_legs() if leg.destination == user), None)

    def with_leg(self, new: Leg) -> Conference:
        return replace(self, legs=tuple(new if leg.id == new.id else leg for leg in self.legs))

    def members(self) -> tuple[str, ...]:
        """The browser users on this conference: the chair, and whoever has a live leg that was rung.

        A leg the provider has never reported on was never dialled: its user has
        not been rung and learns nothing of the call. A user whose leg has ended
        (removed, rejected, hung up) is no longer a member; the rules tell them of
        that end, and nothing after it. The chair stays one while the conference
        goes on, having dropped or not: a dropped chair may rejoin.
        """
        rung = (leg for leg in self.live_legs() if leg.sequence > 0)
        return tuple(dict.fromkeys(leg.destination for leg in (self.chair, *rung) if leg.kind == "browser"))

    def view(self) -> ConferenceView:
        return ConferenceView(
            id=self.id,
            chair=self.chair.destination,
            status="ended" if self.ended else "active",
            end_reason=self.end_reason,
            recording=self.taping.kind if self.taping is not None and not self.ended else None,
            # A leg gone to another conference is not on this call: its pages show it gone (back, if it returns).
            legs=tuple(
                LegView(
                    id=leg.id,
                    destination=leg.destination,
                    status=leg.status,
                    kind=leg.kind,
                    muted=leg.muted,
                    held=leg.held,
                    held_by_chair=leg.held_by_chair,
                    end_reason=leg.end_reason,
                )
                for leg in self.legs
                if leg.left_for is None
            ),
            transfer=self._transfer_view(),
        )

    def _transfer_view(self) -> TransferView | None:
        transfer = self.transfer
        if transfer is None:
            return None
        target = self.leg(transfer.target_leg_id).destination
        return TransferView(by=transfer.by, to=target, status="recalling" if transfer.recalling else "ringing")
