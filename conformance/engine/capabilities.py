"""Capability bookkeeping: the names a claim needs and a backend declares, the methods
each capability obliges an adapter to implement, the protocol's op names, and
:class:`Unsupported`, the one exception that means "this engine cannot express that".
"""

from __future__ import annotations

from typing import Any

import numpy as np

Tensor = Any
"""An engine's tensor; the suite never looks inside one."""

# Capabilities: a claim names those it needs; a backend declares those it has.
BACKWARD = "backward"
IS_LEAF = "is_leaf"
RETAIN_GRAD = "retain_grad"
GRAD_FN = "grad_fn"
RETAIN_GRAPH = "retain_graph"
ZERO_GRAD = "zero_grad"
INPLACE_UPDATE = "inplace_update"
DETACH = "detach"
GRAPH_INTROSPECTION = "graph_introspection"
NN_OPS = "nn_ops"
HIGHER_ORDER = "higher_order"
JVP = "jvp"
COMPILE = "compile"
NATIVE_GRADIENTS = "native_gradients"

CAPABILITIES: dict[str, tuple[str, ...]] = {
    # capability -> the methods a backend declaring it must implement
    BACKWARD: ("backward", "grad"),
    IS_LEAF: ("is_leaf",),
    RETAIN_GRAD: ("retain_grad",),
    GRAD_FN: ("grad_fn",),
    RETAIN_GRAPH: ("backward",),
    ZERO_GRAD: ("zero_grad",),
    INPLACE_UPDATE: ("update_",),
    DETACH: ("detach",),
    GRAPH_INTROSPECTION: ("graph_parents", "graph_leaf"),
    NN_OPS: ("sigmoid", "relu", "softmax"),
    HIGHER_ORDER: ("hvp",),
    JVP: ("jvp",),
    COMPILE: ("compiled_vjp",),
    NATIVE_GRADIENTS: ("native_vjp", "describe"),
}

# capability compile: each compiled program (Backend.compiled_programs) and its method
COMPILED_PROGRAMS: dict[str, str] = {
    "value_and_gradient": "compiled_vjp",
    "forward": "compiled_forward",
    "gradient": "compiled_gradient",
}

BINARY_OPS = ("add", "sub", "mul", "div", "matmul")
UNARY_OPS = ("neg", "exp", "log", "sin", "cos", "tanh", "sqrt")
REDUCTIONS = ("sum", "mean")
NN_OP_NAMES = ("sigmoid", "relu", "softmax")
# the extra group: kinks and ties (abs ... min), products and log-sum-exps, and the ops
# that only move values (reshape ... concatenate); optional like every op
EXTRA_OPS = (
    "abs",
    "maximum",
    "minimum",
    "clip",
    "max",
    "min",
    "prod",
    "logsumexp",
    "log_softmax",
    "reshape",
    "transpose",
    "take",
    "concatenate",
)

# The ops are optional: an adapter implements those its engine has (see conformance.engine.ops);
# the claims judge it over them and call unsupported only what needs a missing one.
REQUIRED_METHODS = ("tensor", "to_numpy", "vjp")


class Unsupported(Exception):
    """Raised by an adapter for an operation its engine cannot express.

    The suite turns it into the *unsupported* verdict, never into passed or failed.
    """


def describe_other(obj: Any) -> tuple[str, tuple[int, ...], str]:
    """``(kind, shape, dtype)`` of an object that is not the engine's tensor type: the
    qualified name of its Python type (``"numpy.float64"``, ``"numpy.ndarray"``,
    ``"float"``, ``"NoneType"``), and numpy's reading of its shape and dtype."""
    kind = type(obj).__qualname__
    module = type(obj).__module__
    if module not in ("builtins", None):
        kind = f"{module}.{kind}"
    if obj is None:
        return kind, (), "none"
    try:
        array = np.asarray(obj)
    except Exception:  # an object numpy cannot read: its type says enough
        return kind, (), "unknown"
    return kind, tuple(int(n) for n in array.shape), str(array.dtype)
