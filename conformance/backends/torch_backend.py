"""The reference adapter: PyTorch (CPU, or CUDA with ``--device cuda``)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from conformance import engine as proto
from conformance.engine.structure import structure_of
from conformance.engine.versions import versioned
from conformance.errors import ConfigError

try:
    import torch
    from torch.autograd import forward_ad
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ConfigError(
        f"backend 'torch' needs PyTorch ({exc}): pip install 'autograd-conformance[torch]'"
    ) from exc

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
# torch's node names, e.g. AddBackward0, map to protocol op names
_GRAD_FN = re.compile(r"^([A-Za-z]+?)Backward\d*$")
# ... where torch's name is not the protocol's
_RENAMED = {
    "amax": "max",
    "amin": "min",
    "clamp": "clip",
    "logsoftmax": "log_softmax",
    "view": "reshape",
    "unsafeview": "reshape",
    "permute": "transpose",
    "indexselect": "take",
    "cat": "concatenate",
}


class TorchBackend(proto.Backend):
    """PyTorch, with every capability of the protocol."""

    name = "torch"
    capabilities = frozenset(proto.CAPABILITIES)
    # each entry says the torch releases it applies to
    expected_failures = str(Path(__file__).with_name("torch_xfails.toml"))

    def __init__(self, device: str = "cpu") -> None:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(
                f"--device {device}: this torch ({torch.__version__}) sees no CUDA device;"
                " use --device cpu"
            )
        try:
            self.device = torch.device(device)
        except RuntimeError as exc:
            raise ConfigError(f"--device {device}: {exc}") from None

    def versions(self) -> dict[str, str]:
        return {"torch": torch.__version__, "device": str(self.device)}

    def tensor(self, array: np.ndarray, dtype: str, requires_grad: bool = False) -> Any:
        return torch.tensor(
            np.asarray(array), dtype=_DTYPES[dtype], device=self.device, requires_grad=requires_grad
        )

    def to_numpy(self, t: Any) -> np.ndarray:
        return np.asarray(t.detach().cpu().numpy())

    def add(self, a: Any, b: Any) -> Any:
        return torch.add(a, b)

    def sub(self, a: Any, b: Any) -> Any:
        return torch.sub(a, b)

    def mul(self, a: Any, b: Any) -> Any:
        return torch.mul(a, b)

    def div(self, a: Any, b: Any) -> Any:
        return torch.div(a, b)

    def matmul(self, a: Any, b: Any) -> Any:
        return torch.matmul(a, b)

    def pow(self, a: Any, exponent: float) -> Any:
        return torch.pow(a, exponent)

    def neg(self, a: Any) -> Any:
        return torch.neg(a)

    def exp(self, a: Any) -> Any:
        return torch.exp(a)

    def log(self, a: Any) -> Any:
        return torch.log(a)

    def sin(self, a: Any) -> Any:
        return torch.sin(a)

    def cos(self, a: Any) -> Any:
        return torch.cos(a)

    def tanh(self, a: Any) -> Any:
        return torch.tanh(a)

    def sqrt(self, a: Any) -> Any:
        return torch.sqrt(a)

    def sum(self, a: Any, axis: int | None = None) -> Any:
        return torch.sum(a) if axis is None else torch.sum(a, dim=axis)

    def mean(self, a: Any, axis: int | None = None) -> Any:
        return torch.mean(a) if axis is None else torch.mean(a, dim=axis)

    def sigmoid(self, a: Any) -> Any:
        return torch.sigmoid(a)

    def relu(self, a: Any) -> Any:
        return torch.relu(a)

    def softmax(self, a: Any, axis: int) -> Any:
        return torch.softmax(a, dim=axis)

    def abs(self, a: Any) -> Any:
        return torch.abs(a)

    def maximum(self, a: Any, b: Any) -> Any:
        return torch.maximum(a, b)

    def minimum(self, a: Any, b: Any) -> Any:
        return torch.minimum(a, b)

    def clip(self, a: Any, low: float, high: float) -> Any:
        return torch.clamp(a, low, high)

    # amax and amin share the gradient among ties (torch.max(a, dim) would not)
    def max(self, a: Any, axis: int | None = None) -> Any:
        return torch.amax(a) if axis is None else torch.amax(a, dim=axis)

    def min(self, a: Any, axis: int | None = None) -> Any:
        return torch.amin(a) if axis is None else torch.amin(a, dim=axis)

    def prod(self, a: Any, axis: int | None = None) -> Any:
        return torch.prod(a) if axis is None else torch.prod(a, dim=axis)

    def logsumexp(self, a: Any, axis: int) -> Any:
        return torch.logsumexp(a, dim=axis)

    def log_softmax(self, a: Any, axis: int) -> Any:
        return torch.log_softmax(a, dim=axis)

    def reshape(self, a: Any, shape: tuple[int, ...]) -> Any:
        return torch.reshape(a, shape)

    def transpose(self, a: Any) -> Any:
        return torch.permute(a, tuple(reversed(range(a.dim()))))

    def take(self, a: Any, indices: tuple[int, ...], axis: int) -> Any:
        at = torch.tensor(indices, dtype=torch.long, device=a.device)
        return torch.index_select(a, axis, at)

    def concatenate(self, a: Any, b: Any, axis: int) -> Any:
        return torch.cat([a, b], dim=axis)

    def backward(self, t: Any, grad: Any = None, retain_graph: bool = False) -> None:
        t.backward(grad, retain_graph=retain_graph)

    native_vjp = proto.stored_grad_vjp

    def describe(self, obj: Any) -> tuple[str, tuple[int, ...], str]:
        if isinstance(obj, torch.Tensor):
            return "tensor", tuple(obj.shape), str(obj.dtype).removeprefix("torch.")
        return proto.describe_other(obj)

    def grad(self, t: Any) -> np.ndarray | None:
        with warnings.catch_warnings():
            # reading a non-leaf's .grad is exactly what NL-1 checks; torch warns about it
            warnings.simplefilter("ignore", UserWarning)
            g = t.grad
        return None if g is None else self.to_numpy(g)

    def is_leaf(self, t: Any) -> bool:
        return bool(t.is_leaf)

    def retain_grad(self, t: Any) -> None:
        t.retain_grad()

    def grad_fn(self, t: Any) -> str | None:
        if t.grad_fn is None:
            return None
        match = _GRAD_FN.match(type(t.grad_fn).__name__)
        if not match:
            return type(t.grad_fn).__name__
        return _RENAMED.get(match.group(1).lower(), match.group(1).lower())

    def zero_grad(self, t: Any) -> None:
        if t.grad is not None:
            t.grad.zero_()

    def update_(self, t: Any, delta: np.ndarray) -> None:
        with torch.no_grad():
            t.sub_(torch.as_tensor(np.asarray(delta), dtype=t.dtype, device=t.device))

    def detach(self, t: Any) -> Any:
        return t.detach()

    def graph_parents(self, node: Hashable) -> list[Hashable]:
        fn = node.grad_fn if isinstance(node, torch.Tensor) else node
        if fn is None:
            return []
        return [parent for parent, _ in getattr(fn, "next_functions", ()) if parent is not None]

    def graph_leaf(self, node: Hashable) -> Any:
        if isinstance(node, torch.Tensor):
            return node if node.is_leaf else None
        return getattr(node, "variable", None)  # AccumulateGrad nodes hold their leaf

    def hvp(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        dtype: str,
        vectors: Sequence[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        inputs = list(self.tensors(primals, dtype, requires_grad=True))
        # double backward: the first pass records a differentiable graph of itself
        grads = torch.autograd.grad(
            fn(*inputs), inputs, create_graph=True, allow_unused=True, materialize_grads=True
        )
        dot = sum(
            torch.sum(g * self.tensor(np.asarray(v), dtype))
            for g, v in zip(grads, vectors, strict=True)
        )
        if isinstance(dot, torch.Tensor) and dot.requires_grad:
            hvps = torch.autograd.grad(dot, inputs, allow_unused=True, materialize_grads=True)
        else:  # no gradient depends on the inputs (or a backward cut them off): all zeros
            hvps = tuple(torch.zeros_like(t) for t in inputs)
        return [self.to_numpy(g) for g in grads], [self.to_numpy(h) for h in hvps]

    def jvp(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        dtype: str,
        tangents: Sequence[np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray]:
        with forward_ad.dual_level(), warnings.catch_warnings():
            # torch's forward mode loads its own decompositions through torch.jit.script on
            # first use, which warns of that API's deprecation: torch's internals, not ours
            warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated")
            inputs = [
                forward_ad.make_dual(
                    self.tensor(np.asarray(p), dtype), self.tensor(np.asarray(t), dtype)
                )
                for p, t in zip(primals, tangents, strict=True)
            ]
            value, tangent = forward_ad.unpack_dual(fn(*inputs))
            out = self.to_numpy(value)
            return out, np.zeros_like(out) if tangent is None else self.to_numpy(tangent)

    # relu'(0) = 0 and |x|'(0) = sgn(0) = 0; a tie of maximum/minimum is split evenly;
    # clamp passed the gradient at its bounds up to 2.13 (its mask was low <= x <= high)
    # and stops it from 2.14 on (measured on 2.13.0 and 2.14.1)
    conventions = {
        "relu_at_0": 0.0,
        "abs_at_0": 0.0,
        "maximum_tie": 0.5,
        "minimum_tie": 0.5,
        **versioned(torch.__version__, {"clip_at_bound": {"<2.14": 1.0, ">=2.14": 0.0}}, "torch"),
    }

    compiled_programs = ("value_and_gradient", "forward", "gradient")

    def compiled_vjp(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        dtype: str,
        cotangent: np.ndarray | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """:meth:`vjp` of ``torch.compile(fn)`` (inductor, the default backend; one whole
        graph, static shapes), whose backward AOTAutograd compiles too."""
        return self.vjp(self._compiled(fn, dtype, lambda body: body), primals, dtype, cotangent)

    def compiled_forward(
        self, fn: Callable[..., Any], primals: Sequence[np.ndarray], dtype: str
    ) -> np.ndarray:
        """``torch.compile(fn)`` run under ``torch.no_grad()`` on untracked inputs: the
        inference program, forward alone."""
        program = self._compiled(fn, dtype, lambda body: body)
        with torch.no_grad():
            return self.to_numpy(program(*self.tensors(primals, dtype)))

    def compiled_gradient(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        dtype: str,
        cotangent: np.ndarray | None = None,
    ) -> list[np.ndarray]:
        """``torch.compile`` of a function returning ``torch.func.grad`` of ``fn`` (of its
        one-element value) or its ``torch.func.vjp`` pullback of the cotangent: the
        gradient program alone."""
        n = len(primals)

        def gradient_of(body: Callable[..., Any]) -> Callable[..., Any]:
            def program(consts: Any, *args: Any) -> Any:
                def f(*xs: Any) -> Any:
                    return body(consts, *xs)

                if cotangent is None:
                    # a one-element value is the scalar; a larger one makes grad raise
                    def scalar(*xs: Any) -> Any:
                        out = f(*xs)
                        return out.reshape(()) if out.numel() == 1 else out

                    return torch.func.grad(scalar, argnums=tuple(range(n)))(*args)
                pullback = torch.func.vjp(f, *args[:n])[1]
                return pullback(args[n])

            return program

        program = self._compiled(fn, dtype, gradient_of)
        seed = [] if cotangent is None else [self.tensor(np.asarray(cotangent), dtype)]
        grads = program(*self.tensors(primals, dtype), *seed)
        return [self.to_numpy(g) for g in grads]

    def _compiled(
        self,
        fn: Callable[..., Any],
        dtype: str,
        make: Callable[[Callable[..., Any]], Callable[..., Any]],
    ) -> Callable[..., Any]:
        """``torch.compile`` (inductor, one whole graph, static shapes) of ``make(body)``,
        where ``body(consts, *xs)`` computes ``fn``: with a structure the constants are
        arguments, not tensors built inside the graph. Dynamo forgets its earlier graphs
        first: ``fn``'s code is the same for every expression, and past its recompile
        limit dynamo would quietly run it eagerly."""
        torch._dynamo.reset()
        structure = structure_of(fn)
        if structure is None or structure.ops is not self:
            consts: list[Any] = []

            def body(_: Any, *xs: Any) -> Any:
                return fn(*xs)
        else:
            consts = [self.tensor(c, dtype) for c in structure.consts]
            body = structure.body
        compiled = torch.compile(make(body), fullgraph=True, dynamic=False)

        def program(*args: Any) -> Any:
            return compiled(consts, *args)

        return program
