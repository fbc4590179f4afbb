"""Signalling for browser legs on the built-in media engine: offers, answers, ring and connect timers."""

from talkbox.providers.builtin.provider import BuiltinProvider

__all__ = ["BuiltinProvider"]
