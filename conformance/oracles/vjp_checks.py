"""Judging one expression's vector-Jacobian product on an engine against the oracle:
the checks of CR-1, NS-1, DG-1 and OP-1 share it."""

from __future__ import annotations

from typing import Any

from conformance.engine.ops import cover
from conformance.oracles.expr import Case, as_fn, check_arrays, describe, repro
from conformance.oracles.first_order import analytic, requires_grad, taylor_opinion
from conformance.oracles.verdicts import CheckFailure, will_reproduce


def check_vjp(
    backend: Any,
    case: Case,
    value: Any,
    grads: Any,
    stage: str = "gradient",
    context: str = "",
    repro_text: str | None = None,
    program: str = "value_and_gradient",
    scale_factor: float = 1.0,
) -> None:
    """Judge ``backend.vjp``'s answer for ``case`` against the analytic oracle (the
    reproduction: ``repro_text``, else the ``vjp`` call's). ``program``: what the call
    computed, ``value_and_gradient``, ``forward`` (the value alone: the gradients are not
    judged) or ``gradient`` (the gradients alone: the value is not judged).
    ``scale_factor`` widens the bound (the size tier: :func:`tolerances.size_factor`)."""
    cover(case.expr.ops())
    ref = analytic(case.expr, case.inputs, case.cotangent)
    text = repro(case, backend) if repro_text is None else repro_text

    def where() -> str:
        return describe(case) + context

    if program != "gradient":
        check_arrays(
            "forward value",
            [("y", value, ref.value, ref.value_scale * scale_factor)],
            case.dtype,
            where,
            text,
        )
    if program == "forward":
        return
    if len(grads) != len(case.inputs):
        raise CheckFailure(
            stage, f"{len(grads)} gradients", f"{len(case.inputs)}", detail=where(), repro=text
        )
    rows = [
        (f"x{i}", g, ref.grad(i), ref.grad_scale(i) * scale_factor) for i, g in enumerate(grads)
    ]
    check_arrays(
        stage,
        rows,
        case.dtype,
        lambda: where() + "\n" + taylor_opinion(case.expr, case.inputs, grads, case.cotangent),
        text,
    )


def reaches_output(case: Case) -> bool:
    """Is the output computed, by at least one op, from a tracked input?"""
    expr, tracked = case.expr, case.tracked or (True,) * len(case.inputs)
    return expr.nodes[expr.output].op != "input" and requires_grad(expr, tracked)[expr.output]


def run_vjp(backend: Any, case: Case) -> tuple[Any, Any]:
    will_reproduce(repro(case, backend))
    return backend.vjp(
        as_fn(case.expr, backend, case.dtype), list(case.inputs), case.dtype, case.cotangent
    )
