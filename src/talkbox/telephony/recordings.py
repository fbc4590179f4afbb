"""The index of recordings and voicemails, and each user's voicemail setting: what the stores keep of them.

The audio itself is a file under TALKBOX_RECORDINGS named by the recording's id alone, which Talkbox mints
(`r-`/`v-` and hex): no name a browser sends ever becomes a path. Who may hear a recording is its `owners`,
set by the call rules: everyone who was on the call while it was recorded, or a voicemail's callee.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace
from typing import Protocol

from pydantic import TypeAdapter

from talkbox.events.models import RecordingKind

# The ids Talkbox mints: anything else is refused before the index is even asked.
RECORDING_ID = re.compile(r"^[rv]-[0-9a-f]{16}$")


@dataclass(frozen=True)
class Recording:
    id: str
    kind: RecordingKind
    conference_id: str
    owners: tuple[str, ...]
    caller: str  # who placed the call; for a voicemail, who left it
    started_at: float
    ended_at: float | None = None  # None while it is being recorded
    heard_by: tuple[str, ...] = ()  # owners who have played it: a voicemail nobody heard is new

    @property
    def file_name(self) -> str:
        return file_name(self.id)

    def without(self, user: str) -> Recording:
        return replace(self, owners=tuple(o for o in self.owners if o != user))


class RecordingIndex(Protocol):
    """What every store keeps of recordings, beside conferences."""

    async def put_recording(self, recording: Recording) -> None:
        """Add or replace; raises StoreUnavailable when it could not be stored."""
        ...

    async def recording(self, recording_id: str) -> Recording | None: ...

    async def recordings_of(self, user: str) -> list[Recording]:
        """Every recording `user` owns, newest first."""
        ...

    async def delete_recording(self, recording_id: str) -> None: ...

    async def voicemail_on(self, user: str) -> bool:
        """On unless the user turned it off."""
        ...

    async def set_voicemail(self, user: str, on: bool) -> None: ...


def file_name(recording_id: str) -> str:
    return f"{recording_id}.ogg"


def newest_first(recordings: list[Recording]) -> list[Recording]:
    return sorted(recordings, key=lambda r: (r.started_at, r.id), reverse=True)


_recording = TypeAdapter(Recording)


def recording_to_json(recording: Recording) -> str:
    return json.dumps(asdict(recording), separators=(",", ":"))


def recording_from_json(text: str | bytes) -> Recording:
    """Checked field by field: a bad row raises ValueError."""
    return _recording.validate_python(json.loads(text))
