"""Event types and the bus: the only way Talkbox's components talk to each other."""

from talkbox.events.bus import Bus, Delivery, InProcessBus
from talkbox.events.models import (
    CallRefused,
    ClientAnsweredLeg,
    ClientLegFailed,
    ClientRejectedLeg,
    ConferenceUpdated,
    Event,
    LegOffered,
    LegStatusChanged,
    PresenceChanged,
    UserAddsParticipant,
    UserHangsUp,
    UserMutesLeg,
    UserRejoins,
    UserRemovesParticipant,
    UserRequestsCall,
    partition_key,
)

__all__ = [
    "Bus",
    "CallRefused",
    "ClientAnsweredLeg",
    "ClientLegFailed",
    "ClientRejectedLeg",
    "ConferenceUpdated",
    "Delivery",
    "Event",
    "InProcessBus",
    "LegOffered",
    "LegStatusChanged",
    "PresenceChanged",
    "UserAddsParticipant",
    "UserHangsUp",
    "UserMutesLeg",
    "UserRejoins",
    "UserRemovesParticipant",
    "UserRequestsCall",
    "partition_key",
]
