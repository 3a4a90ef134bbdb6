"""``python -m conformance.run.probe SETTINGS OUT``: a supervised run's first child.

It loads the adapter (import, construction, validation), collects the checks the run
will make, and writes ``OUT`` (JSON): the one-line error that stops the run, or the
checks and the engine card. It is thrown away after: whatever the adapter does while it
loads (exit, hang, patch the suite) happens here, not in the run's controller.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from conformance.engine.registry import load_backend
from conformance.errors import ConfigError
from conformance.run import settings as run_settings
from conformance.run.card import EngineCard
from conformance.run.runner import preflight, pytest_args


def main(argv: list[str]) -> int:
    settings = run_settings.from_json(Path(argv[0]).read_text(encoding="utf-8"))
    doc: dict[str, object] = {"error": "", "checks": [], "card": None}
    try:
        doc["card"] = EngineCard.of(load_backend(settings.backend, settings.device)).to_dict()
    except ConfigError as exc:
        doc["error"] = str(exc)
    else:
        collect = replace(settings, report_dir=None, workers=None, isolate=False)
        doc["error"], doc["checks"] = preflight(pytest_args(collect))
    Path(argv[1]).write_text(json.dumps(doc), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
