"""The protocol's ops for engines with a numpy-style namespace (jax.numpy, autograd.numpy,
mygrad): an adapter mixes this in and names its namespace ``xp``."""

from __future__ import annotations

from typing import Any


class NumpyLikeOps:
    """Ops by numpy's names; put before :class:`conformance.Backend` in the bases."""

    xp: Any  # the engine's numpy-like module

    def add(self, a: Any, b: Any) -> Any:
        return self.xp.add(a, b)

    def sub(self, a: Any, b: Any) -> Any:
        return self.xp.subtract(a, b)

    def mul(self, a: Any, b: Any) -> Any:
        return self.xp.multiply(a, b)

    def div(self, a: Any, b: Any) -> Any:
        return self.xp.divide(a, b)

    def matmul(self, a: Any, b: Any) -> Any:
        return self.xp.matmul(a, b)

    def pow(self, a: Any, exponent: float) -> Any:
        return self.xp.power(a, exponent)

    def neg(self, a: Any) -> Any:
        return self.xp.negative(a)

    def exp(self, a: Any) -> Any:
        return self.xp.exp(a)

    def log(self, a: Any) -> Any:
        return self.xp.log(a)

    def sin(self, a: Any) -> Any:
        return self.xp.sin(a)

    def cos(self, a: Any) -> Any:
        return self.xp.cos(a)

    def tanh(self, a: Any) -> Any:
        return self.xp.tanh(a)

    def sqrt(self, a: Any) -> Any:
        return self.xp.sqrt(a)

    def sum(self, a: Any, axis: int | None = None) -> Any:
        return self.xp.sum(a, axis=axis)

    def mean(self, a: Any, axis: int | None = None) -> Any:
        return self.xp.mean(a, axis=axis)

    # -- the extra ops where numpy's names and signatures serve (take, logsumexp and
    # -- log_softmax differ from engine to engine: each adapter has its own)

    def abs(self, a: Any) -> Any:
        return self.xp.abs(a)

    def maximum(self, a: Any, b: Any) -> Any:
        return self.xp.maximum(a, b)

    def minimum(self, a: Any, b: Any) -> Any:
        return self.xp.minimum(a, b)

    def clip(self, a: Any, low: float, high: float) -> Any:
        return self.xp.clip(a, low, high)

    def max(self, a: Any, axis: int | None = None) -> Any:
        return self.xp.max(a, axis=axis)

    def min(self, a: Any, axis: int | None = None) -> Any:
        return self.xp.min(a, axis=axis)

    def prod(self, a: Any, axis: int | None = None) -> Any:
        return self.xp.prod(a, axis=axis)

    def reshape(self, a: Any, shape: tuple[int, ...]) -> Any:
        return self.xp.reshape(a, shape)

    def transpose(self, a: Any) -> Any:
        return self.xp.transpose(a)

    def concatenate(self, a: Any, b: Any, axis: int) -> Any:
        return self.xp.concatenate([a, b], axis=axis)
