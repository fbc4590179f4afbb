"""Talkbox."""
