"""Engines that end or freeze their own process inside the backward pass of one op (neg).

Isolation must contain each: GR-1 (whose worked example negates n) gets the verdict
*error* naming the cause, and every other claim its normal verdict. A backward that calls
``os._exit`` is as hostile as it gets: no exception, no cleanup, any exit status.
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Callable
from typing import Any

import torch

from conformance.backends.torch_backend import TorchBackend


def _hang_in_native_code() -> None:
    """Block in C with the alarm and interrupt signals masked: only SIGKILL ends this."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGINT, signal.SIGTERM})
    ctypes.CDLL(None).pause()


def _segfault() -> None:
    ctypes.string_at(0)


def _neg_with_backward(action: Callable[[], None]) -> type[torch.autograd.Function]:
    class Neg(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, a: torch.Tensor) -> torch.Tensor:
            return -a

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
            action()
            return -grad

    return Neg


def hostile(name: str, action: Callable[[], None]) -> type[TorchBackend]:
    function = _neg_with_backward(action)

    class Hostile(TorchBackend):
        def neg(self, a: Any) -> Any:
            return function.apply(a)

    Hostile.name = name
    Hostile.__name__ = Hostile.__qualname__ = name
    return Hostile


ExitZero = hostile("ExitZero", lambda: os._exit(0))
ExitThree = hostile("ExitThree", lambda: os._exit(3))
Abort = hostile("Abort", os.abort)
Segfault = hostile("Segfault", _segfault)
NativeHang = hostile("NativeHang", _hang_in_native_code)


class DiesInWorkers(TorchBackend):
    """Loads in the command's process but kills every worker process as it starts: the
    run must end (its dead workers are bounded), not replace workers forever."""

    name = "dies-in-workers"

    def __init__(self, device: str = "cpu") -> None:
        if "PYTEST_XDIST_WORKER" in os.environ:
            os._exit(1)
        super().__init__(device)
