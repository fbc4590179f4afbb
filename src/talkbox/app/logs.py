"""Log lines without secrets: tokens in query strings (uvicorn's access log) and anything shaped like a JWT.

The page's own URL carries its token (`/?token=…`), and clients that cannot set
headers may still put one in `/ws?token=…`; uvicorn logs every such request line.
Redacting the formatted line catches every logger and every traceback alike.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
SECRET_PARAMETER = re.compile(
    r"(?i)([?&;](?:token|access_token|auth_token|secret|api_secret|password|signature)=)[^&\s\"'#]+"
)
JWT = re.compile(r"\beyJ[\w-]*\.[\w-]+\.[\w-]+")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def redact(text: str) -> str:
    return JWT.sub(REDACTED, SECRET_PARAMETER.sub(rf"\g<1>{REDACTED}", text))


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(level: str) -> None:
    """The root handler, redacting; uvicorn's loggers propagate to it (it is given no log config of its own)."""
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])
