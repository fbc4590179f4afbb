"""The hold and transfer messages are checked like every other: strict booleans, capped ids, nothing extra."""

from __future__ import annotations

import pytest

from talkbox.ui.protocol import CompleteTransferMessage, Error, HoldMessage, parse_frame

MAX = 16_384


def parsed(text: str) -> object:
    return parse_frame(text, MAX)


@pytest.mark.parametrize("held", ["1", "0", '"yes"', '"true"', "null", "[true]", "1.0"])
def test_hold_takes_only_true_or_false(held: str) -> None:
    reply = parsed(f'{{"type": "hold", "conference_id": "c-1", "leg_id": "l-1", "held": {held}}}')
    assert isinstance(reply, Error) and reply.code == "invalid_message" and "held" in reply.message


@pytest.mark.parametrize(
    "frame",
    [
        '{"type": "hold", "conference_id": "c-1", "leg_id": "l-1"}',  # no held
        '{"type": "hold", "conference_id": "../c-1", "leg_id": "l-1", "held": true}',
        '{"type": "hold", "conference_id": "c-1", "leg_id": "' + "l" * 65 + '", "held": true}',
        '{"type": "hold", "conference_id": "c-1", "leg_id": "l-1", "held": true, "user": "bob"}',
        '{"type": "complete_transfer", "conference_id": "c-1"}',
        '{"type": "complete_transfer", "conference_id": "c 1", "leg_id": "l-1"}',
        '{"type": "complete_transfer", "conference_id": "c-1", "leg_id": "l-1", "to": "carol"}',
    ],
)
def test_a_malformed_hold_or_transfer_is_refused_with_a_reason(frame: str) -> None:
    reply = parsed(frame)
    assert isinstance(reply, Error) and reply.code == "invalid_message", reply


def test_well_formed_ones_are_taken() -> None:
    hold = parsed('{"type": "hold", "conference_id": "c-1", "leg_id": "l-1", "held": false}')
    assert hold == HoldMessage(type="hold", conference_id="c-1", leg_id="l-1", held=False)
    transfer = parsed('{"type": "complete_transfer", "conference_id": "c-1", "leg_id": "l-1"}')
    assert transfer == CompleteTransferMessage(type="complete_transfer", conference_id="c-1", leg_id="l-1")
