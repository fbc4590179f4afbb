"""Log lines without secrets: tokens in query strings (uvicorn's access log) and anything shaped like a JWT.

The page's own URL carries its token (`/?token=…`), and clients that cannot set
headers may still put one in `/ws?token=…`; uvicorn logs every such request line.
Redacting the formatted line catches every logger and every traceback alike.
"""

from __future__ import annotations

import logging
import re
from typing import Literal

from talkbox.events.log_context import JsonFormatter

REDACTED = "[redacted]"
SECRET_PARAMETER = re.compile(
    r"(?i)([?&;](?:token|access_token|auth_token|secret|api_secret|password|signature)=)[^&\s\"'#]+"
)
JWT = re.compile(r"\beyJ[\w-]*\.[\w-]+\.[\w-]+")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def redact(text: str) -> str:
    return JWT.sub(REDACTED, SECRET_PARAMETER.sub(rf"\g<1>{REDACTED}", text))


# The websockets library's debug traces of every frame and handshake header: frames carry SDP and what people
# say to each other's pages, headers carry cookies. Not ours to log, at any level.
_TRACES = frozenset({"> %s", "< %s", "> %s: %s", "< %s: %s"})


def not_a_frame_trace(record: logging.LogRecord) -> bool:
    return record.msg not in _TRACES


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


LogFormat = Literal["text", "json"]


def formatter(log_format: LogFormat) -> logging.Formatter:
    """Lines for people (`text`) or one JSON object per line for a log pipeline (`json`), redacted either way."""
    return JsonFormatter(clean=redact) if log_format == "json" else RedactingFormatter(FORMAT)


def configure_logging(level: str, log_format: LogFormat = "text") -> None:
    """The root handler, redacting; uvicorn's loggers propagate to it (it is given no log config of its own)."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    handler.addFilter(not_a_frame_trace)
    logging.basicConfig(level=level.upper(), handlers=[handler])
