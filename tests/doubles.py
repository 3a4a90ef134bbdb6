"""Broken and partial backends built on the torch adapter, for the suite's own tests."""

from __future__ import annotations

from typing import Any

import torch

from conformance import engine as proto
from conformance.backends.torch_backend import TorchBackend
from conformance.engine.ops import ALL_OPS


class _NegWithIdentityBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor) -> torch.Tensor:
        return -a

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad  # the bug: d(-a)/da taken as +1


class WrongSignNegBackend(TorchBackend):
    """neg's backward forgets the sign: dy/dn in the worked example comes out 4, not -6."""

    name = "wrong-sign-neg"

    def neg(self, a: Any) -> Any:
        return _NegWithIdentityBackward.apply(a)


class KeepsNonLeafGradsBackend(TorchBackend):
    """Every computed tensor keeps its gradient, as if retain_grad had been called."""

    name = "keeps-non-leaf-grads"


def _retaining(op: str) -> Any:
    def method(self: TorchBackend, *args: Any, **kwargs: Any) -> Any:
        out = getattr(TorchBackend, op)(self, *args, **kwargs)
        if out.requires_grad:
            out.retain_grad()
        return out

    return method


for _op in ALL_OPS:
    setattr(KeepsNonLeafGradsBackend, _op, _retaining(_op))


class GradientsOnlyBackend(TorchBackend):
    """Declares backward only: the graph-semantics claims are unsupported, not failed."""

    name = "gradients-only"
    capabilities = frozenset({proto.BACKWARD})


class UnsupportedVectorBackwardBackend(TorchBackend):
    """backward without an output gradient on a non-scalar output raises Unsupported, not
    an error: the adapter claims the engine cannot express what NS-1 requires it to refuse."""

    name = "unsupported-vector-backward"

    def backward(self, t: Any, grad: Any = None, retain_graph: bool = False) -> None:
        if grad is None and t.numel() != 1:
            raise proto.Unsupported("no implicit output gradient for a non-scalar tensor")
        super().backward(t, grad, retain_graph)


class RaisingBackwardBackend(TorchBackend):
    """backward raises on every call, scalar outputs and explicit gradients included: an
    error, but not the one NS-1 documents."""

    name = "raising-backward"

    def backward(self, t: Any, grad: Any = None, retain_graph: bool = False) -> None:
        raise RuntimeError("this backward always fails")


class MissingMatmul:
    """Not a backend: no to_numpy, no vjp (and no ops, which alone would be allowed)."""

    name = "missing-matmul"
    capabilities: frozenset[str] = frozenset()

    def tensor(self, array: Any, dtype: str, requires_grad: bool = False) -> Any:
        return array
