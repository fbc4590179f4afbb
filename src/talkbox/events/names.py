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
