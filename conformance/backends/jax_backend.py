"""jax (CPU, float64 enabled): a functional engine, judged through ``vjp``.

Leaf flags, retain_grad, grad_fn, accumulation and in-place updates cannot be
expressed in jax, so those capabilities are not declared and their claims come out
*unsupported*. Branching on computed values works outside ``jit``: under ``grad``
and ``vjp`` the primal of every tracer is concrete, and :meth:`JaxBackend.to_numpy`
reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from conformance import backend as proto
from conformance.backends.numpy_like import NumpyLikeOps
from conformance.errors import ConfigError

try:
    import jax
    import jax.numpy as jnp
    from jax.extend.core import concrete_or_error
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ConfigError(
        f"backend 'jax' needs jax ({exc}): pip install 'autograd-conformance[jax]'"
    ) from exc

# float64 is off by default in jax; without it "float64" runs would silently be float32
jax.config.update("jax_enable_x64", True)

_DTYPES = {"float32": jnp.float32, "float64": jnp.float64}


class JaxBackend(NumpyLikeOps, proto.Backend):
    """jax.numpy ops; gradients by ``jax.value_and_grad`` and ``jax.vjp``."""

    name = "jax"
    xp = jnp
    capabilities = frozenset({proto.NN_OPS})
    expected_failures = str(Path(__file__).with_name("jax_xfails.toml"))

    def __init__(self, device: str = "cpu") -> None:
        try:
            self.device = jax.devices(device)[0]
        except RuntimeError as exc:
            raise ConfigError(f"--device {device}: {exc}") from None

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

    def vjp(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        dtype: str,
        cotangent: np.ndarray | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        inputs = [self.tensor(np.asarray(p), dtype) for p in primals]
        if cotangent is None:

            def scalar(*args: Any) -> tuple[Any, Any]:
                out = fn(*args)
                # The protocol calls a one-element output a scalar (as torch does); jax.grad
                # wants shape (), so only a one-element value is viewed as 0-d. Any larger
                # output goes to jax.grad unchanged, which raises: it is never summed.
                return (jnp.reshape(out, ()) if jnp.size(out) == 1 else out), out

            argnums = tuple(range(len(inputs)))
            (_, value), grads = jax.value_and_grad(scalar, argnums=argnums, has_aux=True)(*inputs)
        else:
            value, pullback = jax.vjp(fn, *inputs)
            grads = pullback(jnp.asarray(np.asarray(cotangent), dtype=_DTYPES[dtype]))
        return self.to_numpy(value), [np.asarray(g) for g in grads]
