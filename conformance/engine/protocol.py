"""The backend protocol: what an autodiff engine implements to be judged by the suite.

An adapter subclasses :class:`Backend` (or provides the same methods on any object),
sets :attr:`Backend.name`, :attr:`Backend.capabilities` and :attr:`Backend.dtypes`, and
implements the methods below. Tensors are opaque to the suite: it only passes them back
to the adapter's own methods. Values cross the boundary as numpy arrays.

Two families of engines fit:

* imperative engines (torch, MyGrad, micrograd-style): implement :meth:`tensor` with
  ``requires_grad=True``, :meth:`backward` and :meth:`grad`, declare
  :data:`BACKWARD`, and inherit :meth:`vjp`, which is built from those three;
* functional engines (jax, HIPS autograd): override :meth:`vjp` and leave the
  imperative capabilities undeclared; the claims that need them are reported as
  *unsupported*, never as passed or failed.

Scalar engines (micrograd-style, one number per node) are imperative engines too:
:class:`conformance.engine.scalar.ScalarBackend` builds their tensors, reductions and matmul.

The ops, by their protocol names (:data:`BINARY_OPS`, ``pow``, :data:`UNARY_OPS`,
:data:`REDUCTIONS`, :data:`NN_OP_NAMES`, :data:`EXTRA_OPS`): ``add``, ``sub``, ``mul``,
``div``, ``matmul``, ``pow``, ``neg``, ``exp``, ``log``, ``sin``, ``cos``, ``tanh``,
``sqrt``, ``sum``, ``mean``, ``sigmoid``, ``relu``, ``softmax``, and the extra group
``abs``, ``maximum``, ``minimum``, ``clip``, ``max``, ``min``, ``prod``, ``logsumexp``,
``log_softmax``, ``reshape``, ``transpose``, ``take``, ``concatenate``.
:meth:`Backend.grad_fn` names ops by them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

from conformance.engine.capabilities import (
    BACKWARD,
    CAPABILITIES,
    COMPILE,
    COMPILED_PROGRAMS,
    REQUIRED_METHODS,
    Tensor,
)
from conformance.engine.op_contract import OpContract


class Backend(OpContract):
    """Base class for adapters. Every method states its contract.

    Required: :meth:`tensor`, :meth:`to_numpy`, the ops, and either :meth:`vjp` or the
    imperative trio (:meth:`tensor` with ``requires_grad=True``, :meth:`backward`,
    :meth:`grad`). Optional methods belong to the capabilities in :data:`CAPABILITIES`;
    a backend that declares a capability must implement its methods.
    """

    #: Short name used in test ids and reports, e.g. ``"torch"``.
    name: str = "unnamed"
    #: The capabilities this engine has (see :data:`CAPABILITIES`).
    capabilities: frozenset[str] = frozenset()
    #: The dtypes the suite runs in, among ``"float32"`` and ``"float64"``.
    dtypes: tuple[str, ...] = ("float32", "float64")
    #: The most elements the suite may put in one tensor for this engine (None: no
    #: limit). The size tier's arrays (about 10^6 elements) above it are unsupported: a
    #: scalar engine, one Python object per element, sets one.
    max_elements: int | None = None

    def versions(self) -> dict[str, str]:
        """Must return the versions of the engine's packages, for reports."""
        return {}

    # -- values ---------------------------------------------------------------------

    def tensor(self, array: np.ndarray, dtype: str, requires_grad: bool = False) -> Tensor:
        """Must return a new tensor holding ``array`` cast to ``dtype``.

        With ``requires_grad=True`` the tensor is a tracked leaf (imperative engines).
        Functional engines may raise :class:`Unsupported` for ``requires_grad=True``.

        An engine with no such flag (tinygrad, micrograd-style engines: every tensor is
        tracked) ignores it and returns an ordinary tensor either way. It must not emulate
        an untracked tensor (say, by detaching it): the claims about untracked tensors
        then judge what the engine really does with its tensors.
        """
        raise NotImplementedError

    def tensors(
        self, arrays: Sequence[np.ndarray], dtype: str, requires_grad: bool = False
    ) -> tuple[Tensor, ...]:
        """A convenience, not to override: :meth:`tensor` of each array, as a tuple."""
        return tuple(self.tensor(np.asarray(a), dtype, requires_grad) for a in arrays)

    def to_numpy(self, t: Tensor) -> np.ndarray:
        """Must return t's values as a numpy array of t's shape, not tied to any graph."""
        raise NotImplementedError

    # -- differentiation -------------------------------------------------------------

    def vjp(
        self,
        fn: Callable[..., Tensor],
        primals: Sequence[np.ndarray],
        dtype: str,
        cotangent: np.ndarray | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Must return ``(value, grads)`` for ``value = fn(*inputs)``.

        ``fn`` takes one tensor per primal and combines them with this backend's ops.
        ``grads[i]`` is the vector-Jacobian product ``cotangent . d value / d input_i``
        as a numpy array of primal i's shape (zeros when the value does not depend on
        it). With ``cotangent=None`` the value must be a scalar (one element) and the
        gradient is taken of it, whatever its shape (``()``, ``(1,)``, ``(1, 1)``); a
        non-scalar value must then raise, never be summed silently.

        To signal that error (claim NS-1), raise any exception other than
        :class:`Unsupported` from this call, after ``fn`` has run. The suite counts it
        only where ``fn`` runs on untracked tensors and this same call succeeds with a
        cotangent and on the value summed to one element, so a forward or an adapter
        that raises anyway is not taken for it; :class:`Unsupported` here fails NS-1.

        The suite only calls it with a value that depends on at least one primal. The
        default implementation is built from :meth:`tensor`, :meth:`backward` and
        :meth:`grad`; functional engines override it.

        Some ``fn`` carry a :class:`conformance.engine.structure.Structure` (read it with
        ``conformance.engine.structure.structure_of(fn)``): their computation as a key, their
        constants, and a body taking the constants as arguments; they read no values. An
        adapter may use it to compile once per key, shapes, dtype and cotangent presence
        (the jax adapter's ``jit``), and must not rely on it: any ``fn`` without one, such
        as DG-1's programs, which branch on computed values, must run as it is.
        """
        out, inputs = run_backward(self, fn, primals, dtype, cotangent)
        grads = []
        for p, t in zip(primals, inputs, strict=True):
            g = self.grad(t)
            grads.append(np.zeros(np.shape(p)) if g is None else g)
        return self.to_numpy(out), grads

    def backward(self, t: Tensor, grad: Tensor | None = None, retain_graph: bool = False) -> None:
        """Capability ``backward``: must back-propagate from ``t`` into the leaves' grads.

        ``grad`` is the output gradient (a tensor of t's shape); when it is None, ``t``
        must have one element, of any shape (the seed's examples use ``(1,)``): where the
        engine's own backward wants shape ``()``, the adapter reshapes a one-element ``t``
        to ``()`` first, and passes any larger ``t`` unchanged, so that the engine's own
        error answers. A non-scalar ``t`` must raise (claim NS-1): any
        exception other than :class:`Unsupported`, raised here, after the forward that
        built ``t`` succeeded (e.g. the engine's own error, as torch's RuntimeError),
        while the same call with ``grad``, or on a one-element ``t``, succeeds.
        :class:`Unsupported` here fails NS-1. With
        ``retain_graph=True`` (capability ``retain_graph``) the graph stays usable for
        another backward pass. Leaf gradients accumulate across passes.
        """
        raise NotImplementedError

    def grad(self, t: Tensor) -> np.ndarray | None:
        """Capability ``backward``: must return t's stored gradient, or None if it has none."""
        raise NotImplementedError

    # -- graph semantics (optional capabilities) --------------------------------------

    def is_leaf(self, t: Tensor) -> bool:
        """Capability ``is_leaf``: must say whether t is a leaf (created by the user,
        or not requiring grad), as opposed to computed from tracked tensors."""
        raise NotImplementedError

    def retain_grad(self, t: Tensor) -> None:
        """Capability ``retain_grad``: must make the non-leaf t keep its gradient
        after the next backward pass."""
        raise NotImplementedError

    def grad_fn(self, t: Tensor) -> str | None:
        """Capability ``grad_fn``: must return the protocol name of the op that created
        t (one of the op names listed in this module's docstring, ``"add"`` ...
        ``"concatenate"``), or None for a leaf."""
        raise NotImplementedError

    def zero_grad(self, t: Tensor) -> None:
        """Capability ``zero_grad``: must set t's stored gradient to zeros (or clear it);
        must do nothing when t holds no gradient."""
        raise NotImplementedError

    def update_(self, t: Tensor, delta: np.ndarray) -> None:
        """Capability ``inplace_update``: must subtract ``delta`` from t's values in place,
        without recording the update in any graph; t stays a tracked leaf."""
        raise NotImplementedError

    def detach(self, t: Tensor) -> Tensor:
        """Capability ``detach``: must return a tensor with t's values that no gradient
        flows through. It may share storage with t (as torch's does)."""
        raise NotImplementedError

    def graph_parents(self, node: Hashable) -> list[Hashable]:
        """Capability ``graph_introspection``: ``node`` is a tensor or a node returned by
        an earlier call. Must return the graph nodes it was directly computed from
        (empty for a leaf)."""
        raise NotImplementedError

    def graph_leaf(self, node: Hashable) -> Tensor | None:
        """Capability ``graph_introspection``: must return the leaf tensor that ``node``
        stands for, or None when ``node`` is not a leaf."""
        raise NotImplementedError

    # -- second derivatives and forward mode (optional capabilities) ----------------------

    def hvp(
        self,
        fn: Callable[..., Tensor],
        primals: Sequence[np.ndarray],
        dtype: str,
        vectors: Sequence[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Capability ``higher_order``: must return ``(grads, hvps)`` for the one-element
        ``value = fn(*inputs)`` (``fn`` as in :meth:`vjp`), one vector per primal.

        ``grads[i]`` is d value / d input_i, and ``hvps[i]`` is the derivative with respect
        to input i of ``sum_j <grads_j, vectors[j]>``: the Hessian-vector product. Both are
        numpy arrays of primal i's shape (zeros where nothing depends on the input). The
        second derivative must be the engine's own derivative of its gradient computation
        (double backward with a differentiable graph, forward over reverse, grad of grad),
        never finite differences. Must raise on a value of more than one element. May raise
        :class:`Unsupported` for a computation the engine cannot differentiate twice.
        """
        raise NotImplementedError

    def jvp(
        self,
        fn: Callable[..., Tensor],
        primals: Sequence[np.ndarray],
        dtype: str,
        tangents: Sequence[np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Capability ``jvp``: must return ``(value, tangent)`` for ``value = fn(*inputs)``
        (``fn`` as in :meth:`vjp`), one tangent per primal, of its shape.

        ``tangent`` is the Jacobian-vector product ``sum_i d value / d input_i . tangents[i]``,
        a numpy array of value's shape, computed by the engine's forward mode (dual numbers,
        ``jvp`` transforms), not by reverse mode or finite differences. May raise
        :class:`Unsupported` for an op the engine's forward mode lacks.
        """
        raise NotImplementedError

    # -- the engine's own objects (optional capability) -------------------------------------

    def native_vjp(
        self,
        fn: Callable[..., Tensor],
        primals: Sequence[np.ndarray],
        dtype: str,
        cotangent: np.ndarray | None = None,
    ) -> tuple[Any, list[Any]]:
        """Capability ``native_gradients``: must return ``(value, grads)`` as :meth:`vjp`
        does, but as the engine's own objects, exactly as the engine returns or stores them,
        before any conversion: imperative engines the tracked leaves' stored gradients
        after one backward pass (torch: ``leaf.grad``), functional engines what their
        gradient transform returns. Never wrap, cast, reshape or copy them: GT-1 judges
        their type, shape and dtype, and a conversion would hide exactly that."""
        raise NotImplementedError

    def describe(self, obj: Any) -> tuple[str, tuple[int, ...], str]:
        """Capability ``native_gradients``: must return ``(kind, shape, dtype)`` of an
        object from :meth:`native_vjp`, read without converting it: ``kind`` is
        ``"tensor"`` exactly when ``obj`` is of the engine's own tensor (array) type, the
        type :meth:`tensor` returns, else :func:`conformance.engine.describe_other`'s
        answer (the Python type's name, numpy's shape and dtype); ``shape`` a tuple of
        ints; ``dtype`` ``"float32"``, ``"float64"`` or the engine's own name for another.
        """
        raise NotImplementedError

    # -- compiled execution and kink conventions (optional) -------------------------------

    def compiled_vjp(
        self,
        fn: Callable[..., Tensor],
        primals: Sequence[np.ndarray],
        dtype: str,
        cotangent: np.ndarray | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Capability ``compile`` (program ``value_and_gradient``): must return what
        :meth:`vjp` returns, with ``fn`` (and, where the engine can, its backward pass) run
        through the engine's compiler (``torch.compile``, ``jax.jit``), never eagerly, as
        one program computing value and gradients together. May raise
        :class:`Unsupported` for a computation the compiler cannot take."""
        raise NotImplementedError

    #: Capability ``compile``: the compiled programs this adapter offers, among
    #: ``"value_and_gradient"`` (:meth:`compiled_vjp`, required), ``"forward"``
    #: (:meth:`compiled_forward`) and ``"gradient"`` (:meth:`compiled_gradient`). CE-1
    #: judges each one listed; an engine whose compiler has a program should list it, since
    #: a compiler can be right on one program and wrong on another.
    compiled_programs: tuple[str, ...] = ("value_and_gradient",)

    def compiled_forward(
        self, fn: Callable[..., Tensor], primals: Sequence[np.ndarray], dtype: str
    ) -> np.ndarray:
        """Program ``forward``: must return ``fn(*inputs)`` as a numpy array, computed by
        the engine's compiler as a program of the forward pass alone, with no gradient
        recorded (what users compile for inference: ``jax.jit(fn)``, ``torch.compile(fn)``
        under ``torch.no_grad()``). May raise :class:`Unsupported` as above."""
        raise NotImplementedError

    def compiled_gradient(
        self,
        fn: Callable[..., Tensor],
        primals: Sequence[np.ndarray],
        dtype: str,
        cotangent: np.ndarray | None = None,
    ) -> list[np.ndarray]:
        """Program ``gradient``: must return the gradients :meth:`vjp` returns (numpy
        arrays of the primals' shapes), from a compiled program that computes the gradient
        alone (``jax.jit(jax.grad(f))`` or of a ``jax.vjp`` pullback; ``torch.compile`` of
        a ``torch.func.grad`` or ``torch.func.vjp`` function). May raise
        :class:`Unsupported` as above."""
        raise NotImplementedError

    #: Optional: the value the engine's gradient takes at a kink or tie (KP-1 then checks
    #: it exactly), per key: ``relu_at_0``, ``abs_at_0`` (the derivative there),
    #: ``maximum_tie``, ``minimum_tie`` (the first operand's share of a tie),
    #: ``clip_at_bound`` (the derivative at either bound).
    conventions: dict[str, float] = {}


def run_backward(
    backend: Any,
    fn: Callable[..., Tensor],
    primals: Sequence[np.ndarray],
    dtype: str,
    cotangent: np.ndarray | None = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """An imperative engine's steps to a vector-Jacobian product: tracked leaves holding
    ``primals``, ``fn``'s output, one backward pass from it (seeded with ``cotangent``).
    Returns the output and the leaves, whose stored gradients hold the answer; the
    default :meth:`Backend.vjp` reads them converted, an adapter's ``native_vjp`` as
    the engine stores them."""
    inputs = backend.tensors(primals, dtype, requires_grad=True)
    out = fn(*inputs)
    seed = None if cotangent is None else backend.tensor(np.asarray(cotangent), dtype)
    backend.backward(out, seed)
    return out, inputs


def stored_grad_vjp(
    backend: Any,
    fn: Callable[..., Tensor],
    primals: Sequence[np.ndarray],
    dtype: str,
    cotangent: np.ndarray | None = None,
) -> tuple[Tensor, list[Any]]:
    """``native_vjp`` for an imperative engine whose tensors keep their gradient in
    ``.grad`` (torch, MyGrad, tinygrad, paddle): one backward pass, then each leaf's
    ``.grad`` as the engine stores it. An adapter takes it as is:
    ``native_vjp = stored_grad_vjp``."""
    out, leaves = run_backward(backend, fn, primals, dtype, cotangent)
    return out, [t.grad for t in leaves]


def vjp_from_native(
    backend: Any,
    fn: Callable[..., Tensor],
    primals: Sequence[np.ndarray],
    dtype: str,
    cotangent: np.ndarray | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """:meth:`Backend.vjp` for an adapter whose ``native_vjp`` holds the computation: its
    value and gradients converted to numpy (so both are one code path, judged twice). An
    adapter takes it as is: ``vjp = vjp_from_native``."""
    value, grads = backend.native_vjp(fn, primals, dtype, cotangent)
    return backend.to_numpy(value), [np.asarray(backend.to_numpy(g)) for g in grads]


def missing_methods(backend: object) -> list[str]:
    """The methods ``backend`` must have, given its declared capabilities, but lacks."""
    needed = list(REQUIRED_METHODS)
    for cap in getattr(backend, "capabilities", ()):
        needed.extend(CAPABILITIES.get(cap, ()))
    if COMPILE in getattr(backend, "capabilities", ()):
        programs = getattr(backend, "compiled_programs", ())
        needed.extend(COMPILED_PROGRAMS[p] for p in programs if p in COMPILED_PROGRAMS)
    missing = []
    for name in dict.fromkeys(needed):
        method = getattr(type(backend), name, None) or getattr(backend, name, None)
        base = getattr(Backend, name, None)
        if not callable(method) or (method is base and name != "vjp"):
            missing.append(name)
    inherits_vjp = getattr(type(backend), "vjp", None) is Backend.vjp
    if inherits_vjp and BACKWARD not in getattr(backend, "capabilities", ()):
        # the inherited vjp needs the imperative trio
        missing.append("vjp (or declare 'backward' and implement backward/grad)")
    return missing
