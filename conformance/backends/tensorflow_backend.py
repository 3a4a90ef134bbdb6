"""TensorFlow (CPU, eager): a functional engine, judged through ``vjp`` (``GradientTape``),
``hvp`` (nested tapes: the gradient of the tape's own gradient), ``jvp``
(``tf.autodiff.ForwardAccumulator``, TensorFlow's forward mode) and ``compiled_vjp``
(``tf.function``, forward and backward pass in one graph).

TensorFlow has no tracked tensors with a stored gradient: a tape watches tensors and
``tape.gradient`` returns gradients, nothing accumulates into a tensor, and there is no
leaf flag, retain_grad, grad_fn or in-place update of a watched tensor (a ``tf.Variable``
is updated in place, but its gradient is still only what a tape returns). So, as with
jax, the imperative capabilities are not declared and their claims come out
*unsupported*. Values are concrete in eager mode, so DG-1's programs, which branch on
computed values, run as they are; under ``tf.function`` (CE-1 only) they would not.

``tape.gradient`` gives an ``IndexedSlices`` for ``tf.gather`` (take): :meth:`native_vjp`
returns it as it is (GT-1 judges it: it is not a tensor), and :meth:`to_numpy` densifies
it (``tf.convert_to_tensor``, which adds up repeated indices) for every numeric claim.

Compiled programs (CE-1): ``tf.function`` of the tape's forward and backward pass
together (:meth:`compiled_vjp`), of ``fn`` alone (:meth:`compiled_forward`) and of a
function that runs a ``GradientTape`` and returns only the gradients
(:meth:`compiled_gradient`).

As the jax adapter does with ``jax.jit``, :meth:`TensorFlowBackend.vjp` runs the
functions that carry a :class:`~conformance.engine.structure.Structure` (they read no values)
through a cached ``tf.function`` once their key (structure, dtype, cotangent presence)
has run :data:`EAGER_RUNS` times eagerly: the regression loss of LR-4/LR-5, evaluated
thousands of times, is traced once instead of taped eagerly each time (a ``ci`` run
took 254 s eagerly on the 2-core project machine). Every other function runs eagerly.
``AUTOGRAD_CONFORMANCE_TF_FUNCTION=0`` runs everything eagerly.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from conformance import engine as proto
from conformance.engine.structure import structure_of
from conformance.errors import ConfigError

# TensorFlow's C++ logging (oneDNN notices, CPU feature lines) on every worker's stderr
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:
    import tensorflow as tf
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ConfigError(
        f"backend 'tensorflow' needs TensorFlow ({exc}):"
        " pip install 'autograd-conformance[tensorflow]'"
    ) from exc

_DTYPES = {"float32": tf.float32, "float64": tf.float64}
_ZERO = tf.UnconnectedGradients.ZERO  # an input the value ignores gets zeros, not None
# keys (with their eager runs so far, or their tf.function) kept per adapter, least
# recent dropped
_CACHE_SIZE = 1024
# as the jax adapter's: a key is traced once it has run this often eagerly, which leaves
# the one-off random graphs (CR-1, NS-1) eager
EAGER_RUNS = 16


def _tf_version() -> str:
    for dist in ("tensorflow", "tensorflow-cpu", "tf-nightly"):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return str(tf.__version__)  # pragma: no cover - an unusual distribution


def _dense(g: Any) -> Any:
    """A gradient as a dense tensor (tf.gather's is an IndexedSlices)."""
    return tf.convert_to_tensor(g)


class TensorFlowBackend(proto.Backend):
    """tf ops; gradients by ``tf.GradientTape``, forward mode by ``ForwardAccumulator``."""

    name = "tensorflow"
    capabilities = frozenset(
        {proto.NN_OPS, proto.HIGHER_ORDER, proto.JVP, proto.COMPILE, proto.NATIVE_GRADIENTS}
    )
    expected_failures = str(Path(__file__).with_name("tensorflow_xfails.toml"))

    def __init__(self, device: str = "cpu") -> None:
        wanted = device.upper()
        found = [d.name for d in tf.config.list_logical_devices() if wanted in d.name.upper()]
        if not found:
            raise ConfigError(
                f"--device {device}: this TensorFlow ({tf.__version__}) sees no such device"
            )
        self.device = found[0]
        self.graphs = os.environ.get("AUTOGRAD_CONFORMANCE_TF_FUNCTION", "1") != "0"
        self._compiled: OrderedDict[Hashable, Any] = OrderedDict()
        # compiled_forward's and compiled_gradient's tf.functions, per kind, key and dtype
        self._programs: OrderedDict[Hashable, Any] = OrderedDict()

    def versions(self) -> dict[str, str]:
        return {"tensorflow": _tf_version(), "device": self.device}

    def tensor(self, array: np.ndarray, dtype: str, requires_grad: bool = False) -> Any:
        if requires_grad:
            raise proto.Unsupported(
                "TensorFlow has no tracked tensors: gradients are taken by a tape"
            )
        with tf.device(self.device):
            return tf.constant(np.asarray(array), dtype=_DTYPES[dtype])

    def to_numpy(self, t: Any) -> np.ndarray:
        # an eager tensor's values (a symbolic one raises: no value); an IndexedSlices
        # (tf.gather's gradient) densified first
        return np.array(_dense(t))

    # -- ops --------------------------------------------------------------------------

    def add(self, a: Any, b: Any) -> Any:
        return tf.add(a, b)

    def sub(self, a: Any, b: Any) -> Any:
        return tf.subtract(a, b)

    def mul(self, a: Any, b: Any) -> Any:
        return tf.multiply(a, b)

    def div(self, a: Any, b: Any) -> Any:
        return tf.divide(a, b)

    def matmul(self, a: Any, b: Any) -> Any:
        return tf.matmul(a, b)

    def pow(self, a: Any, exponent: float) -> Any:
        return tf.pow(a, tf.constant(exponent, dtype=a.dtype))

    def neg(self, a: Any) -> Any:
        return tf.negative(a)

    def exp(self, a: Any) -> Any:
        return tf.exp(a)

    def log(self, a: Any) -> Any:
        return tf.math.log(a)

    def sin(self, a: Any) -> Any:
        return tf.sin(a)

    def cos(self, a: Any) -> Any:
        return tf.cos(a)

    def tanh(self, a: Any) -> Any:
        return tf.tanh(a)

    def sqrt(self, a: Any) -> Any:
        return tf.sqrt(a)

    def sum(self, a: Any, axis: int | None = None) -> Any:
        return tf.reduce_sum(a, axis=axis)

    def mean(self, a: Any, axis: int | None = None) -> Any:
        return tf.reduce_mean(a, axis=axis)

    def sigmoid(self, a: Any) -> Any:
        return tf.sigmoid(a)

    def relu(self, a: Any) -> Any:
        return tf.nn.relu(a)

    def softmax(self, a: Any, axis: int) -> Any:
        return tf.nn.softmax(a, axis=axis)

    def abs(self, a: Any) -> Any:
        return tf.abs(a)

    def maximum(self, a: Any, b: Any) -> Any:
        return tf.maximum(a, b)

    def minimum(self, a: Any, b: Any) -> Any:
        return tf.minimum(a, b)

    def clip(self, a: Any, low: float, high: float) -> Any:
        return tf.clip_by_value(a, low, high)

    # reduce_max and reduce_min share the gradient evenly among ties
    def max(self, a: Any, axis: int | None = None) -> Any:
        return tf.reduce_max(a, axis=axis)

    def min(self, a: Any, axis: int | None = None) -> Any:
        return tf.reduce_min(a, axis=axis)

    def prod(self, a: Any, axis: int | None = None) -> Any:
        return tf.reduce_prod(a, axis=axis)

    def logsumexp(self, a: Any, axis: int) -> Any:
        return tf.reduce_logsumexp(a, axis=axis)

    def log_softmax(self, a: Any, axis: int) -> Any:
        return tf.nn.log_softmax(a, axis=axis)

    def reshape(self, a: Any, shape: tuple[int, ...]) -> Any:
        return tf.reshape(a, shape)

    def transpose(self, a: Any) -> Any:
        return tf.transpose(a)  # axes reversed, TensorFlow's default

    def take(self, a: Any, indices: tuple[int, ...], axis: int) -> Any:
        return tf.gather(a, list(indices), axis=axis)

    def concatenate(self, a: Any, b: Any, axis: int) -> Any:
        return tf.concat([a, b], axis=axis)

    # -- differentiation ------------------------------------------------------------------

    # native_vjp's value and gradients converted to numpy (IndexedSlices densified)
    vjp = proto.vjp_from_native

    def native_vjp(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        dtype: str,
        cotangent: np.ndarray | None = None,
    ) -> tuple[Any, list[Any]]:
        """The value and what ``tape.gradient`` returns (through the cached
        ``tf.function`` once a structure has repeated), unconverted: ``tf.gather``'s
        gradient stays an ``IndexedSlices``."""
        inputs, seed = self._arguments(primals, dtype, cotangent)
        structure = structure_of(fn) if self.graphs else None
        graph = None
        # built on other ops (a wrapping adapter's), fn may do anything: run it as it is
        if structure is not None and structure.ops is self:
            graph = self._graph(structure, dtype, seed is None, EAGER_RUNS)
        with tf.device(self.device):
            if graph is None:
                value, grads = _vjp(fn, inputs, seed)
            else:
                assert structure is not None
                consts = [self.tensor(c, dtype) for c in structure.consts]
                value, grads = graph(consts, inputs, seed)
        return value, list(grads)

    def describe(self, obj: Any) -> tuple[str, tuple[int, ...], str]:
        if isinstance(obj, tf.Tensor):
            return "tensor", tuple(int(n) for n in obj.shape), obj.dtype.name
        return proto.describe_other(obj)

    def hvp(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        dtype: str,
        vectors: Sequence[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        inputs = [self.tensor(np.asarray(p), dtype) for p in primals]
        along = [self.tensor(np.asarray(v), dtype) for v in vectors]
        with tf.device(self.device), tf.GradientTape() as outer:
            outer.watch(inputs)
            with tf.GradientTape() as inner:
                inner.watch(inputs)
                value = fn(*inputs)
            if int(np.prod(value.shape)) != 1:
                # tape.gradient sums a larger value silently: hvp is of one element only
                raise ValueError(f"hvp of a value of shape {value.shape}: not one element")
            # reverse over reverse: the outer tape records the inner tape's backward pass
            grads = [_dense(g) for g in inner.gradient(value, inputs, unconnected_gradients=_ZERO)]
            dot = tf.add_n([tf.reduce_sum(g * v) for g, v in zip(grads, along, strict=True)])
        hvps = outer.gradient(dot, inputs, unconnected_gradients=_ZERO)
        return [self.to_numpy(g) for g in grads], [self.to_numpy(_dense(h)) for h in hvps]

    def jvp(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        dtype: str,
        tangents: Sequence[np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray]:
        inputs = [self.tensor(np.asarray(p), dtype) for p in primals]
        pushed = [self.tensor(np.asarray(t), dtype) for t in tangents]
        with tf.device(self.device), tf.autodiff.ForwardAccumulator(inputs, pushed) as acc:
            value = fn(*inputs)
        tangent = acc.jvp(value, unconnected_gradients=_ZERO)
        return self.to_numpy(value), self.to_numpy(tangent)

    # relu'(0) = 0 and |x|'(0) = sign(0) = 0; maximum and minimum give a tie wholly to
    # their first operand (their masks are x >= y and x <= y); clip_by_value passes the
    # gradient at its bounds. Measured with TensorFlow 2.21.0 (tape.gradient at each point).
    conventions = {
        "relu_at_0": 0.0,
        "abs_at_0": 0.0,
        "maximum_tie": 1.0,
        "minimum_tie": 1.0,
        "clip_at_bound": 1.0,
    }

    compiled_programs = ("value_and_gradient", "forward", "gradient")

    def compiled_vjp(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        dtype: str,
        cotangent: np.ndarray | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """:meth:`vjp` with the forward pass and the tape's backward pass traced into one
        ``tf.function`` graph (TensorFlow's graph compiler, Grappler's optimizations; not
        XLA), run as a graph, never eagerly. A structure's body is traced once per key;
        tf.function traces again for new shapes."""
        inputs, seed = self._arguments(primals, dtype, cotangent)
        structure = structure_of(fn)
        if structure is None or structure.ops is not self:
            graph = tf.function(lambda xs, v: _vjp(fn, xs, v))
            args: tuple[Any, ...] = (inputs, seed)
        else:  # vjp's cached graph for the structure, traced now if it is not yet
            graph = self._graph(structure, dtype, seed is None, eager_runs=0)
            args = ([self.tensor(c, dtype) for c in structure.consts], inputs, seed)
        with tf.device(self.device):
            value, grads = graph(*args)
        return self.to_numpy(value), [self.to_numpy(g) for g in grads]

    def compiled_forward(
        self, fn: Callable[..., Any], primals: Sequence[np.ndarray], dtype: str
    ) -> np.ndarray:
        """``tf.function`` of ``fn`` alone, with no tape: the inference graph."""
        inputs, _ = self._arguments(primals, dtype, None)
        graph, consts = self._program("forward", fn, dtype, _forward)
        with tf.device(self.device):
            return self.to_numpy(graph(consts, inputs))

    def compiled_gradient(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        dtype: str,
        cotangent: np.ndarray | None = None,
    ) -> list[np.ndarray]:
        """``tf.function`` of a function that runs ``fn`` under a ``GradientTape`` and
        returns only ``tape.gradient`` (seeded with the cotangent): the gradient graph."""
        inputs, seed = self._arguments(primals, dtype, cotangent)
        graph, consts = self._program(("gradient", seed is None), fn, dtype, _gradient)
        with tf.device(self.device):
            grads = graph(consts, inputs, seed)
        return [self.to_numpy(g) for g in grads]

    def _program(
        self,
        kind: Hashable,
        fn: Callable[..., Any],
        dtype: str,
        make: Callable[[Callable[..., Any]], Any],
    ) -> tuple[Any, list[Any]]:
        """The ``tf.function`` ``make(body)``, where ``body(consts, *xs)`` computes ``fn``,
        and its constants: with a structure (cached per kind, key and dtype) the
        constants are arguments; without one, ``fn`` is traced afresh and takes none."""
        structure = structure_of(fn)
        if structure is None or structure.ops is not self:
            return make(lambda consts, *xs: fn(*xs)), []
        key = (kind, structure.key, dtype)
        graph = self._programs.pop(key, None)
        if graph is None:
            graph = make(structure.body)
        self._programs[key] = graph  # the most recent
        if len(self._programs) > _CACHE_SIZE:
            self._programs.popitem(last=False)
        return graph, [self.tensor(c, dtype) for c in structure.consts]

    def _graph(self, structure: Any, dtype: str, unseeded: bool, eager_runs: int) -> Any:
        """The ``tf.function`` of :func:`_vjp` of ``structure.body`` for this key, taking
        (constants, inputs, seed), or None while the key has run fewer than
        ``eager_runs`` times eagerly. tf.function itself traces again for new shapes."""
        key = (structure.key, dtype, unseeded)
        entry = self._compiled.pop(key, 0)  # put back below, as the most recent
        if isinstance(entry, int) and entry < eager_runs:
            self._compiled[key] = entry + 1
            entry = None
        elif isinstance(entry, int):
            body = structure.body
            entry = tf.function(lambda cs, xs, v: _vjp(lambda *a: body(cs, *a), xs, v))
            self._compiled[key] = entry
        else:
            self._compiled[key] = entry
        if len(self._compiled) > _CACHE_SIZE:
            self._compiled.popitem(last=False)
        return entry

    def _arguments(
        self, primals: Sequence[np.ndarray], dtype: str, cotangent: np.ndarray | None
    ) -> tuple[list[Any], Any]:
        """The primals as tensors, and the cotangent (None stays None)."""
        inputs = [self.tensor(np.asarray(p), dtype) for p in primals]
        seed = None if cotangent is None else self.tensor(np.asarray(cotangent), dtype)
        return inputs, seed


def _vjp(fn: Callable[..., Any], inputs: Sequence[Any], seed: Any) -> tuple[Any, list[Any]]:
    """``fn``'s value and its VJP with ``seed`` by one tape, as the tape returns them
    (``tf.gather``'s an ``IndexedSlices``). With ``seed=None`` the value goes to
    ``tape.gradient`` as it is, whatever its size: TensorFlow's own behaviour is what NS-1
    judges (it is never summed here)."""
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        value = fn(*inputs)
    grads = tape.gradient(value, inputs, output_gradients=seed, unconnected_gradients=_ZERO)
    return value, list(grads)


def _forward(body: Callable[..., Any]) -> Any:
    """The ``tf.function`` of ``body(consts, *xs)``, taking (constants, inputs)."""
    return tf.function(lambda cs, xs: body(cs, *xs))


def _gradient(body: Callable[..., Any]) -> Any:
    """The ``tf.function`` of the tape's gradients alone of ``body(consts, *xs)``, taking
    (constants, inputs, seed)."""
    return tf.function(lambda cs, xs, v: _vjp(lambda *a: body(cs, *a), xs, v)[1])
