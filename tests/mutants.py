"""Mutant backends: the torch adapter with one realistic backward bug each.

Each bug is injected with ``torch.autograd.Function``, so the engine around it (graph
recording, accumulation, broadcasting checks) stays torch's own. tests/test_mutants.py
asserts that the suite catches every one of them, under the claim that should, except
the few whose bug lives only at a tie or a zero, which only an edge claim reaches (each
says which: MaxTiesFullGradientBackend, KP-1; ProdOverInputBackend, SR-1).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from conformance.backends.torch_backend import TorchBackend
from conformance.engine.ops import ALL_OPS

Fn = torch.autograd.Function


def _sum_to(g: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    return g.sum_to_size(shape) if g.shape != shape else g


def _elementwise(
    forward: Callable[[torch.Tensor], torch.Tensor],
    derivative: Callable[[torch.Tensor], torch.Tensor],
) -> Any:
    """A one-input Function: ``forward(a)``, whose backward is ``g * derivative(a)`` (each
    mutant's bug lives in its ``derivative``)."""

    class Elementwise(Fn):
        @staticmethod
        def forward(ctx: Any, a: torch.Tensor) -> torch.Tensor:
            ctx.save_for_backward(a)
            return forward(a)

        @staticmethod
        def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
            (a,) = ctx.saved_tensors
            return g * derivative(a)

    return Elementwise


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


# bug: an overflow guard set far too low
_ExpClamped = _elementwise(torch.exp, lambda a: torch.exp(torch.clamp(a, max=2.0)))


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


# bug: the input where the output exp(a) belongs
_ExpTimesInput = _elementwise(torch.exp, lambda a: a)


class ExpTimesInputBackend(TorchBackend):
    """exp's backward multiplies by its input instead of its output: the bug whose red
    verdict once took over ten minutes, most of them shrinking (the red-path benchmark)."""

    name = "mutant-exp-times-input"

    def exp(self, a: Any) -> Any:
        return _ExpTimesInput.apply(a)


# -- the extra ops (abs ... concatenate) --------------------------------------------------


def _spread_back(g: torch.Tensor, axis: int | None, shape: torch.Size) -> torch.Tensor:
    """A reduction's output gradient spread back over the reduced axis (or all)."""
    return (g if axis is None else g.unsqueeze(axis)).expand(shape)


def _reduce_saving(ctx: Any, reduce: Callable[..., Any], a: torch.Tensor, axis: int | None) -> Any:
    """``reduce`` over all of ``a`` or along ``axis``, saving input, output and axis for a
    backward that spreads the gradient back (:func:`_spread_back`)."""
    out = reduce(a) if axis is None else reduce(a, dim=axis)
    ctx.save_for_backward(a, out)
    ctx.axis = axis
    return out


class _MaxTiesGetAll(Fn):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, axis: int | None) -> torch.Tensor:
        return _reduce_saving(ctx, torch.amax, a, axis)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None]:
        a, out = ctx.saved_tensors
        hit = (a == _spread_back(out, ctx.axis, a.shape)).to(g.dtype)
        return _spread_back(g, ctx.axis, a.shape) * hit, None  # bug: no division by the ties


class MaxTiesFullGradientBackend(TorchBackend):
    """max's backward gives every tied largest element the full gradient, instead of an
    even share: right wherever the largest element is unique. The well-conditioned tier
    (CR-1, OP-1) keeps ties away, so only KP-1 (kinks and ties) catches it: not in
    tests/test_mutants.py."""

    name = "mutant-max-ties-full-gradient"

    def max(self, a: Any, axis: int | None = None) -> Any:
        return _MaxTiesGetAll.apply(a, axis)


class _TakeOverwrites(Fn):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, indices: tuple[int, ...], axis: int) -> torch.Tensor:
        ctx.shape, ctx.indices, ctx.axis = a.shape, indices, axis
        return torch.index_select(a, axis, torch.tensor(indices, dtype=torch.long))

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        out = g.new_zeros(ctx.shape)
        for position, i in enumerate(ctx.indices):
            # bug: a repeated index is written again (the last write wins), not added
            out.select(ctx.axis, i).copy_(g.select(ctx.axis, position))
        return out, None, None


class TakeOverwritesBackend(TorchBackend):
    """take's backward writes each slice's gradient to its index: a repeated index keeps
    only its last use's gradient instead of their sum."""

    name = "mutant-take-overwrites"

    def take(self, a: Any, indices: tuple[int, ...], axis: int) -> Any:
        return _TakeOverwrites.apply(a, indices, axis)


class _ProdOverInput(Fn):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, axis: int | None) -> torch.Tensor:
        return _reduce_saving(ctx, torch.prod, a, axis)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None]:
        a, out = ctx.saved_tensors
        # bug: the others' product taken as prod / x, which is 0 / 0 at a zero element
        return _spread_back(g * out, ctx.axis, a.shape) / a, None


