"""The engine side: what an adapter implements and declares, and how the suite finds it.

Owns the backend protocol (:mod:`~conformance.engine.protocol`, the ops' contract in
:mod:`~conformance.engine.op_contract`, capability names and :class:`Unsupported` in
:mod:`~conformance.engine.capabilities`), the registry that loads adapters by name, entry
point or env var, the per-op availability probe (:mod:`~conformance.engine.ops`), the
scalar-engine helper (:mod:`~conformance.engine.scalar` over
:mod:`~conformance.engine.scalar_nodes`), the computation structure compilers may use,
and what an adapter declares beside its methods: its expected-failure files
(:mod:`~conformance.engine.xfails`). May import :mod:`conformance.errors` only.

Adapters import their names from here (``from conformance.engine import Backend,
BACKWARD``); ``conformance.backend`` is the same module under its older name.
"""

from conformance.engine.capabilities import (
    BACKWARD,
    BINARY_OPS,
    CAPABILITIES,
    COMPILE,
    COMPILED_PROGRAMS,
    DETACH,
    EXTRA_OPS,
    GRAD_FN,
    GRAPH_INTROSPECTION,
    HIGHER_ORDER,
    INPLACE_UPDATE,
    IS_LEAF,
    JVP,
    NATIVE_GRADIENTS,
    NN_OP_NAMES,
    NN_OPS,
    REDUCTIONS,
    REQUIRED_METHODS,
    RETAIN_GRAD,
    RETAIN_GRAPH,
    UNARY_OPS,
    ZERO_GRAD,
    Tensor,
    Unsupported,
    describe_other,
)
from conformance.engine.protocol import (
    Backend,
    missing_methods,
    run_backward,
    stored_grad_vjp,
    vjp_from_native,
)

__all__ = [
    "BACKWARD",
    "BINARY_OPS",
    "CAPABILITIES",
    "COMPILE",
    "COMPILED_PROGRAMS",
    "DETACH",
    "EXTRA_OPS",
    "GRAD_FN",
    "GRAPH_INTROSPECTION",
    "HIGHER_ORDER",
    "INPLACE_UPDATE",
    "IS_LEAF",
    "JVP",
    "NATIVE_GRADIENTS",
    "NN_OPS",
    "NN_OP_NAMES",
    "REDUCTIONS",
    "REQUIRED_METHODS",
    "RETAIN_GRAD",
    "RETAIN_GRAPH",
    "UNARY_OPS",
    "ZERO_GRAD",
    "Backend",
    "Tensor",
    "Unsupported",
    "describe_other",
    "missing_methods",
    "run_backward",
    "stored_grad_vjp",
    "vjp_from_native",
]
