"""Mutant backends: the torch adapter with one realistic backward bug each.

Each bug is injected with ``torch.autograd.Function``, so the engine around it (graph
recording, accumulation, broadcasting checks) stays torch's own. tests/test_mutants.py
asserts that the suite catches every one of them, under the claim that should.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch

from conformance import backend as proto
from conformance.backends.torch_backend import TorchBackend

Fn = torch.autograd.Function


def _sum_to(g: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    return g.sum_to_size(shape) if g.shape != shape else g


class _SubForgetsSign(Fn):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ctx.shapes = a.shape, b.shape
        return a - b

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _sum_to(g, ctx.shapes[0]), _sum_to(g, ctx.shapes[1])  # bug: +g for b


class SignFlipBackend(TorchBackend):
    """sub's backward passes +g to the subtrahend instead of -g."""

    name = "mutant-sign-flip"

    def sub(self, a: Any, b: Any) -> Any:
        return _SubForgetsSign.apply(a, b)


class _SavedMul(Fn):
    """a * b keeping both operands; subclasses give the (buggy) backward."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a, b)
        return a * b


class _MulWrongOperand(_SavedMul):
    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = ctx.saved_tensors
        # bug: each operand gets g times itself instead of g times the other one
        return _sum_to(g * a, a.shape), _sum_to(g * b, b.shape)


class WrongOperandMulBackend(TorchBackend):
    """mul's backward multiplies by the wrong operand."""

    name = "mutant-mul-wrong-operand"

    def mul(self, a: Any, b: Any) -> Any:
        return _MulWrongOperand.apply(a, b)


class _Tap(Fn):
    """One use of a tensor. Of all the uses of one tensor, only the first whose backward
    runs in a pass passes its gradient on: the others hand back zeros, as an engine that
    assigns (grad = g) instead of accumulating (grad += g) into a shared buffer would."""

    @staticmethod
    def forward(ctx: Any, t: torch.Tensor, slot: dict[str, int], epoch: list[int]) -> torch.Tensor:
        ctx.slot, ctx.epoch = slot, epoch
        return t.view_as(t)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        if ctx.slot.get("written") == ctx.epoch[0]:
            return torch.zeros_like(g), None, None  # bug: the earlier write is lost
        ctx.slot["written"] = ctx.epoch[0]
        return g, None, None


class NoSharedAccumulationBackend(TorchBackend):
    """A tensor used several times gets only one use's gradient (overwrite, not add)."""

    name = "mutant-no-shared-accumulation"

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self._epoch = [0]

    def _use(self, t: Any) -> Any:
        if not (isinstance(t, torch.Tensor) and t.requires_grad):
            return t
        if not hasattr(t, "_mutant_buffer"):
            # the tensor's one gradient buffer, shared by all its uses
            setattr(t, "_mutant_buffer", {})  # noqa: B010 - torch.Tensor declares no such field
        return _Tap.apply(t, getattr(t, "_mutant_buffer"), self._epoch)  # noqa: B009

    def backward(self, t: Any, grad: Any = None, retain_graph: bool = False) -> None:
        self._epoch[0] += 1  # a new pass: every buffer starts empty
        super().backward(t, grad, retain_graph)


def _using(op: str) -> Any:
    def method(self: NoSharedAccumulationBackend, *args: Any) -> Any:
        return getattr(TorchBackend, op)(self, *(self._use(a) for a in args))

    return method


class _ExpandMeanBackward(Fn):
    @staticmethod
    def forward(ctx: Any, t: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        ctx.shape = t.shape
        return t.expand(shape).clone()

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None]:
        # bug: the broadcast copies' gradients are averaged instead of summed
        lead = g.dim() - len(ctx.shape)
        g = g.mean(dim=tuple(range(lead))) if lead else g
        dims = tuple(i for i, n in enumerate(ctx.shape) if n == 1 and g.shape[i] != 1)
        return (g.mean(dim=dims, keepdim=True) if dims else g), None


class BroadcastMeanBackend(TorchBackend):
    """Elementwise binary ops reduce a broadcast operand's gradient by mean, not sum."""

    name = "mutant-broadcast-mean"

    def _expanded(self, a: Any, b: Any) -> tuple[Any, Any]:
        shape = torch.broadcast_shapes(a.shape, b.shape)
        return tuple(_ExpandMeanBackward.apply(t, shape) if t.shape != shape else t for t in (a, b))  # type: ignore[return-value]