class ProdOverInputBackend(TorchBackend):
    """prod's backward is prod / x: right for non-zero elements, NaN at a zero one. The
    well-conditioned tier keeps factors away from 0, so only SR-1 (saturation and range,
    which reaches zeros) catches it: not in tests/test_mutants.py."""

    name = "mutant-prod-over-input"
    # its prod is its own: torch's expected failure in prod (tiny and huge factors) would
    # excuse this bug too
    expected_failures = None

    def prod(self, a: Any, axis: int | None = None) -> Any:
        return _ProdOverInput.apply(a, axis)


def _reversed_axes(x: torch.Tensor) -> torch.Tensor:
    """``x`` with its axes in reverse order: the transpose of any number of axes."""
    return torch.permute(x, tuple(reversed(range(x.dim()))))


class _TransposeBackReshaped(Fn):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor) -> torch.Tensor:
        ctx.shape = a.shape
        return _reversed_axes(a).clone()

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        return g.reshape(ctx.shape)  # bug: reshaped back, not transposed back


class TransposeAsReshapeBackend(TorchBackend):
    """transpose's backward reshapes the gradient to the input's shape instead of
    transposing it: right for vectors, wrong for any matrix with two sides above 1."""

    name = "mutant-transpose-as-reshape"

    def transpose(self, a: Any) -> Any:
        return _TransposeBackReshaped.apply(a)


class _ReshapeColumnMajor(Fn):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        ctx.shape = a.shape
        return torch.reshape(a, shape).clone()

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None]:
        # bug: the gradient read back in column-major order, as Fortran lays it out
        flat = _reversed_axes(g).reshape(-1)
        back = flat.reshape(tuple(reversed(ctx.shape)))
        return _reversed_axes(back), None


class ReshapeColumnMajorBackend(TorchBackend):
    """reshape's backward reads the gradient back in column-major order: right when
    either shape is a vector or a single row, wrong between matrices."""

    name = "mutant-reshape-column-major"

    def reshape(self, a: Any, shape: tuple[int, ...]) -> Any:
        return _ReshapeColumnMajor.apply(a, shape)


class _ConcatenateFlatSplit(Fn):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor, axis: int) -> torch.Tensor:
        ctx.shapes = a.shape, b.shape
        return torch.cat([a, b], dim=axis)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        # bug: the gradient split in row-major order, as if along the first axis
        (sa, sb), flat = ctx.shapes, g.reshape(-1)
        n = sa.numel()
        return flat[:n].reshape(sa), flat[n:].reshape(sb), None


class ConcatenateFlatSplitBackend(TorchBackend):
    """concatenate's backward hands each operand its count of the gradient's elements in
    row-major order: right along the first axis, wrong along any other."""

    name = "mutant-concatenate-flat-split"

    def concatenate(self, a: Any, b: Any, axis: int) -> Any:
        return _ConcatenateFlatSplit.apply(a, b, axis)


class _LogsumexpUnnormalised(Fn):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, axis: int) -> torch.Tensor:
        ctx.save_for_backward(a)
        ctx.axis = axis
        return torch.logsumexp(a, dim=axis)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None]:
        (a,) = ctx.saved_tensors
        # bug: exp(a), not exp(a) / sum(exp(a)): the softmax is never normalised
        return g.unsqueeze(ctx.axis) * torch.exp(a), None


class LogsumexpUnnormalisedBackend(TorchBackend):
    """logsumexp's backward forgets to normalise: exp(a) where softmax(a) belongs."""

    name = "mutant-logsumexp-unnormalised"

    def logsumexp(self, a: Any, axis: int) -> Any:
        return _LogsumexpUnnormalised.apply(a, axis)


for _op in ALL_OPS:
    setattr(NoSharedAccumulationBackend, _op, _using(_op))
    setattr(Float16BackwardBackend, _op, _halving(_op))
for _op in ("add", "sub", "mul", "div"):
    setattr(BroadcastMeanBackend, _op, _broadcasting(_op))


# -- edge-tier bugs (NF-1, KP-1, SR-1) -----------------------------------------------------


# bug: exp(-a) / (1 + exp(-a))^2 is inf / inf = NaN once exp(-a) overflows
_SigmoidNaive = _elementwise(torch.sigmoid, lambda a: torch.exp(-a) / (1 + torch.exp(-a)) ** 2)


class NaiveSigmoidBackend(TorchBackend):
    """sigmoid's backward is the textbook exp(-x) / (1 + exp(-x))^2: NaN far into the
    negative saturation, where the true gradient is a tiny finite number (SR-1)."""

    name = "mutant-naive-sigmoid"

    def sigmoid(self, a: Any) -> Any:
        return _SigmoidNaive.apply(a)


