"""A lazily evaluated engine, on torch: an op records what to compute, and the value is
computed when it is read (``to_numpy``) or differentiated (``backward``), from the
leaves' values at that moment. Everything else is eager torch.

It breaks the seed's first point, that an operation runs as soon as it is written: a
value computed before an in-place update of its inputs reads as if computed after it.
DG-1's stale-read check and LR-4's loss (read after the update, as the seed reads it)
must catch it; nothing else about it is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from conformance.backends.torch_backend import TorchBackend
from conformance.engine.ops import ALL_OPS


class Lazy:
    """A value not computed yet: ``force()`` computes it from the current leaves."""

    def __init__(self, compute: Callable[[], torch.Tensor]) -> None:
        self.compute = compute

    def force(self) -> torch.Tensor:
        return self.compute()


def _force(x: Any) -> Any:
    return x.force() if isinstance(x, Lazy) else x


def _lazy(name: str) -> Callable[..., Lazy]:
    def op(self: Any, *args: Any) -> Lazy:
        eager = getattr(TorchBackend, name)
        return Lazy(lambda: eager(self, *(_force(a) for a in args)))

    return op


OPS = ALL_OPS  # every op of the protocol, the extra group included


class LazyBackend(TorchBackend):
    name = "lazy"
    # the ops and capabilities the seed's checks need; graph introspection is left out
    capabilities = frozenset({"backward", "zero_grad", "inplace_update", "is_leaf"})

    def to_numpy(self, t: Any) -> np.ndarray:
        return super().to_numpy(_force(t))

    def backward(self, t: Any, grad: Any = None, retain_graph: bool = False) -> None:
        super().backward(_force(t), grad, retain_graph)

    def is_leaf(self, t: Any) -> bool:
        return not isinstance(t, Lazy) and super().is_leaf(t)

    def grad(self, t: Any) -> Any:
        return None if isinstance(t, Lazy) else super().grad(t)


for _op in OPS:
    setattr(LazyBackend, _op, _lazy(_op))
