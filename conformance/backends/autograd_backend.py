"""HIPS autograd (``autograd.numpy``): a functional engine, judged through ``vjp`` (and
``hvp``, ``jvp``: its grad of grad and forward mode).

Tensors are plain numpy arrays; inside a differentiated function they are autograd's
boxes, whose values :meth:`AutogradBackend.to_numpy` unwraps, so branching on computed
values works. Leaf flags, retain_grad, grad_fn, accumulation and in-place updates
cannot be expressed, so those capabilities are not declared.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from conformance import engine as proto
from conformance.backends.numpy_like import NumpyLikeOps
from conformance.errors import ConfigError

try:
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.special import expit, logsumexp
    from autograd.tracer import getval
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ConfigError(
        f"backend 'autograd' needs HIPS autograd and scipy ({exc}):"
        " pip install 'autograd-conformance[autograd]'"
    ) from exc

_DTYPES: dict[str, np.dtype[Any]] = {
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
}


class AutogradBackend(NumpyLikeOps, proto.Backend):
    """autograd.numpy ops; gradients by ``autograd.value_and_grad`` and ``make_vjp``."""

    name = "autograd"
    xp = anp
    capabilities = frozenset({proto.NN_OPS, proto.HIGHER_ORDER, proto.JVP, proto.NATIVE_GRADIENTS})
    expected_failures = str(Path(__file__).with_name("autograd_xfails.toml"))

    def versions(self) -> dict[str, str]:
        return {"autograd": version("autograd"), "numpy": np.__version__}

    def tensor(self, array: np.ndarray, dtype: str, requires_grad: bool = False) -> Any:
        if requires_grad:
            raise proto.Unsupported(
                "HIPS autograd has no tracked tensors: gradients are taken of functions"
            )
        return np.array(array, dtype=_DTYPES[dtype])

    def to_numpy(self, t: Any) -> np.ndarray:
        return np.array(getval(t))  # getval unwraps nested boxes down to the value

    # autograd has no nn module; these use its differentiable scipy.special and numpy
    def sigmoid(self, a: Any) -> Any:
        return expit(a)

    def relu(self, a: Any) -> Any:
        return anp.maximum(a, 0.0)

    def softmax(self, a: Any, axis: int) -> Any:
        return anp.exp(a - logsumexp(a, axis=axis, keepdims=True))

    def logsumexp(self, a: Any, axis: int) -> Any:
        return logsumexp(a, axis=axis)

    def log_softmax(self, a: Any, axis: int) -> Any:
        return a - logsumexp(a, axis=axis, keepdims=True)

    def take(self, a: Any, indices: tuple[int, ...], axis: int) -> Any:
        # indexing, which autograd differentiates (np.take it does not)
        return a[(slice(None),) * axis + (np.array(indices),)]

    vjp = proto.vjp_from_native

    def native_vjp(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        dtype: str,
        cotangent: np.ndarray | None = None,
    ) -> tuple[Any, list[Any]]:
        inputs = self.tensors(primals, dtype)

        def packed(args: tuple[Any, ...]) -> Any:
            return fn(*args)  # autograd differentiates with respect to one (tuple) argument

        with warnings.catch_warnings():
            # a value that ignores an input is legal here (its gradient is zeros)
            warnings.filterwarnings("ignore", "Output seems independent of input")
            if cotangent is None:
                # raises TypeError itself when the value has more than one element
                value, grads = autograd.value_and_grad(packed)(inputs)
            else:
                pullback, value = autograd.make_vjp(packed)(inputs)
                grads = pullback(np.asarray(cotangent, dtype=_DTYPES[dtype]))
        # autograd gives zeros (never None) for an input the value ignores
        return value, list(grads)

    def describe(self, obj: Any) -> tuple[str, tuple[int, ...], str]:
        # autograd's arrays are numpy's own: a gradient is the engine's type when it is one
        if isinstance(obj, np.ndarray):
            return "tensor", obj.shape, str(obj.dtype)
        return proto.describe_other(obj)

    def hvp(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        dtype: str,
        vectors: Sequence[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        inputs = self.tensors(primals, dtype)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Output seems independent of input")
            # make_hvp is the vector-Jacobian product of grad(fn): reverse over reverse
            pullback, grads = autograd.make_hvp(lambda args: fn(*args))(inputs)
            hvps = pullback(self.tensors(vectors, dtype))
        return [np.asarray(g) for g in grads], [np.asarray(h) for h in hvps]

    def jvp(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        dtype: str,
        tangents: Sequence[np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray]:
        inputs = self.tensors(primals, dtype)
        push = autograd.make_jvp(lambda args: fn(*args))(inputs)
        try:
            value, tangent = push(self.tensors(tangents, dtype))
        except NotImplementedError as exc:
            if not str(exc).startswith("JVP of "):
                raise
            # autograd 1.9.1 has no forward-mode rule for some primitives (expit, behind
            # sigmoid): its forward mode cannot express them
            raise proto.Unsupported(f"HIPS autograd's forward mode: {exc}") from exc
        return self.to_numpy(value), np.asarray(tangent)
