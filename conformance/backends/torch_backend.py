"""The reference adapter: PyTorch (CPU, or CUDA with ``--device cuda``)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import numpy as np

from conformance import backend as proto
from conformance.errors import ConfigError

try:
    import torch
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ConfigError(
        f"backend 'torch' needs PyTorch ({exc}): pip install 'autograd-conformance[torch]'"
    ) from exc

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
# torch's node names, e.g. AddBackward0, map to protocol op names
_GRAD_FN = re.compile(r"^([A-Za-z]+?)Backward\d*$")


# deviations seen in these torch releases; a release without them is judged in full
_XFAIL_RELEASES = ("2.13.",)


class TorchBackend(proto.Backend):
    """PyTorch, with every capability of the protocol."""

    name = "torch"
    capabilities = frozenset(proto.CAPABILITIES)
    expected_failures = (
        str(Path(__file__).with_name("torch_xfails.toml"))
        if torch.__version__.startswith(_XFAIL_RELEASES)
        else None
    )

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

    def backward(self, t: Any, grad: Any = None, retain_graph: bool = False) -> None:
        t.backward(grad, retain_graph=retain_graph)

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
        return match.group(1).lower() if match else type(t.grad_fn).__name__

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
