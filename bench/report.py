"""Print the tables of saved results again: `python -m bench.report bench/results/FILE.json ...`."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from bench.common import table


def main(paths: list[str]) -> None:
    for path in paths:
        document = json.loads(Path(path).read_text())
        machine = document["machine"]
        print(f"<!-- {Path(path).name}: {document['started']}, {machine['cpu']}, {machine['cores']} cores, "
              f"load at start {' '.join(machine['loadavg_at_start'])}, runs {document['runs']} -->\n")
        for name, result in document["results"].items():
            module = importlib.import_module(f"bench.{name.replace('-', '_')}")
            for title, header, rows in module.tables(result):
                print(table(title, header, rows))
            print(f"<!-- {name}: {result['seconds']} s, load after {' '.join(result['loadavg_after'])} -->\n")


if __name__ == "__main__":
    main(sys.argv[1:])