class NaiveSoftmaxBackend(TorchBackend):
    """softmax as exp(x) / sum(exp(x)), without subtracting the maximum: inf / inf = NaN
    for rows with large entries (SR-1)."""

    name = "mutant-naive-softmax"

    def softmax(self, a: Any, axis: int) -> Any:
        e = torch.exp(a)
        return e / e.sum(axis, keepdim=True)


class _PowOverInput(Fn):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, p: float) -> torch.Tensor:
        y = a**p
        ctx.save_for_backward(a, y)
        ctx.p = p
        return y

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None]:
        a, y = ctx.saved_tensors
        return g * ctx.p * y / a, None  # bug: p x^p / x is 0 / 0 = NaN at x = 0


class PowOverInputBackend(TorchBackend):
    """pow's backward reuses the output, p * x**p / x: right everywhere but at 0, where
    it is NaN instead of 0 (or +inf for p < 1) (SR-1)."""

    name = "mutant-pow-over-input"

    def pow(self, a: Any, exponent: float) -> Any:
        return _PowOverInput.apply(a, exponent)


# bug: (a + |a|) / 2a is 0 / 0 = NaN at the kink
_ReluByRatio = _elementwise(torch.relu, lambda a: (a + a.abs()) / (2 * a))


class ReluNanAtKinkBackend(TorchBackend):
    """relu's derivative computed as (x + |x|) / 2x: exact away from 0, NaN at it (KP-1)."""

    name = "mutant-relu-nan-at-kink"

    def relu(self, a: Any) -> Any:
        return _ReluByRatio.apply(a)


class NanCleaningBackend(TorchBackend):
    """Gradients are "sanitised" before they are returned: NaN becomes 0 and an infinity
    the largest finite number, hiding the non-finite values the maths gives (NF-1)."""

    name = "mutant-nan-cleaning"

    def vjp(self, fn: Any, primals: Any, dtype: str, cotangent: Any = None) -> Any:
        value, grads = super().vjp(fn, primals, dtype, cotangent)
        return value, [np.nan_to_num(g) for g in grads]


# bug: cos' = -sin
_CosWrongSign = _elementwise(torch.cos, torch.sin)


class CompiledCosSignBackend(TorchBackend):
    """Right eagerly, wrong compiled: its "compiler" lowers cos with a derivative of the
    wrong sign, as a faulty decomposition would (CE-1). It compiles nothing, so the
    mutant's run stays fast."""

    name = "mutant-compiled-cos-sign"
    compiled_programs = ("value_and_gradient",)

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self._compiling = False

    def cos(self, a: Any) -> Any:
        return _CosWrongSign.apply(a) if self._compiling else torch.cos(a)

    def compiled_vjp(self, fn: Any, primals: Any, dtype: str, cotangent: Any = None) -> Any:
        self._compiling = True
        try:
            return self.vjp(fn, primals, dtype, cotangent)
        finally:
            self._compiling = False


class _EagerCompiler(TorchBackend):
    """A stand-in "compiler" that runs the program eagerly, so that a mutant's bug in it
    is judged by CE-1 without the minutes real compilation would take."""

    compiled_programs: tuple[str, ...] = ("value_and_gradient",)

    def compiled_vjp(self, fn: Any, primals: Any, dtype: str, cotangent: Any = None) -> Any:
        return self.vjp(fn, primals, dtype, cotangent)


class ForwardCompiledSoftmaxOnesBackend(_EagerCompiler):
    """Its compiled forward program (inference, no gradient) returns ones for a softmax,
    while value-and-gradient programs are right: the shipped jitted-softmax bug (CE-1)."""

    name = "mutant-forward-compiled-softmax-ones"
    compiled_programs = ("value_and_gradient", "forward")

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self._forward_only = False

    def softmax(self, a: Any, axis: int) -> Any:
        return torch.ones_like(a) if self._forward_only else super().softmax(a, axis)

    def compiled_forward(self, fn: Any, primals: Any, dtype: str) -> Any:
        self._forward_only = True
        try:
            with torch.no_grad():
                return self.to_numpy(fn(*self.tensors(primals, dtype)))
        finally:
            self._forward_only = False


class CompiledNanCleaningBackend(_EagerCompiler):
    """Its compiled programs "clean" non-finite values, those made inside the graph too,
    to finite numbers (a fused kernel that loses a NaN): eagerly right (CE-1, not NF-1)."""

    name = "mutant-compiled-nan-cleaning"

    def compiled_vjp(self, fn: Any, primals: Any, dtype: str, cotangent: Any = None) -> Any:
        value, grads = super().compiled_vjp(fn, primals, dtype, cotangent)
        return np.nan_to_num(value), [np.nan_to_num(g) for g in grads]


