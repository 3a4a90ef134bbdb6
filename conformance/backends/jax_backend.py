"""jax (CPU, float64 enabled): a functional engine, judged through ``vjp`` (and ``hvp``,
``jvp``: forward over reverse, and forward mode).

Leaf flags, retain_grad, grad_fn, accumulation and in-place updates cannot be
expressed in jax, so those capabilities are not declared and their claims come out
*unsupported*. Branching on computed values works outside ``jit``: under ``grad``
and ``vjp`` the primal of every tracer is concrete, and :meth:`JaxBackend.to_numpy`
reads it.

:meth:`JaxBackend.vjp` compiles, with ``jax.jit``, the functions that carry a
:class:`~conformance.engine.structure.Structure` (they read no values) once per structure,
shapes, dtype and cotangent presence, once that key has come back often enough to pay
for it, and runs every other call eagerly, as jax's users do. Tracing anew on every
call was most of the suite's time on jax (the regression loss, traced at every step).
``AUTOGRAD_CONFORMANCE_JAX_JIT=0`` runs everything eagerly (benchmarks/bench_jax.py).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from conformance import engine as proto
from conformance.backends.numpy_like import NumpyLikeOps
from conformance.engine.structure import Structure, structure_of
from conformance.errors import ConfigError

try:
    import jax
    import jax.numpy as jnp
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ConfigError(
        f"backend 'jax' needs jax ({exc}): pip install 'autograd-conformance[jax]'"
    ) from exc
try:
    from jax.extend.core import concrete_or_error
except ImportError:  # pragma: no cover - jax before 0.10 has it in jax.core only
    from jax.core import concrete_or_error

# float64 is off by default in jax; without it "float64" runs would silently be float32
jax.config.update("jax_enable_x64", True)

_DTYPES = {"float32": jnp.float32, "float64": jnp.float64}
# keys (with their eager runs so far, or their compiled vjp) kept per adapter, least
# recent dropped
_CACHE_SIZE = 1024
# A compilation costs about as much as 20 eager calls (110 ms against 6 ms for the
# regression loss): compiling a key once it has run this often eagerly never costs more
# than twice the best choice, and leaves the one-off random graphs (CR-1, NS-1) eager.
EAGER_RUNS = 16


class JaxBackend(NumpyLikeOps, proto.Backend):
    """jax.numpy ops; gradients by ``jax.value_and_grad`` and ``jax.vjp``."""

    name = "jax"
    xp = jnp
    capabilities = frozenset(
        {proto.NN_OPS, proto.HIGHER_ORDER, proto.JVP, proto.COMPILE, proto.NATIVE_GRADIENTS}
    )
    expected_failures = str(Path(__file__).with_name("jax_xfails.toml"))

    def __init__(self, device: str = "cpu") -> None:
        try:
            self.device = jax.devices(device)[0]
        except RuntimeError as exc:
            raise ConfigError(f"--device {device}: {exc}") from None
        self.jit = os.environ.get("AUTOGRAD_CONFORMANCE_JAX_JIT", "1") != "0"
        self._compiled: OrderedDict[Hashable, int | Callable[..., Any]] = OrderedDict()

    def versions(self) -> dict[str, str]:
        return {"jax": jax.__version__, "jaxlib": version("jaxlib"), "device": str(self.device)}

    def tensor(self, array: np.ndarray, dtype: str, requires_grad: bool = False) -> Any:
        if requires_grad:
            raise proto.Unsupported("jax has no tracked tensors: gradients are taken of functions")
        return jax.device_put(jnp.asarray(np.asarray(array), dtype=_DTYPES[dtype]), self.device)

    def to_numpy(self, t: Any) -> np.ndarray:
        if isinstance(t, jax.core.Tracer):
            # define-by-run: outside jit a grad/vjp tracer carries a concrete primal; under
            # jit there is none, and jax's ConcretizationTypeError is the honest answer
            return np.asarray(concrete_or_error(np.asarray, t, "to_numpy inside fn"))
        return np.asarray(t)

    def sigmoid(self, a: Any) -> Any:
        return jax.nn.sigmoid(a)

    def relu(self, a: Any) -> Any:
        return jax.nn.relu(a)

    def softmax(self, a: Any, axis: int) -> Any:
        return jax.nn.softmax(a, axis=axis)

    def logsumexp(self, a: Any, axis: int) -> Any:
        return jax.nn.logsumexp(a, axis=axis)

    def log_softmax(self, a: Any, axis: int) -> Any:
        return jax.nn.log_softmax(a, axis=axis)

    def take(self, a: Any, indices: tuple[int, ...], axis: int) -> Any:
        return jnp.take(a, jnp.asarray(indices), axis=axis)

    vjp = proto.vjp_from_native

    def native_vjp(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        dtype: str,
        cotangent: np.ndarray | None = None,
    ) -> tuple[Any, list[Any]]:
        inputs, seed = self._arguments(primals, dtype, cotangent)
        structure = structure_of(fn) if self.jit else None
        compiled = None
        # built on other ops (a wrapping adapter's), fn may do anything: run it as it is
        if structure is not None and structure.ops is self:
            compiled = self._compiled_vjp(structure, dtype, inputs, seed)
        value, grads = _vjp(fn, inputs, seed) if compiled is None else compiled(inputs, seed)
        return value, list(grads)

    def describe(self, obj: Any) -> tuple[str, tuple[int, ...], str]:
        if isinstance(obj, jax.Array):
            return "tensor", tuple(obj.shape), str(obj.dtype)
        return proto.describe_other(obj)

    def compiled_vjp(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        dtype: str,
        cotangent: np.ndarray | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """:meth:`vjp` with the forward and the backward pass under one ``jax.jit``,
        always (:meth:`vjp` runs a structure eagerly until it has repeated)."""
        inputs, seed = self._arguments(primals, dtype, cotangent)
        structure = structure_of(fn)
        if structure is None or structure.ops is not self:
            value, grads = jax.jit(lambda xs, v: _vjp(fn, xs, v))(inputs, seed)
        else:  # vjp's cached program for the structure, compiled now if it is not yet
            compiled = self._compiled_vjp(structure, dtype, inputs, seed, eager_runs=0)
            assert compiled is not None  # with no eager runs to wait for
            value, grads = compiled(inputs, seed)
        return self.to_numpy(value), [np.asarray(g) for g in grads]

    compiled_programs = ("value_and_gradient", "forward", "gradient")

    def compiled_forward(
        self, fn: Callable[..., Any], primals: Sequence[np.ndarray], dtype: str
    ) -> np.ndarray:
        """``jax.jit(fn)``: the forward program alone."""
        return self.to_numpy(jax.jit(fn)(*self.tensors(primals, dtype)))

    def compiled_gradient(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        dtype: str,
        cotangent: np.ndarray | None = None,
    ) -> list[np.ndarray]:
        """``jax.jit(jax.grad(f))`` (of the one-element value), or the jitted ``jax.vjp``
        pullback of the cotangent: the gradient program alone."""
        inputs, seed = self._arguments(primals, dtype, cotangent)
        if seed is None:
            argnums = tuple(range(len(inputs)))
            grads = jax.jit(jax.grad(lambda *xs: _as_0d(fn(*xs)), argnums=argnums))(*inputs)
        else:
            grads = jax.jit(lambda xs, v: jax.vjp(fn, *xs)[1](v))(inputs, seed)
        return [np.asarray(g) for g in grads]

    def _arguments(
        self, primals: Sequence[np.ndarray], dtype: str, cotangent: np.ndarray | None
    ) -> tuple[list[Any], Any]:
        """The primals as jax arrays, and the cotangent (None stays None)."""
        inputs = list(self.tensors(primals, dtype))
        seed = (
            None if cotangent is None else jnp.asarray(np.asarray(cotangent), dtype=_DTYPES[dtype])
        )
        return inputs, seed

    def _compiled_vjp(
        self,
        structure: Structure,
        dtype: str,
        inputs: Sequence[Any],
        seed: Any,
        eager_runs: int = EAGER_RUNS,
    ) -> Callable[[Sequence[Any], Any], Any] | None:
        """The jitted :func:`_vjp` of ``structure.body`` for this call's key, given this
        call's constants, or None while the key has run fewer than ``eager_runs`` times
        eagerly. The key holds all the compiled program depends on, so a hit
        computes what tracing this call's ``fn`` would."""
        key = (
            structure.key,
            dtype,
            tuple(jnp.shape(x) for x in inputs),
            tuple(np.shape(c) for c in structure.consts),
            None if seed is None else jnp.shape(seed),
        )
        entry = self._compiled.pop(key, 0)  # put back below, as the most recent
        if isinstance(entry, int) and entry < eager_runs:
            self._compiled[key] = entry + 1
            if len(self._compiled) > _CACHE_SIZE:
                self._compiled.popitem(last=False)
            return None
        if isinstance(entry, int):
            body = structure.body
            entry = jax.jit(lambda cs, xs, v: _vjp(lambda *a: body(cs, *a), xs, v))
        self._compiled[key] = entry
        consts = [self.tensor(c, dtype) for c in structure.consts]
        return partial(entry, consts)

    def hvp(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        dtype: str,
        vectors: Sequence[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        inputs = self.tensors(primals, dtype)
        gradient = jax.grad(lambda *args: _as_0d(fn(*args)), argnums=tuple(range(len(inputs))))
        # forward over reverse: the tangent of the gradient along the vectors
        grads, hvps = jax.jvp(gradient, inputs, self.tensors(vectors, dtype))
        return [np.asarray(g) for g in grads], [np.asarray(h) for h in hvps]

    def jvp(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        dtype: str,
        tangents: Sequence[np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray]:
        inputs = self.tensors(primals, dtype)
        value, tangent = jax.jvp(fn, inputs, self.tensors(tangents, dtype))
        return self.to_numpy(value), np.asarray(tangent)


def _vjp(fn: Callable[..., Any], inputs: Sequence[Any], seed: Any) -> tuple[Any, Any]:
    """``fn``'s value and its VJP with ``seed``, or, with ``seed=None``, the gradient of
    its one-element value (a larger one raises in jax.grad: it is never summed)."""
    if seed is None:

        def scalar(*args: Any) -> tuple[Any, Any]:
            out = fn(*args)
            return _as_0d(out), out

        argnums = tuple(range(len(inputs)))
        (_, value), grads = jax.value_and_grad(scalar, argnums=argnums, has_aux=True)(*inputs)
        return value, grads
    value, pullback = jax.vjp(fn, *inputs)
    return value, pullback(seed)


def _as_0d(out: Any) -> Any:
    """The protocol calls a one-element output a scalar (as torch does); jax.grad wants
    shape (), so only a one-element value is viewed as 0-d. Any larger output goes to
    jax.grad unchanged, which raises: it is never summed."""
    return jnp.reshape(out, ()) if jnp.size(out) == 1 else out
