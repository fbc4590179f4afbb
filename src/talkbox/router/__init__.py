"""The consumer pool that hands events from the bus to the handlers that want them."""

from talkbox.router.dead_letters import DeadLetter, DeadLetters
from talkbox.router.pool import Handler, Router

__all__ = ["DeadLetter", "DeadLetters", "Handler", "Router"]
