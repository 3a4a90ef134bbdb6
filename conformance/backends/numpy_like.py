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
