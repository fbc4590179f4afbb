"""What a user name and a destination look like, shared by everyone who checks one."""

from __future__ import annotations

import re

CLIENT_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
E164_NUMBER = re.compile(r"\+[1-9][0-9]{6,14}")


def is_client_name(destination: str) -> bool:
    return CLIENT_NAME.fullmatch(destination) is not None


def is_valid_destination(destination: str) -> bool:
    return is_client_name(destination) or E164_NUMBER.fullmatch(destination) is not None


def is_e164(destination: str) -> bool:
    return E164_NUMBER.fullmatch(destination) is not None


def ring_group(value: object, setting: str) -> object:
    """A ring group as a setting gives it ("alice, bob"): client names, or a clear error naming the setting."""
    if isinstance(value, str):
        value = tuple(name.strip() for name in value.split(",") if name.strip())
    if isinstance(value, (tuple, list)):
        bad = [name for name in value if not isinstance(name, str) or not is_client_name(name)]
        if bad:
            raise ValueError(f"{setting}: not client names: {', '.join(map(str, bad))}")
        return tuple(value)
    return value
