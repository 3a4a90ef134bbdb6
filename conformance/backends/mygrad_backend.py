"""MyGrad: an imperative engine on numpy, judged through backward and its graph records.

Each protocol notion maps to MyGrad's own state, never to an emulation, so the suite
judges what MyGrad does:

* a leaf is a tensor with no ``creator`` (or a ``constant`` one, which no gradient
  reaches: the protocol's "not requiring grad"). Note that MyGrad clears every
  creator after backward, so this only means something before a backward pass;
* MyGrad has no retain_grad and no retain_graph (backward always clears the graph),
  so those capabilities are not declared;
* backward on a non-scalar and gradient accumulation are passed straight to MyGrad,
  whose deviations are listed in ``mygrad_xfails.toml``.
"""

from __future__ import annotations

from collections.abc import Hashable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from conformance import engine as proto
from conformance.backends.numpy_like import NumpyLikeOps
from conformance.errors import ConfigError

try:
    import mygrad as mg
    from mygrad.nnet.activations import logsoftmax, relu, sigmoid, softmax
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ConfigError(
        f"backend 'mygrad' needs MyGrad ({exc}): pip install 'autograd-conformance[mygrad]'"
    ) from exc

_DTYPES: dict[str, np.dtype[Any]] = {
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
}
# MyGrad's operation classes (``tensor.creator``) -> protocol op names
_OPS = {
    "Add": "add",
    "Subtract": "sub",
    "Multiply": "mul",
    "Divide": "div",
    "MatMul": "matmul",
    "Power": "pow",
    "Negative": "neg",
    "Exp": "exp",
    "Log": "log",
    "Sin": "sin",
    "Cos": "cos",
    "Tanh": "tanh",
    "Sqrt": "sqrt",
    "Sum": "sum",
    "Mean": "mean",
    "Sigmoid": "sigmoid",
    "ReLu": "relu",
    "Softmax": "softmax",
    "Abs": "abs",
    "Maximum": "maximum",
    "Minimum": "minimum",  # clip too: MyGrad computes it as minimum(maximum(a, low), high)
    "Max": "max",
    "Min": "min",
    "Prod": "prod",
    "LogSoftmax": "log_softmax",
    "Reshape": "reshape",
    "Transpose": "transpose",
    "GetItem": "take",
    "Concatenate": "concatenate",
}


class MyGradBackend(NumpyLikeOps, proto.Backend):
    """MyGrad tensors; ``requires_grad=False`` maps to MyGrad's ``constant=True``."""

    name = "mygrad"
    xp = mg
    capabilities = frozenset(
        {
            proto.BACKWARD,
            proto.IS_LEAF,
            proto.GRAD_FN,
            proto.ZERO_GRAD,
            proto.INPLACE_UPDATE,
            proto.DETACH,
            proto.GRAPH_INTROSPECTION,
            proto.NN_OPS,
            proto.NATIVE_GRADIENTS,
        }
    )
    expected_failures = str(Path(__file__).with_name("mygrad_xfails.toml"))

    def versions(self) -> dict[str, str]:
        return {"mygrad": version("mygrad"), "numpy": np.__version__}

    def tensor(self, array: np.ndarray, dtype: str, requires_grad: bool = False) -> Any:
        return mg.tensor(np.asarray(array), dtype=_DTYPES[dtype], constant=not requires_grad)

    def to_numpy(self, t: Any) -> np.ndarray:
        return np.array(t.data if isinstance(t, mg.Tensor) else t)  # a copy: MyGrad locks .data

    def sigmoid(self, a: Any) -> Any:
        return sigmoid(a)

    def pow(self, a: Any, exponent: float) -> Any:
        # the operator, as MyGrad's users write it: mygrad.power(x, 2) makes the Python
        # number an int64 tensor and promotes a float32 x to float64
        return a**exponent

    def relu(self, a: Any) -> Any:
        return relu(a)

    def softmax(self, a: Any, axis: int) -> Any:
        return softmax(a, axis=axis)

    # MyGrad has no logsumexp: the protocol's is left out (unsupported)
    def log_softmax(self, a: Any, axis: int) -> Any:
        return logsoftmax(a, axis=axis)

    def take(self, a: Any, indices: tuple[int, ...], axis: int) -> Any:
        return a[(slice(None),) * axis + (np.array(indices),)]

    def backward(self, t: Any, grad: Any = None, retain_graph: bool = False) -> None:
        if retain_graph:
            # not declared: MyGrad's backward always clears the graph it walked
            raise proto.Unsupported("MyGrad has no retain_graph: backward clears the graph")
        t.backward(None if grad is None else grad.data)

    native_vjp = proto.stored_grad_vjp

    def describe(self, obj: Any) -> tuple[str, tuple[int, ...], str]:
        if isinstance(obj, mg.Tensor):
            return "tensor", tuple(obj.shape), str(obj.dtype)
        return proto.describe_other(obj)

    def grad(self, t: Any) -> np.ndarray | None:
        return None if t.grad is None else np.array(t.grad)

    def is_leaf(self, t: Any) -> bool:
        return t.creator is None or bool(t.constant)

    def grad_fn(self, t: Any) -> str | None:
        if t.creator is None:
            return None
        op = type(t.creator).__name__
        return _OPS.get(op, op)

    def zero_grad(self, t: Any) -> None:
        t.null_grad()  # MyGrad clears the gradient (None), which the contract allows

    def update_(self, t: Any, delta: np.ndarray) -> None:
        with mg.no_autodiff:  # MyGrad's way to mutate without recording an op
            t -= np.asarray(delta, dtype=t.dtype)

    def detach(self, t: Any) -> Any:
        return t.copy(constant=True)

    def graph_parents(self, node: Hashable) -> list[Hashable]:
        creator = getattr(node, "creator", None)
        return [] if creator is None else list(creator.variables)

    def graph_leaf(self, node: Hashable) -> Any:
        return node if getattr(node, "creator", None) is None else None