def _broadcasting(op: str) -> Any:
    def method(self: BroadcastMeanBackend, a: Any, b: Any) -> Any:
        return getattr(TorchBackend, op)(self, *self._expanded(a, b))

    return method


class _HalfBackward(Fn):
    @staticmethod
    def forward(ctx: Any, t: torch.Tensor) -> torch.Tensor:
        return t.view_as(t)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        return g.half().to(g.dtype)  # bug: gradients carried in float16


class Float16BackwardBackend(TorchBackend):
    """Every gradient an op sends back to one of its operands is rounded to float16."""

    name = "mutant-float16-backward"


def _halving(op: str) -> Any:
    def method(self: TorchBackend, *args: Any) -> Any:
        args = tuple(
            _HalfBackward.apply(a) if isinstance(a, torch.Tensor) and a.requires_grad else a
            for a in args
        )
        return getattr(TorchBackend, op)(self, *args)

    return method


def _logspace(t: torch.Tensor, p: float) -> torch.Tensor:
    """|t| ** p through exp(p log|t|): the sign of a negative t is lost (the bug)."""
    return torch.exp(p * torch.log(t.abs()))


class _MulLogspace(_SavedMul):
    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = ctx.saved_tensors
        return _sum_to(g * _logspace(b, 1.0), a.shape), _sum_to(g * _logspace(a, 1.0), b.shape)


class _DivLogspace(Fn):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = ctx.saved_tensors
        return (
            _sum_to(g * _logspace(b, -1.0), a.shape),
            _sum_to(-g * a * _logspace(b, -2.0), b.shape),
        )


class _PowLogspace(Fn):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, p: float) -> torch.Tensor:
        ctx.save_for_backward(a)
        ctx.p = p
        return torch.pow(a, p)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None]:
        (a,) = ctx.saved_tensors
        if ctx.p == 0:
            return torch.zeros_like(g), None
        return g * ctx.p * _logspace(a, ctx.p - 1), None


class NegativeInputBackend(TorchBackend):
    """mul, div and pow take their backward in log space, exp(k log|x|): right for
    positive operands, wrong in sign for negative ones (with an odd power), only there."""

    name = "mutant-negative-inputs"

    def mul(self, a: Any, b: Any) -> Any:
        return _MulLogspace.apply(a, b)

    def div(self, a: Any, b: Any) -> Any:
        return _DivLogspace.apply(a, b)

    def pow(self, a: Any, exponent: float) -> Any:
        return _PowLogspace.apply(a, exponent)


class _SinViaSqrt(Fn):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor) -> torch.Tensor:
        y = torch.sin(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        # bug: cos x = sqrt(1 - sin^2 x) holds only for |x| <= pi/2
        return g * torch.sqrt(torch.clamp(1 - y * y, min=0))


class _TanhSaturates(Fn):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor) -> torch.Tensor:
        y = torch.tanh(a)
        ctx.save_for_backward(a, y)
        return y

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        a, y = ctx.saved_tensors
        # bug: a "saturation" shortcut taken far too early (tanh'(2) is still 0.07)
        return torch.where(a.abs() > 2.0, torch.zeros_like(g), g * (1 - y * y))


class _ExpClamped(Fn):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a)
        return torch.exp(a)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        (a,) = ctx.saved_tensors
        return g * torch.exp(torch.clamp(a, max=2.0))  # bug: an overflow guard set far too low


class LargeInputBackend(TorchBackend):
    """Three shortcuts that hold for small inputs only: sin's backward takes cos x as
    sqrt(1 - sin^2 x) (wrong sign beyond pi/2), tanh's returns 0 once |x| > 2, exp's
    clamps its argument at 2."""

    name = "mutant-large-inputs"

    def exp(self, a: Any) -> Any:
        return _ExpClamped.apply(a)

    def sin(self, a: Any) -> Any:
        return _SinViaSqrt.apply(a)

    def tanh(self, a: Any) -> Any:
        return _TanhSaturates.apply(a)


class ForgetsPassesBackend(TorchBackend):
    """Leaf gradients do not accumulate across backward passes: each pass overwrites."""

    name = "mutant-no-accumulation-across-passes"

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self._leaves: weakref.WeakSet[torch.Tensor] = weakref.WeakSet()

    def tensor(self, array: Any, dtype: str, requires_grad: bool = False) -> Any:
        t = super().tensor(array, dtype, requires_grad)
        if requires_grad:
            self._leaves.add(t)
        return t

    def backward(self, t: Any, grad: Any = None, retain_graph: bool = False) -> None:
        for leaf in self._leaves:
            leaf.grad = None  # bug: the previous passes' gradients are dropped
        super().backward(t, grad, retain_graph)


