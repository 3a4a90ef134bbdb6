"""PaddlePaddle (CPU, dynamic graph): an imperative, torch-like engine, judged through
backward and its grads (read unconverted too: GT-1's native gradients are the leaves'
``.grad``), ``paddle.grad(create_graph=True)`` for second derivatives and
``paddle.jit.to_static`` for compiled execution: the value and gradient program, the
forward program alone (under ``paddle.no_grad``) and the gradient program alone (a static
program of ``paddle.grad``).

Each protocol notion maps to paddle's own state:

* a tracked leaf is a tensor with ``stop_gradient=False``; ``is_leaf``, ``.grad``,
  ``retain_grads()``, ``clear_grad()``, ``detach()`` and ``backward(retain_graph=...)``
  are paddle's own;
* ``grad_fn`` names paddle's grad node (``AddGradNode`` is ``"add"``); a leaf's
  ``GradNodeAccumulation`` is no operation, so a leaf records none;
* the recorded graph is walked through the grad nodes' ``next_functions``. A node does
  not expose the tensor it accumulates into, so :meth:`PaddleBackend.graph_leaf` finds
  that tensor among the tracked leaves this adapter created, by the identity
  (``node_ptr``) of paddle's own accumulation node of each.

Not declared: ``jvp``. paddle's only Jacobian-vector product in dynamic mode,
``paddle.incubate.autograd.jvp``, is the "double backward trick" (two reverse passes),
not forward mode, which the protocol asks for; paddle's forward mode (``primapi``)
exists only for static programs with its primitive operators enabled.
"""

from __future__ import annotations

import re
import warnings
import weakref
from collections.abc import Callable, Hashable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from conformance import engine as proto
from conformance.engine.structure import structure_of
from conformance.errors import ConfigError

try:
    with warnings.catch_warnings():
        # paddle warns about ccache (for its C++ extensions) on import
        warnings.simplefilter("ignore")
        import paddle
        import paddle.nn.functional as F
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ConfigError(
        f"backend 'paddle' needs PaddlePaddle ({exc}): pip install 'autograd-conformance[paddle]'"
    ) from exc

_DTYPES = {"float32": "float32", "float64": "float64"}
# paddle's grad node names, e.g. AddGradNode, map to protocol op names
_GRAD_NODE = re.compile(r"^([A-Za-z0-9]+?)GradNode$")
_RENAMED = {
    "subtract": "sub",
    "multiply": "mul",
    "divide": "div",
    "scale": "neg",  # paddle records -x as scale(x, -1): neg is the adapter's only scale
    "amax": "max",
    "amin": "min",
    "logsoftmax": "log_softmax",
    "indexselect": "take",
    "concat": "concatenate",
}
# a leaf's node: where backward accumulates into the leaf's .grad, not an operation
_ACCUMULATION = "GradNodeAccumulation"
# paddle's error for an op whose backward has no backward (create_graph=True through it)
_NO_DOUBLE_GRAD = "doesn't have any grad op"


def _paddle_version() -> str:
    try:
        return version("paddlepaddle")
    except PackageNotFoundError:  # pragma: no cover - a GPU build's distribution name
        return str(paddle.__version__)


