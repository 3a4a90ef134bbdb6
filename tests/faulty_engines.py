"""Engines that break in one op, built on the torch adapter: the suite must fail the claims
that use the op, say so, and still finish its run and write its results.

The faults are generic on purpose (an engine's error text rarely names the op), so the
tests see what the suite itself reports. It does not name the faulty op today: a raise
reports the engine's exception, a hang the time limit, a NaN or a wrong shape the stage
that read the value. Naming it would take the plugin finding the innermost frame of an
adapter op method in the failure's traceback (or in the frame the timer interrupted),
and, for NaN and shapes, re-running the failing case op by op against the oracle.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from conformance.backends.torch_backend import TorchBackend

from .doubles import WrongSignNegBackend


class EngineFault(RuntimeError):
    """What a crashing engine raises."""


class RaisingPowBackend(TorchBackend):
    """pow crashes. LR-1 (its loss squares the residual) uses pow; GR-1 does not."""

    name = "raising-pow"

    def pow(self, a: Any, exponent: float) -> Any:
        raise EngineFault("internal error 0x2a")


class NanSubBackend(TorchBackend):
    """sub returns NaN everywhere. LR-1 (y - y_pred) uses sub; GR-1 (m + (-n)) does not."""

    name = "nan-sub"

    def sub(self, a: Any, b: Any) -> Any:
        return torch.sub(a, b) * torch.nan


class WrongShapeMulBackend(TorchBackend):
    """mul adds a trailing axis. NS-1 (x * x with an output gradient of x's shape) and
    LR-1 (w * x, then y - y_pred broadcasts to a matrix) fail; LR-3 passes, as its only
    product is summed, which hides the extra axis."""

    name = "wrong-shape-mul"

    def mul(self, a: Any, b: Any) -> Any:
        return torch.mul(a, b).unsqueeze(-1)


class HangingNegBackend(TorchBackend):
    """neg never returns. GR-1's worked example uses neg; LR-1 does not."""

    name = "hanging-neg"

    def neg(self, a: Any) -> Any:
        while True:  # until the suite's per-check time limit interrupts it
            time.sleep(3600)


class ChattyWrongSignNeg(WrongSignNegBackend):
    """neg's backward is wrong, and every neg prints 2 MB: the console and the reports
    must keep only the head of that output per failing check."""

    name = "chatty-wrong-sign-neg"

    def neg(self, a: Any) -> Any:
        print("x" * 2_000_000)
        return super().neg(a)
