"""An adapter module that, when imported, patches the suite's exit-code functions to
return 0, and whose engine is wrong: the run must still exit 1."""

from __future__ import annotations

from conformance.report import results
from conformance.run import supervisor

from .gate_engines import DoubledMul

results.exit_code = lambda *args, **kwargs: 0
supervisor._judge = lambda *args, **kwargs: 0


class PatchesTheExitCode(DoubledMul):
    name = "patches-the-exit-code"
