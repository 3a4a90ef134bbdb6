"""tinygrad: an imperative, lazily compiled engine, judged through backward and its grads.

Runs on tinygrad's CPU device where tinygrad can compile for it (it needs clang), else on
its pure-Python device (``PYTHON``); ``--device`` names another. The device becomes
tinygrad's default, since tinygrad places the constants it makes itself there.

Each protocol notion maps to tinygrad's own state, never to an emulation:

* tinygrad has no ``requires_grad`` flag: backward fills ``.grad`` on every live float
  tensor of the graph, so ``requires_grad`` is ignored and the claims about untracked
  and non-leaf tensors judge what tinygrad does (``tinygrad_xfails.toml``);
* it has no leaf flag, no retain_grad and no record of the protocol's op names (its
  graph is of lowered primitives), so those capabilities are not declared;
* its graph is never freed, so every backward retains it.

tinygrad keeps compiled kernels in ``~/.cache/tinygrad`` (``CACHELEVEL=0`` turns that off).
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from conformance import engine as proto
from conformance.errors import ConfigError

try:
    from tinygrad import Device, Tensor, dtypes
    from tinygrad.helpers import DEV
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ConfigError(
        f"backend 'tinygrad' needs tinygrad ({exc}): pip install 'autograd-conformance[tinygrad]'"
    ) from exc

_DTYPES = {"float32": dtypes.float32, "float64": dtypes.float64}


def _default_device() -> str:
    """tinygrad's own choice where the user made one (DEV), else CPU if it opens (it
    compiles a few programs with clang on opening), else the pure-Python device."""
    if DEV.device:
        return str(DEV.device)
    try:
        return str(Device["CPU"].device)
    except Exception:  # noqa: BLE001 - any failure to open CPU (no clang): fall back
        return "PYTHON"


class TinygradBackend(proto.Backend):
    """tinygrad tensors on one device; a tensor's gradient is its ``.grad``."""

    name = "tinygrad"
    capabilities = frozenset(
        {
            proto.BACKWARD,
            proto.RETAIN_GRAPH,
            proto.ZERO_GRAD,
            proto.INPLACE_UPDATE,
            proto.DETACH,
            proto.NN_OPS,
            proto.NATIVE_GRADIENTS,
        }
    )
    expected_failures = str(Path(__file__).with_name("tinygrad_xfails.toml"))

    def __init__(self, device: str | None = None) -> None:
        chosen = _default_device() if device is None else device.upper()
        try:
            self.device = str(Device[chosen].device)
        except Exception as exc:  # noqa: BLE001 - tinygrad raises anything for a bad device
            raise ConfigError(f"--device {device}: tinygrad cannot open {chosen} ({exc})") from None
        DEV.value = self.device
        if self.device == "PYTHON":
            # tinygrad's interpreter runs every element in Python: the size tier's 10^6
            # elements would take hours (measured: past the 300 s limit per check)
            self.max_elements = 10_000

    def versions(self) -> dict[str, str]:
        return {"tinygrad": version("tinygrad"), "device": self.device}

    def tensor(self, array: np.ndarray, dtype: str, requires_grad: bool = False) -> Any:
        a = np.asarray(array)
        # from a 1-d buffer, then reshaped: tinygrad turns a 0-d array into a device-less
        # constant, which backward never gives a gradient (see tinygrad_xfails.toml)
        flat = Tensor(a.reshape(-1), device=self.device, dtype=_DTYPES[dtype])
        return flat.reshape(a.shape)

    def to_numpy(self, t: Any) -> np.ndarray:
        return np.array(t.numpy())  # a copy, of t's shape

    def add(self, a: Any, b: Any) -> Any:
        return a.add(b)

    def sub(self, a: Any, b: Any) -> Any:
        return a.sub(b)

    def mul(self, a: Any, b: Any) -> Any:
        return a.mul(b)

    def div(self, a: Any, b: Any) -> Any:
        return a.div(b)

    def matmul(self, a: Any, b: Any) -> Any:
        return a.matmul(b)

    def pow(self, a: Any, exponent: float) -> Any:
        return a.pow(exponent)

    def neg(self, a: Any) -> Any:
        return a.neg()

    def exp(self, a: Any) -> Any:
        return a.exp()

    def log(self, a: Any) -> Any:
        return a.log()

    def sin(self, a: Any) -> Any:
        return a.sin()

    def cos(self, a: Any) -> Any:
        return a.cos()

    def tanh(self, a: Any) -> Any:
        return a.tanh()

    def sqrt(self, a: Any) -> Any:
        return a.sqrt()

    def sum(self, a: Any, axis: int | None = None) -> Any:
        return a.sum(axis)

    def mean(self, a: Any, axis: int | None = None) -> Any:
        return a.mean(axis)

    def sigmoid(self, a: Any) -> Any:
        return a.sigmoid()

    def relu(self, a: Any) -> Any:
        return a.relu()

    def softmax(self, a: Any, axis: int) -> Any:
        return a.softmax(axis)

    def abs(self, a: Any) -> Any:
        return a.abs()

    def maximum(self, a: Any, b: Any) -> Any:
        return a.maximum(b)

    def minimum(self, a: Any, b: Any) -> Any:
        return a.minimum(b)

    def clip(self, a: Any, low: float, high: float) -> Any:
        return a.clip(low, high)

    def max(self, a: Any, axis: int | None = None) -> Any:
        return a.max(axis)

    def min(self, a: Any, axis: int | None = None) -> Any:
        return a.min(axis)

    def prod(self, a: Any, axis: int | None = None) -> Any:
        return a.prod(axis)

    def logsumexp(self, a: Any, axis: int) -> Any:
        return a.logsumexp(axis)

    def log_softmax(self, a: Any, axis: int) -> Any:
        return a.log_softmax(axis)

    def reshape(self, a: Any, shape: tuple[int, ...]) -> Any:
        return a.reshape(shape)

    def transpose(self, a: Any) -> Any:
        return a.permute(tuple(reversed(range(a.ndim))))

    def take(self, a: Any, indices: tuple[int, ...], axis: int) -> Any:
        at = Tensor(list(indices), device=self.device)
        return a[(slice(None),) * axis + (at,)]

    def concatenate(self, a: Any, b: Any, axis: int) -> Any:
        return a.cat(b, dim=axis)

    def backward(self, t: Any, grad: Any = None, retain_graph: bool = False) -> None:
        # tinygrad's backward without a gradient wants shape (); the protocol's scalar is
        # one element, so only a one-element t is viewed as 0-d. A larger t goes to
        # tinygrad unchanged, which raises (NS-1): it is never summed.
        if grad is None and t.numel() == 1:
            t = t.reshape(())
        t.backward(grad)

    native_vjp = proto.stored_grad_vjp

    def describe(self, obj: Any) -> tuple[str, tuple[int, ...], str]:
        if isinstance(obj, Tensor):
            names = {dtypes.float32: "float32", dtypes.float64: "float64"}
            return "tensor", tuple(int(n) for n in obj.shape), names.get(obj.dtype, str(obj.dtype))
        return proto.describe_other(obj)

    def grad(self, t: Any) -> np.ndarray | None:
        return None if t.grad is None else self.to_numpy(t.grad)

    def zero_grad(self, t: Any) -> None:
        t.grad = None  # what tinygrad's Optimizer.zero_grad does

    def update_(self, t: Any, delta: np.ndarray) -> None:
        # as tinygrad's optimizers step: assign from the detached value, then realize
        step = Tensor(np.asarray(delta).reshape(-1), device=self.device, dtype=t.dtype)
        t.assign(t.detach() - step.reshape(t.shape)).realize()

    def detach(self, t: Any) -> Any:
        return t.detach()