class _SumLosesBlocks(Fn):
    """sum whose backward, past 2^16 elements, scales the gradient by 1e-6 (a kernel for
    large arrays with a wrong factor), right on small arrays."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, axis: int | None) -> torch.Tensor:
        ctx.shape, ctx.axis = a.shape, axis
        return a.sum() if axis is None else a.sum(axis)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None]:
        out = _spread_back(g, ctx.axis, ctx.shape)
        return (out * 1e-6 if out.numel() >= 2**16 else out), None


class LargeSumBackend(_EagerCompiler):
    """sum's gradient is a million times too small for arrays past 2^16 elements, eagerly
    and compiled: only the size tier's arrays reach it (CR-1 and CE-1)."""

    name = "mutant-large-sum"

    def sum(self, a: Any, axis: int | None = None) -> Any:
        return _SumLosesBlocks.apply(a, axis)


class _NativeGrads(TorchBackend):
    """native_vjp as torch's, each gradient passed through ``convert``."""

    def convert(self, g: Any) -> Any:
        return g

    def native_vjp(self, fn: Any, primals: Any, dtype: str, cotangent: Any = None) -> Any:
        value, grads = super().native_vjp(fn, primals, dtype, cotangent)
        return value, [None if g is None else self.convert(g) for g in grads]


class ScalarZeroDGradBackend(_NativeGrads):
    """A 0-d leaf's gradient comes back as a NumPy scalar, not a 0-d tensor (GT-1)."""

    name = "mutant-scalar-0d-grad"

    def convert(self, g: Any) -> Any:
        return g.detach().numpy()[()] if g.dim() == 0 else g


class Float64GradBackend(_NativeGrads):
    """Gradients are computed in float64 whatever the leaf's dtype: a float32 leaf gets a
    float64 gradient (GT-1, float32)."""

    name = "mutant-float64-grad"

    def convert(self, g: Any) -> Any:
        return g.double()


class ThreeKinksBackend(TorchBackend):
    """relu and abs NaN at their kink, and max giving each tie the full gradient: KP-1's
    grid must name all three, each with its reproduction; tests/test_plugin.py gives it an
    expected-failure entry that names relu only, which must not excuse the others."""

    name = "mutant-three-kinks"

    def relu(self, a: Any) -> Any:
        return _ReluByRatio.apply(a)

    def abs(self, a: Any) -> Any:
        return _AbsByRatio.apply(a)

    def max(self, a: Any, axis: int | None = None) -> Any:
        return _MaxTiesGetAll.apply(a, axis)


# bug: |a|' = a / |a|, 0 / 0 = NaN at the kink
_AbsByRatio = _elementwise(torch.abs, lambda a: a / a.abs())


# -- one wrong op of each kind, which CR-1 alone must catch (tests/test_op_strata.py) --------


# bug: the derivative of log is 1.5 / a, not 1 / a
_LogScaled = _elementwise(torch.log, lambda a: 1.5 / a)


class LogScaledBackend(TorchBackend):
    """log's derivative is 1.5 times too large (an elementwise op)."""

    name = "mutant-log-scaled"

    def log(self, a: Any) -> Any:
        return _LogScaled.apply(a)


class _DivForgetsNumerator(Fn):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = ctx.saved_tensors
        # bug: the divisor's gradient is -g / b^2, the numerator a forgotten
        return _sum_to(g / b, a.shape), _sum_to(-g / (b * b), b.shape)


class DivForgetsNumeratorBackend(TorchBackend):
    """div's gradient for the divisor leaves out the numerator (a binary op)."""

    name = "mutant-div-forgets-numerator"

    def div(self, a: Any, b: Any) -> Any:
        return _DivForgetsNumerator.apply(a, b)


class _MinGradientToLargest(Fn):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, axis: int | None) -> torch.Tensor:
        return _reduce_saving(ctx, torch.amin, a, axis)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None]:
        a, _ = ctx.saved_tensors
        # bug: max's mask, copied into min: the gradient goes to the largest element
        top = torch.amax(a) if ctx.axis is None else torch.amax(a, dim=ctx.axis)
        hit = (a == _spread_back(top, ctx.axis, a.shape)).to(g.dtype)
        return _spread_back(g, ctx.axis, a.shape) * hit, None


class MinGradientToLargestBackend(TorchBackend):
    """min's backward sends the gradient to the largest element, not the smallest (a
    reduction)."""

    name = "mutant-min-gradient-to-largest"

    def min(self, a: Any, axis: int | None = None) -> Any:
        return _MinGradientToLargest.apply(a, axis)
