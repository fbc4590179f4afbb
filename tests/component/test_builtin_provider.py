"""The built-in provider's signalling alone, where a race needs no media to show."""

from __future__ import annotations

from typing import cast

from talkbox.events.models import Event, LegOffered, UserReturned
from talkbox.media.engine import Media
from talkbox.providers.builtin.provider import BuiltinProvider, MediaLeg
from talkbox.telephony.rules import DialLeg


def ringing(conference_id: str, leg_id: str) -> MediaLeg:
    offer = LegOffered(
        user="bob", conference_id=conference_id, leg_id=leg_id, caller="alice", sdp="v=0", auto_answer=False
    )
    return MediaLeg(DialLeg(conference_id, leg_id, "bob", "alice", False), offer=offer)


async def test_a_page_back_is_rung_again_even_while_another_call_is_dialled_meanwhile() -> None:
    """Found by the two-node bench: a leg dialled while the offers went out broke the loop (the dict changed)."""
    rung: list[str] = []

    async def publish(event: Event) -> None:
        assert isinstance(event, LegOffered)
        rung.append(event.leg_id)
        provider.legs.setdefault("l-new", ringing("c-2", "l-new"))  # a dial handled while this publish waited

    async def online(_user: str) -> bool:
        return True

    provider = BuiltinProvider(publish=publish, media=cast(Media, None), is_online=online)  # ringing asks no media
    provider.legs = {"l-1": ringing("c-1", "l-1"), "l-2": ringing("c-1", "l-2")}
    await provider.handle(UserReturned(user="bob", conference_id="c-1"))
    assert rung == ["l-1", "l-2"]
