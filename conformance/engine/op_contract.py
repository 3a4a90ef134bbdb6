"""The ops' contract: the methods an adapter implements for the ops its engine has.

Every op is optional (:mod:`conformance.engine.ops` probes which ones an adapter has);
each method says what it must return. Values are engine tensors, never inspected by the
suite.
"""

from __future__ import annotations

from conformance.engine.capabilities import Tensor


class OpContract:
    """The protocol's ops, by their protocol names; :class:`~conformance.engine.Backend`
    inherits them."""

    # -- ops: elementwise ops broadcast as numpy does ------------------------------

    def add(self, a: Tensor, b: Tensor) -> Tensor:
        """Must return ``a + b``."""
        raise NotImplementedError

    def sub(self, a: Tensor, b: Tensor) -> Tensor:
        """Must return ``a - b``."""
        raise NotImplementedError

    def mul(self, a: Tensor, b: Tensor) -> Tensor:
        """Must return ``a * b``."""
        raise NotImplementedError

    def div(self, a: Tensor, b: Tensor) -> Tensor:
        """Must return ``a / b``."""
        raise NotImplementedError

    def matmul(self, a: Tensor, b: Tensor) -> Tensor:
        """Must return ``a @ b`` for 2-d operands."""
        raise NotImplementedError

    def pow(self, a: Tensor, exponent: float) -> Tensor:
        """Must return ``a ** exponent`` for a Python int or float exponent."""
        raise NotImplementedError

    def neg(self, a: Tensor) -> Tensor:
        """Must return ``-a``."""
        raise NotImplementedError

    def exp(self, a: Tensor) -> Tensor:
        """Must return ``exp(a)``."""
        raise NotImplementedError

    def log(self, a: Tensor) -> Tensor:
        """Must return the natural logarithm of ``a``."""
        raise NotImplementedError

    def sin(self, a: Tensor) -> Tensor:
        """Must return ``sin(a)``."""
        raise NotImplementedError

    def cos(self, a: Tensor) -> Tensor:
        """Must return ``cos(a)``."""
        raise NotImplementedError

    def tanh(self, a: Tensor) -> Tensor:
        """Must return ``tanh(a)``."""
        raise NotImplementedError

    def sqrt(self, a: Tensor) -> Tensor:
        """Must return the square root of ``a``."""
        raise NotImplementedError

    def sum(self, a: Tensor, axis: int | None = None) -> Tensor:
        """Must return the sum over all elements (a 0-d tensor) or along ``axis``."""
        raise NotImplementedError

    def mean(self, a: Tensor, axis: int | None = None) -> Tensor:
        """Must return the mean over all elements (a 0-d tensor) or along ``axis``."""
        raise NotImplementedError

    def sigmoid(self, a: Tensor) -> Tensor:
        """Capability ``nn_ops``: must return ``1 / (1 + exp(-a))``."""
        raise NotImplementedError

    def relu(self, a: Tensor) -> Tensor:
        """Capability ``nn_ops``: must return ``max(a, 0)``."""
        raise NotImplementedError

    def softmax(self, a: Tensor, axis: int) -> Tensor:
        """Capability ``nn_ops``: must return the softmax of ``a`` along ``axis``."""
        raise NotImplementedError

    # -- the extra ops (optional like every op; an engine lacking one leaves it out or
    # -- raises Unsupported). At a tie the rules below say how the gradient is shared

    def abs(self, a: Tensor) -> Tensor:
        """Must return ``|a|``. May raise :class:`Unsupported`."""
        raise NotImplementedError

    def maximum(self, a: Tensor, b: Tensor) -> Tensor:
        """Must return the elementwise larger of ``a`` and ``b`` (broadcasting as ``add``);
        at a tie each operand gets half the gradient. May raise :class:`Unsupported`."""
        raise NotImplementedError

    def minimum(self, a: Tensor, b: Tensor) -> Tensor:
        """Must return the elementwise smaller of ``a`` and ``b`` (broadcasting as ``add``);
        at a tie each operand gets half the gradient. May raise :class:`Unsupported`."""
        raise NotImplementedError

    def clip(self, a: Tensor, low: float, high: float) -> Tensor:
        """Must return ``a`` limited to ``[low, high]`` (Python floats, ``low < high``):
        the gradient passes strictly inside the bounds and is 0 outside them. May raise
        :class:`Unsupported`."""
        raise NotImplementedError

    def max(self, a: Tensor, axis: int | None = None) -> Tensor:
        """Must return the largest element (a 0-d tensor) or the largest along ``axis``;
        tied largest elements share the gradient evenly. May raise :class:`Unsupported`."""
        raise NotImplementedError

    def min(self, a: Tensor, axis: int | None = None) -> Tensor:
        """Must return the smallest element (a 0-d tensor) or the smallest along ``axis``;
        tied smallest elements share the gradient evenly. May raise :class:`Unsupported`."""
        raise NotImplementedError

    def prod(self, a: Tensor, axis: int | None = None) -> Tensor:
        """Must return the product of all elements (a 0-d tensor) or along ``axis``. May
        raise :class:`Unsupported`."""
        raise NotImplementedError

    def logsumexp(self, a: Tensor, axis: int) -> Tensor:
        """Must return ``log(sum(exp(a)))`` along ``axis`` (the axis removed). May raise
        :class:`Unsupported`."""
        raise NotImplementedError

    def log_softmax(self, a: Tensor, axis: int) -> Tensor:
        """Must return the logarithm of the softmax of ``a`` along ``axis``. May raise
        :class:`Unsupported`."""
        raise NotImplementedError

    def reshape(self, a: Tensor, shape: tuple[int, ...]) -> Tensor:
        """Must return ``a``'s elements, in row-major order, in a tensor of ``shape`` (a
        tuple of ints with ``a``'s number of elements). May raise :class:`Unsupported`."""
        raise NotImplementedError

    def transpose(self, a: Tensor) -> Tensor:
        """Must return ``a`` with its axes reversed, as numpy's ``a.T`` (unchanged for 0-d
        and 1-d ``a``). May raise :class:`Unsupported`."""
        raise NotImplementedError

    def take(self, a: Tensor, indices: tuple[int, ...], axis: int) -> Tensor:
        """Must return the slices of ``a`` at ``indices`` (a tuple of non-negative ints,
        which may repeat) along ``axis``, as ``numpy.take``: ``len(indices)`` of them along
        ``axis``. The gradients of repeated slices add up. May raise :class:`Unsupported`."""
        raise NotImplementedError

    def concatenate(self, a: Tensor, b: Tensor, axis: int) -> Tensor:
        """Must return ``a`` followed by ``b`` along ``axis`` (their other sides equal).
        May raise :class:`Unsupported`."""
        raise NotImplementedError
