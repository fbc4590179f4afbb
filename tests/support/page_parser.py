"""The page's own validator of server frames (web/src/generated/validate.js), run in node on frames from Python."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

WEB = Path(__file__).resolve().parents[2] / "web"
VALIDATOR = WEB / "src" / "generated" / "validate.js"

# Each frame as the page's parseServerFrame takes it: the frame itself, or null when the page refuses it.
_READ = """
import { validateServerMessage } from %s;
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const frames = JSON.parse(Buffer.concat(chunks).toString("utf8"));
process.stdout.write(JSON.stringify(frames.map((frame) => (validateServerMessage(frame) ? frame : null))));
"""


def page_reads(frames: list[Any]) -> list[Any]:
    """What the page reads of each frame (None: it refuses it), in one node process for all of them."""
    script = _READ % json.dumps(VALIDATOR.as_uri())
    done = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        input=json.dumps(frames),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