class SilentSumBackend(TorchBackend):
    """backward() on a non-scalar output sums it silently instead of raising."""

    name = "mutant-silent-sum"

    def backward(self, t: Any, grad: Any = None, retain_graph: bool = False) -> None:
        if grad is None and t.numel() != 1:
            grad = torch.ones_like(t)  # bug: an implicit all-ones output gradient
        super().backward(t, grad, retain_graph)


# -- second derivatives and forward mode (HO-1, HO-2, FM-1, LR-7) -------------------------


class _MulDetachedSaves(_SavedMul):
    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = ctx.saved_tensors
        # bug: the saved operands are detached, so to a second pass the gradient is a
        # constant: first derivatives right, second derivatives through mul silently 0
        return _sum_to(g * b.detach(), a.shape), _sum_to(g * a.detach(), b.shape)


class DetachedSavesBackend(TorchBackend):
    """mul's backward reads its saved operands detached: double backward loses them."""

    name = "mutant-detached-saves"

    def mul(self, a: Any, b: Any) -> Any:
        return _MulDetachedSaves.apply(a, b)


class _MulOneSidedTangent(Fn):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a, b)
        ctx.save_for_forward(a, b)
        return a * b

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = ctx.saved_tensors
        return _sum_to(g * b, a.shape), _sum_to(g * a, b.shape)

    @staticmethod
    def jvp(ctx: Any, ta: torch.Tensor | None, tb: torch.Tensor | None) -> torch.Tensor:
        a, b = ctx.saved_tensors
        # bug: the product rule's second term, a * tb, is dropped
        return (ta if ta is not None else torch.zeros_like(a)) * b


class OneSidedTangentBackend(TorchBackend):
    """mul's forward-mode rule is ta * b: the tangent of the second operand is lost
    (its backward is right, so reverse mode and first derivatives pass)."""

    name = "mutant-one-sided-tangent"

    def mul(self, a: Any, b: Any) -> Any:
        return _MulOneSidedTangent.apply(a, b)


class _PowDerivative(Fn):
    """p a^(p-1), the derivative of a^p, as an op that a second pass differentiates."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, p: float) -> torch.Tensor:
        ctx.save_for_backward(a)
        ctx.p = p
        return torch.zeros_like(a) if p == 0 else p * torch.pow(a, p - 1)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None]:
        (a,) = ctx.saved_tensors
        p = ctx.p
        if p == 0:
            return torch.zeros_like(g), None
        # bug: p * p a^(p-2) for p (p - 1) a^(p-2), off by the factor p / (p - 1)
        return g * p * p * torch.pow(a, p - 2), None


class _PowWrongCurvature(Fn):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, p: float) -> torch.Tensor:
        ctx.save_for_backward(a)
        ctx.p = p
        return torch.pow(a, p)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None]:
        (a,) = ctx.saved_tensors
        return g * _PowDerivative.apply(a, ctx.p), None


class WrongCurvatureBackend(TorchBackend):
    """pow's first derivative is right, its second is off by the factor p / (p - 1)
    (twice the curvature of a square)."""

    name = "mutant-wrong-curvature"

    def pow(self, a: Any, exponent: float) -> Any:
        return _PowWrongCurvature.apply(a, exponent)


class _ExpTimesInput(Fn):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a)
        return torch.exp(a)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        (a,) = ctx.saved_tensors
        return g * a  # bug: the input where the output exp(a) belongs


class ExpTimesInputBackend(TorchBackend):
    """exp's backward multiplies by its input instead of its output: the bug whose red
    verdict once took over ten minutes, most of them shrinking (the red-path benchmark)."""

    name = "mutant-exp-times-input"

    def exp(self, a: Any) -> Any:
        return _ExpTimesInput.apply(a)


_ALL_OPS = (*proto.BINARY_OPS, *proto.UNARY_OPS, *proto.REDUCTIONS, "pow", *proto.NN_OP_NAMES)
for _op in _ALL_OPS:
    setattr(NoSharedAccumulationBackend, _op, _using(_op))
    setattr(Float16BackwardBackend, _op, _halving(_op))
for _op in ("add", "sub", "mul", "div"):
    setattr(BroadcastMeanBackend, _op, _broadcasting(_op))
