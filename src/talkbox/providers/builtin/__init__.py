"""The built-in media engine: WebRTC legs to browsers on aiortc, a mixer per conference."""

from talkbox.providers.builtin.engine import BuiltinProvider

__all__ = ["BuiltinProvider"]
