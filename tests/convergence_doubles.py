"""Backends with a backward bug that only shows in training: each must fail LR-4 or LR-5.

Each double is the torch adapter with one op's backward replaced through
``torch.autograd.Function``; forward values stay right, so only the gradient (and hence
the trajectory) is wrong.
"""

from __future__ import annotations

from typing import Any

import torch

from conformance.backends.torch_backend import TorchBackend


class _HalfMean(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor) -> torch.Tensor:
        ctx.shape, ctx.count = a.shape, a.numel()
        return a.mean()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return 0.5 * grad.expand(ctx.shape) / ctx.count  # the bug: half the gradient


class _UndividedMean(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor) -> torch.Tensor:
        ctx.shape = a.shape
        return a.mean()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad.expand(ctx.shape).clone()  # the bug: the sum's gradient, not the mean's


def _reduce_to(grad: torch.Tensor, shape: torch.Size, how: str) -> torch.Tensor:
    """Undo broadcasting, wrongly: ``how`` says what replaces the sum over broadcast rows."""
    lead = grad.dim() - len(shape)
    dims = [
        *range(lead),
        *(lead + i for i, s in enumerate(shape) if s == 1 and grad.shape[lead + i] != 1),
    ]
    for d in sorted(dims, reverse=True):
        if how == "mean":
            grad = grad.mean(dim=d, keepdim=d >= lead)
        else:  # "first": the first broadcast copy's gradient only
            grad = grad.narrow(d, 0, 1)
            grad = grad if d >= lead else grad.squeeze(d)
    return grad.reshape(shape)


class _BroadcastMul(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor, how: str) -> torch.Tensor:
        ctx.save_for_backward(a, b)
        ctx.how = how
        return a * b

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        a, b = ctx.saved_tensors
        return _reduce_to(grad * b, a.shape, ctx.how), _reduce_to(grad * a, b.shape, ctx.how), None


class HalfMeanBackend(TorchBackend):
    """mean's backward is scaled by 0.5: gradient descent runs at half the learning rate,
    so the loss still falls, only more slowly."""

    name = "half-mean"

    def mean(self, a: Any, axis: int | None = None) -> Any:
        return _HalfMean.apply(a) if axis is None else super().mean(a, axis)


class UndividedMeanBackend(TorchBackend):
    """mean's backward forgets to divide by N: the step is N times too long and, with the
    seed's 20 points, far above the stability bound, so the run diverges at once."""

    name = "undivided-mean"

    def mean(self, a: Any, axis: int | None = None) -> Any:
        return _UndividedMean.apply(a) if axis is None else super().mean(a, axis)


class BroadcastMeanMulBackend(TorchBackend):
    """mul's backward averages over broadcast rows instead of summing: w (shape (1,)) times
    x (shape (n, 1)) gets 1/n of its gradient."""

    name = "broadcast-mean-mul"

    def mul(self, a: Any, b: Any) -> Any:
        a, b = torch.as_tensor(a), torch.as_tensor(b)
        return _BroadcastMul.apply(a, b, "mean")


class BroadcastFirstMulBackend(TorchBackend):
    """mul's backward keeps only the first broadcast row: w's gradient comes from one
    point instead of all n."""

    name = "broadcast-first-mul"

    def mul(self, a: Any, b: Any) -> Any:
        a, b = torch.as_tensor(a), torch.as_tensor(b)
        return _BroadcastMul.apply(a, b, "first")


DOUBLES = {
    "HalfMeanBackend": HalfMeanBackend,
    "UndividedMeanBackend": UndividedMeanBackend,
    "BroadcastMeanMulBackend": BroadcastMeanMulBackend,
    "BroadcastFirstMulBackend": BroadcastFirstMulBackend,
}
