"""``python -m conformance.run.controller SETTINGS PROBE STAGING FD``: a supervised run's
pytest-xdist controller.

It knows the engine from the probe's card only (it never imports the adapter), has the
workers run the checks, writes the reports under ``STAGING``, and then sends the
supervisor, over the pipe ``FD`` that no worker inherits, the digest of every report
file: a file changed after that (by an engine process that outlived its check) is
caught before anything is published.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from conformance.run import settings as run_settings
from conformance.run.outcome import digests
from conformance.run.runner import run_controlled


def main(argv: list[str]) -> int:
    settings_file, probe_file, staging, fd = argv
    settings = run_settings.from_json(Path(settings_file).read_text(encoding="utf-8"))
    checks = json.loads(Path(probe_file).read_text(encoding="utf-8"))["checks"]
    code = run_controlled(settings, Path(probe_file), len(checks), Path(staging))
    with os.fdopen(int(fd), "w", encoding="utf-8") as channel:
        json.dump({"pytest_status": code, "files": digests(Path(staging))}, channel)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