class PaddleBackend(proto.Backend):
    """paddle tensors on the CPU; a tensor's gradient is its ``.grad``."""

    name = "paddle"
    capabilities = frozenset(
        {
            proto.BACKWARD,
            proto.IS_LEAF,
            proto.RETAIN_GRAD,
            proto.GRAD_FN,
            proto.RETAIN_GRAPH,
            proto.ZERO_GRAD,
            proto.INPLACE_UPDATE,
            proto.DETACH,
            proto.GRAPH_INTROSPECTION,
            proto.NN_OPS,
            proto.HIGHER_ORDER,
            proto.COMPILE,
            proto.NATIVE_GRADIENTS,
        }
    )
    expected_failures = str(Path(__file__).with_name("paddle_xfails.toml"))

    def __init__(self, device: str = "cpu") -> None:
        try:
            paddle.set_device(device)
        except (ValueError, RuntimeError) as exc:
            raise ConfigError(f"--device {device}: {exc}") from None
        self.device = str(paddle.get_device())
        # node_ptr of a tracked leaf's accumulation node -> the leaf (graph_leaf)
        self._leaves: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
        # one Python object per grad node of the graph being walked (graph_parents):
        # paddle hands out a new wrapper each time, and a walk tells nodes apart by identity
        self._nodes: dict[int, Any] = {}
        # the compiled programs' to_static functions, per program kind, structure key, dtype
        self._static: dict[Hashable, Any] = {}

    def versions(self) -> dict[str, str]:
        return {"paddlepaddle": _paddle_version(), "device": self.device}

    def tensor(self, array: np.ndarray, dtype: str, requires_grad: bool = False) -> Any:
        t = paddle.to_tensor(
            np.asarray(array), dtype=_DTYPES[dtype], stop_gradient=not requires_grad
        )
        if requires_grad and t.grad_fn is not None:
            self._leaves[t.grad_fn.node_ptr()] = t
        return t

    def to_numpy(self, t: Any) -> np.ndarray:
        return np.array(t.detach().numpy())  # a copy, of t's shape

    # -- ops --------------------------------------------------------------------------

    def add(self, a: Any, b: Any) -> Any:
        return paddle.add(a, b)

    def sub(self, a: Any, b: Any) -> Any:
        return paddle.subtract(a, b)

    def mul(self, a: Any, b: Any) -> Any:
        return paddle.multiply(a, b)

    def div(self, a: Any, b: Any) -> Any:
        return paddle.divide(a, b)

    def matmul(self, a: Any, b: Any) -> Any:
        return paddle.matmul(a, b)

    def pow(self, a: Any, exponent: float) -> Any:
        return paddle.pow(a, exponent)

    def neg(self, a: Any) -> Any:
        return paddle.neg(a)

    def exp(self, a: Any) -> Any:
        return paddle.exp(a)

    def log(self, a: Any) -> Any:
        return paddle.log(a)

    def sin(self, a: Any) -> Any:
        return paddle.sin(a)

    def cos(self, a: Any) -> Any:
        return paddle.cos(a)

    def tanh(self, a: Any) -> Any:
        return paddle.tanh(a)

    def sqrt(self, a: Any) -> Any:
        return paddle.sqrt(a)

    def sum(self, a: Any, axis: int | None = None) -> Any:
        return paddle.sum(a) if axis is None else paddle.sum(a, axis=axis)

    def mean(self, a: Any, axis: int | None = None) -> Any:
        return paddle.mean(a) if axis is None else paddle.mean(a, axis=axis)

    def sigmoid(self, a: Any) -> Any:
        return F.sigmoid(a)

    def relu(self, a: Any) -> Any:
        return F.relu(a)

    def softmax(self, a: Any, axis: int) -> Any:
        return F.softmax(a, axis=axis)

    def abs(self, a: Any) -> Any:
        return paddle.abs(a)

    def maximum(self, a: Any, b: Any) -> Any:
        return paddle.maximum(a, b)

    def minimum(self, a: Any, b: Any) -> Any:
        return paddle.minimum(a, b)

    def clip(self, a: Any, low: float, high: float) -> Any:
        return paddle.clip(a, low, high)

    # amax and amin share the gradient evenly among ties
    def max(self, a: Any, axis: int | None = None) -> Any:
        return paddle.amax(a) if axis is None else paddle.amax(a, axis=axis)

    def min(self, a: Any, axis: int | None = None) -> Any:
        return paddle.amin(a) if axis is None else paddle.amin(a, axis=axis)

    def prod(self, a: Any, axis: int | None = None) -> Any:
        return paddle.prod(a) if axis is None else paddle.prod(a, axis=axis)

    def logsumexp(self, a: Any, axis: int) -> Any:
        return paddle.logsumexp(a, axis=axis)

    def log_softmax(self, a: Any, axis: int) -> Any:
        return F.log_softmax(a, axis=axis)

    def reshape(self, a: Any, shape: tuple[int, ...]) -> Any:
        return paddle.reshape(a, list(shape))

    def transpose(self, a: Any) -> Any:
        return paddle.transpose(a, list(reversed(range(a.ndim))))

    def take(self, a: Any, indices: tuple[int, ...], axis: int) -> Any:
        at = paddle.to_tensor(list(indices), dtype="int64")
        return paddle.index_select(a, at, axis=axis)

    def concatenate(self, a: Any, b: Any, axis: int) -> Any:
        return paddle.concat([a, b], axis=axis)

    # -- imperative autodiff -------------------------------------------------------------

    def backward(self, t: Any, grad: Any = None, retain_graph: bool = False) -> None:
        # any t goes to paddle unchanged: paddle's backward takes a one-element t of any
        # shape, and a larger one without grad is paddle's own business (NS-1 judges it)
        t.backward(grad, retain_graph=retain_graph)

    # the output and the leaves' .grad after one backward pass, as paddle stores them
    # (the steps the inherited vjp takes)
    native_vjp = proto.stored_grad_vjp

    def describe(self, obj: Any) -> tuple[str, tuple[int, ...], str]:
        if isinstance(obj, paddle.Tensor):
            return "tensor", tuple(int(n) for n in obj.shape), _dtype_name(obj.dtype)
        return proto.describe_other(obj)

    def grad(self, t: Any) -> np.ndarray | None:
        g = t.grad
        return None if g is None else self.to_numpy(g)

    def is_leaf(self, t: Any) -> bool:
        return bool(t.is_leaf)

    def retain_grad(self, t: Any) -> None:
        t.retain_grads()

    def grad_fn(self, t: Any) -> str | None:
        node = t.grad_fn
        if node is None or node.name() == _ACCUMULATION:
            return None
        name = node.name()
        match = _GRAD_NODE.match(name)
        if not match:
            return name
        op = match.group(1).lower()
        return _RENAMED.get(op, op)

    def zero_grad(self, t: Any) -> None:
        if t.grad is not None:
            t.clear_grad()  # set_to_zero=True: paddle's default, zeros in place

    def update_(self, t: Any, delta: np.ndarray) -> None:
        # as paddle's optimizers step: in place, with no graph recorded
        with paddle.no_grad():
            t.subtract_(paddle.to_tensor(np.asarray(delta), dtype=t.dtype))

    def detach(self, t: Any) -> Any:
        return t.detach()

    def graph_parents(self, node: Any) -> list[Hashable]:
        if isinstance(node, paddle.Tensor):
            self._nodes.clear()  # a walk starts at a tensor: forget the last walk's nodes
            fn = None if node.is_leaf else node.grad_fn
            return [] if fn is None else [self._node(fn)]
        return [self._node(p) for p in node.next_functions if p is not None]

    def graph_leaf(self, node: Any) -> Any:
        if isinstance(node, paddle.Tensor):
            return node if node.is_leaf else None
        if node.name() != _ACCUMULATION:
            return None
        return self._leaves.get(node.node_ptr())

    def _node(self, fn: Any) -> Any:
        """The one wrapper of grad node ``fn`` in this walk (kept alive with its node)."""
        return self._nodes.setdefault(fn.node_ptr(), fn)

    # -- second derivatives ---------------------------------------------------------------

    def hvp(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        dtype: str,
        vectors: Sequence[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        inputs = [self.tensor(np.asarray(p), dtype, requires_grad=True) for p in primals]
        value = fn(*inputs)
        if int(np.prod(value.shape)) != 1:
            # paddle.grad, like backward, sums a larger output silently: the protocol's hvp
            # is of a one-element value only
            raise ValueError(f"hvp of a value of shape {list(value.shape)}: not one element")
        try:
            # double backward: the first pass records a differentiable graph of itself
            grads = paddle.grad(value, inputs, create_graph=True, allow_unused=True)
            grads = [
                paddle.zeros_like(x) if g is None else g for g, x in zip(grads, inputs, strict=True)
            ]
            dot = paddle.add_n(
                [
                    paddle.sum(g * self.tensor(np.asarray(v), dtype))
                    for g, v in zip(grads, vectors, strict=True)
                ]
            )
            if dot.stop_gradient:  # no gradient depends on the inputs: all zeros
                hvps = [paddle.zeros_like(x) for x in inputs]
            else:
                hvps = paddle.grad(dot, inputs, allow_unused=True)
        except RuntimeError as exc:
            if _NO_DOUBLE_GRAD not in str(exc):
                raise
            # paddle 3.3 defines no double grad for softmax, log_softmax, logsumexp, prod,
            # amax and amin: it cannot differentiate their backward
            raise proto.Unsupported(f"paddle cannot differentiate twice: {exc}") from exc
        hvps = [paddle.zeros_like(x) if h is None else h for h, x in zip(hvps, inputs, strict=True)]
        return [self.to_numpy(g) for g in grads], [self.to_numpy(h) for h in hvps]

    # relu'(0) = 0, |x|'(0) = sign(0) = 0; maximum and minimum split a tie evenly; clip
    # passes the gradient at its bounds (its mask is low <= x <= high). Measured with
    # paddle 3.3.1 (paddle.grad at each point).
    conventions = {
        "relu_at_0": 0.0,
        "abs_at_0": 0.0,
        "maximum_tie": 0.5,
        "minimum_tie": 0.5,
        "clip_at_bound": 1.0,
    }

    # -- compiled execution ----------------------------------------------------------------

    #: all three: paddle.jit.to_static transcribes a function calling paddle.grad into one
    #: static program holding the forward ops and their grad ops (pd_op.multiply_grad ...),
    #: so the gradient program is paddle's compiler's own, not an eager backward
    compiled_programs = ("value_and_gradient", "forward", "gradient")

    def compiled_vjp(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        dtype: str,
        cotangent: np.ndarray | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """:meth:`vjp` of ``paddle.jit.to_static(fn, full_graph=True)``: paddle transcribes
        ``fn`` into one static program (its AST mode; the default SOT mode runs graphs of
        fewer than 10 ops eagerly), whose backward is a static program too (the output's
        grad node is a ``Dy2StGradNode``). A structure's body is converted once per key."""
        static, consts = self._program("value_and_gradient", fn, dtype, _forward_program)

        def checked(*xs: Any) -> Any:
            out = _quiet(static, consts, list(xs))
            if out.grad_fn is not None and out.grad_fn.name() != "Dy2StGradNode":
                raise RuntimeError(f"to_static ran eagerly: the output's node is {out.grad_fn}")
            return out

        return self.vjp(checked, primals, dtype, cotangent)

    def compiled_forward(
        self, fn: Callable[..., Any], primals: Sequence[np.ndarray], dtype: str
    ) -> np.ndarray:
        """``paddle.jit.to_static(fn, full_graph=True)`` run under ``paddle.no_grad()`` on
        untracked inputs: the inference program, forward alone, no backward recorded."""
        static, consts = self._program("forward", fn, dtype, _forward_program)
        with paddle.no_grad():
            out = _quiet(static, consts, list(self.tensors(primals, dtype)))
        return self.to_numpy(out)

    def compiled_gradient(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        dtype: str,
        cotangent: np.ndarray | None = None,
    ) -> list[np.ndarray]:
        """``paddle.jit.to_static`` of a function that marks its inputs tracked, runs
        ``fn`` and returns ``paddle.grad`` of the value (seeded with the cotangent): one
        static program of the forward and grad ops, returning the gradients alone."""
        seeded = cotangent is not None
        static, consts = self._program(
            ("gradient", seeded),
            fn,
            dtype,
            _gradient_program_seeded if seeded else _gradient_program,
        )
        args: list[Any] = [consts, list(self.tensors(primals, dtype))]
        if seeded:
            args.append(self.tensor(np.asarray(cotangent), dtype))
        grads = _quiet(static, *args)
        # None for an input the value ignores
        return [
            np.zeros(np.shape(p)) if g is None else self.to_numpy(g)
            for g, p in zip(grads, primals, strict=True)
        ]

    def _program(
        self,
        kind: Hashable,
        fn: Callable[..., Any],
        dtype: str,
        make: Callable[[Callable[..., Any]], Any],
    ) -> tuple[Any, list[Any]]:
        """The ``to_static`` program ``make(body)``, where ``body(consts, *xs)`` computes
        ``fn``, and its constants: with a structure (cached per kind, key and dtype) the
        constants are arguments; without one, ``fn`` is converted afresh and takes none."""
        structure = structure_of(fn)
        if structure is None or structure.ops is not self:
            return make(lambda consts, *xs: fn(*xs)), []
        key = (kind, structure.key, dtype)
        static = self._static.get(key)
        if static is None:
            static = self._static[key] = make(structure.body)
        return static, [self.tensor(c, dtype) for c in structure.consts]


def _dtype_name(dtype: Any) -> str:
    """paddle's dtype as the protocol names it (``paddle.float32`` is ``"float32"``)."""
    return str(dtype).removeprefix("paddle.")


def _quiet(static: Callable[..., Any], *args: Any) -> Any:
    with warnings.catch_warnings():
        # paddle's own to_tensor (take's indices) asks a static value for its place
        warnings.filterwarnings("ignore", "Tensor do not have 'place' interface")
        return static(*args)


def _forward_program(body: Callable[..., Any]) -> Any:
    """``body(consts, *xs)`` through paddle's dynamic-to-static compiler, as one whole
    program taking two lists of tensors (a static function has a fixed arity)."""

    def program(consts: list[Any], xs: list[Any]) -> Any:  # the AST mode takes no lambda
        return body(consts, *xs)

    return paddle.jit.to_static(program, full_graph=True)


def _gradient_program(body: Callable[..., Any]) -> Any:
    """The static program of ``paddle.grad`` of ``body``'s value (unseeded: paddle's
    own handling of the value, whatever its size) with respect to the inputs."""

    def program(consts: list[Any], xs: list[Any]) -> Any:
        for x in xs:
            x.stop_gradient = False
        return _detached(paddle.grad(body(consts, *xs), xs))

    return paddle.jit.to_static(program, full_graph=True)


def _gradient_program_seeded(body: Callable[..., Any]) -> Any:
    """As :func:`_gradient_program`, with the output gradient ``v`` as an argument."""

    def program(consts: list[Any], xs: list[Any], v: Any) -> Any:
        for x in xs:
            x.stop_gradient = False
        return _detached(paddle.grad(body(consts, *xs), xs, grad_outputs=v))

    return paddle.jit.to_static(program, full_graph=True)


def _detached(grads: Sequence[Any]) -> list[Any]:
    """The gradient program's outputs, untracked. Tracked outputs would make to_static
    append the program's own backward (a double backward, which paddle lacks for most
    grad ops: "op 'pd_op.exp_grad' has no grad op"), though nothing differentiates it.
    paddle.grad in a static program gives None for an input the value ignores (it
    discards allow_unused)."""
    return [None if g is None else g.detach() for g in grads]
