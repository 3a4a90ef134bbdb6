"""A micrograd-style scalar engine, written here to prove :mod:`conformance.engine.scalar`.

A :class:`Value` holds one float, its gradient, the values it was computed from and the
local derivative with respect to each. It has add, sub, mul, div, pow, neg, relu, tanh
and log, and deliberately no exp (nor sin, cos, sqrt): the suite must judge it over the
ops it has. As in micrograd, every value keeps its gradient, and backward sets the
output's gradient to 1 and pushes it back in reverse topological order.
"""

from __future__ import annotations

import math


class Value:
    def __init__(
        self, data: float, parents: tuple[Value, ...] = (), local: tuple[float, ...] = ()
    ) -> None:
        self.data, self.grad = float(data), 0.0
        self.parents, self.local = parents, local  # local[i]: d self / d parents[i]

    def __add__(self, other: Value) -> Value:
        return Value(self.data + other.data, (self, other), (1.0, 1.0))

    def __mul__(self, other: Value) -> Value:
        return Value(self.data * other.data, (self, other), (other.data, self.data))

    def __pow__(self, exponent: float) -> Value:
        return Value(self.data**exponent, (self,), (exponent * self.data ** (exponent - 1),))

    def __neg__(self) -> Value:
        return self * Value(-1.0)

    def __sub__(self, other: Value) -> Value:
        return self + (-other)

    def __truediv__(self, other: Value) -> Value:
        return self * other**-1

    def relu(self) -> Value:
        return Value(max(self.data, 0.0), (self,), (float(self.data > 0),))

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return Value(t, (self,), (1 - t * t,))

    def log(self) -> Value:
        return Value(math.log(self.data), (self,), (1 / self.data,))

    def backward(self) -> None:
        order: list[Value] = []  # parents before the values computed from them
        seen: set[int] = set()

        def visit(v: Value) -> None:
            if id(v) not in seen:
                seen.add(id(v))
                for p in v.parents:
                    visit(p)
                order.append(v)

        visit(self)
        self.grad = 1.0
        for v in reversed(order):
            for p, d in zip(v.parents, v.local, strict=True):
                p.grad += d * v.grad
