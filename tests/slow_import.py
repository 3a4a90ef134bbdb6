"""An adapter module whose import takes a minute (as a large engine's can): a run
interrupted while loading it must still end in one line. It marks the folder it is
run from (the run's own processes work elsewhere) once the import is under way, so a
test knows when to interrupt."""

from __future__ import annotations

import os
import time
from pathlib import Path

from conformance.backends.torch_backend import TorchBackend

Path(os.environ.get("AUTOGRAD_CONFORMANCE_CALLER_DIR", "."), "importing").touch()
time.sleep(60)


class Backend(TorchBackend):
    name = "slow-import"
