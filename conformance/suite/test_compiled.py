"""Compiled execution (CE-1): the same random DAGs as CR-1 through each program the
engine's compiler offers (``backend.compiled_programs``: value and gradient together,
the forward alone, the gradient alone), judged by the same numpy oracle, never by the
engine's eager answers (a failure shows them beside, to say whether eager agrees)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.edges.tiers import extreme_grid, kink_grid, nonfinite_grid
from conformance.engine.ops import available
from conformance.generation.strategies import cases, rounded
from conformance.oracles.expr import Case, _literal, _short, as_fn, repro
from conformance.oracles.first_order import Tracer
from conformance.oracles.verdicts import (
    CheckFailure,
    fail_if_any,
    require,
    unsupported,
    will_reproduce,
)
from conformance.oracles.vjp_checks import check_vjp, reaches_output
from conformance.specs import claim
from conformance.suite.compiled_edges import compiled_answers
from conformance.suite.size_checks import check_all_compiled
from conformance.suite.test_edges import (
    check_extreme,
    check_internal,
    check_kink,
    check_nonfinite,
    grid_test,
    internal_grid,
)
from conformance.suite.vacuity import exercised


def compiled_answer(backend: Any, program: str, case: Case) -> tuple[Any, Any, str]:
    """``(value, grads, reproduction)`` of ``case`` from the compiled ``program`` (None for
    what the program does not compute), the reproduction named before the engine runs."""
    fn, inputs, dtype, v = (
        as_fn(case.expr, backend, case.dtype),
        list(case.inputs),
        case.dtype,
        case.cotangent,
    )
    call = {
        "value_and_gradient": "value, grads = bk.compiled_vjp(fn,",
        "forward": "value = bk.compiled_forward(fn,",
        "gradient": "grads = bk.compiled_gradient(fn,",
    }[program]
    text = repro(case, backend).replace("value, grads = bk.vjp(fn,", call)
    if program == "forward":
        text = text.replace(f", dtype, {_cotangent_literal(case)})", ", dtype)")
        text = text.replace("print(value, grads)", "print(value)")
    if program == "gradient":
        text = text.replace("print(value, grads)", "print(grads)")
    will_reproduce(text)
    if program == "forward":
        return backend.compiled_forward(fn, inputs, dtype), None, text
    if program == "gradient":
        return None, backend.compiled_gradient(fn, inputs, dtype, v), text
    return *backend.compiled_vjp(fn, inputs, dtype, v), text


def _cotangent_literal(case: Case) -> str:
    return "None" if case.cotangent is None else _literal(case.cotangent)


def check_compiled(backend: Any, program: str, case: Case) -> None:
    """Judge the compiled ``program``'s answer for ``case`` against the oracle; a failure
    also shows the eager answer."""
    value, grads, text = compiled_answer(backend, program, case)
    try:
        check_vjp(
            backend,
            case,
            value,
            grads,
            "compiled gradient",
            f"\n(compiled: {program})",
            text,
            program=program,
        )
    except CheckFailure as exc:
        exc.args = (f"{exc}\n{_eager_note(backend, case)}",)
        raise


def _eager_note(backend: Any, case: Case) -> str:
    """The engine's eager answer, for the reader: whether the compiler alone is wrong."""
    try:
        value, grads = backend.vjp(
            as_fn(case.expr, backend, case.dtype), list(case.inputs), case.dtype, case.cotangent
        )
    except Exception as exc:  # the eager run's own failure is CR-1's to judge
        return f"eager (backend.vjp): raised {type(exc).__name__}: {exc}"
    shown = ", ".join(_short(np.asarray(g)) for g in grads)
    return f"eager (backend.vjp): value {_short(np.asarray(value))}, gradients {shown}"


def _programs(backend: Any) -> tuple[str, ...]:
    require(backend, *claim("CE-1").requires)
    return tuple(getattr(backend, "compiled_programs", ("value_and_gradient",)))


@pytest.mark.claim("CE-1")
@settings(deadline=None)
@given(data=st.data())
def test_compiled_programs_have_the_analytic_value_and_gradient(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """A random expression graph run through one of the engine's compiled programs has the
    chain rule's value and gradients, as its eager run does."""
    programs = _programs(backend)
    case = data.draw(
        cases(dtype, ops=available(backend), max_ops=claim("CE-1").params["max_ops"]),
        label="case",
    )
    program = data.draw(st.sampled_from(programs), label="program")
    exercised("an output computed from an input", reaches_output(case))
    check_compiled(backend, program, case)


# the ops of the every-op graph, and what each is applied to: x and y are (2, 3) and
# positive, away from every kink, tie and pole (as OP-1's inputs)
_AXIS_OPS = ("sum", "mean", "softmax", "logsumexp", "log_softmax", "max", "min", "prod")
_BINARY = ("add", "sub", "mul", "div", "maximum", "minimum")
_UNARY = ("neg", "exp", "log", "sin", "cos", "tanh", "sqrt", "sigmoid", "relu", "abs")


def every_op_case(ops: frozenset[str], dtype: str) -> Case:
    """One scalar expression applying each of ``ops`` (that it knows) to two inputs, each
    term summed, the terms added: one compilation judges every op at once."""
    tr = Tracer()
    x = tr.input(rounded(np.linspace(0.4, 1.6, 6).reshape(2, 3), dtype))
    y = tr.input(rounded(np.linspace(1.55, 0.45, 6).reshape(2, 3) + 0.03, dtype))
    terms = [tr.apply(op, (x, y)) for op in _BINARY if op in ops]
    terms += [tr.apply(op, (x,)) for op in _UNARY if op in ops]
    terms += [tr.apply(op, (x,), axis=1) for op in _AXIS_OPS if op in ops]
    if "pow" in ops:
        terms.append(tr.apply("pow", (x,), exponent=3))
    if "matmul" in ops:
        terms.append(tr.apply("matmul", (x, tr.const(rounded(np.ones((3, 2)), dtype)))))
    if "sum" not in ops or "add" not in ops or not terms:
        unsupported("the every-op graph needs sum and add")
    total = tr.apply("sum", (terms[0],))
    for t in terms[1:]:
        total = tr.apply("add", (total, tr.apply("sum", (t,))))
    return Case(tr.expr(total), tuple(tr.values[k] for k in (x, y)), dtype)


@pytest.mark.claim("CE-1")
def test_one_graph_of_every_op_compiles_to_the_analytic_value_and_gradient_in_every_program(
    backend: Any, dtype: str
) -> None:
    """One expression using every op the engine has, through each compiled program the
    engine offers, has the chain rule's value and gradients: each op's compiled rule is
    judged in each program, whatever the random draws reach."""
    failures: dict[str, str] = {}
    for program in _programs(backend):
        try:
            check_compiled(backend, program, every_op_case(available(backend), dtype))
        except CheckFailure as exc:
            failures[program] = str(exc)
    fail_if_any("compiled every-op graph", failures, "program")


@pytest.mark.claim("CE-1")
def test_arrays_of_realistic_size_compile_to_the_analytic_value_and_gradient(
    backend: Any, dtype: str
) -> None:
    """The size tier's computations (10^5 to 10^6 elements), compiled as one program,
    have the chain rule's value and gradients: a compiler's code paths for large arrays
    (tiling, fusion, parallel reductions) are judged too."""
    _programs(backend)
    check_all_compiled(backend, dtype)


def _compiled_grid(backend: Any, dtype: str, claim_id: str, grid: Any, check: Any) -> None:
    _programs(backend)
    grid_test(backend, claim_id, dtype, grid, check, compiled_answers(backend, dtype))


@pytest.mark.claim("CE-1")
def test_compiled_programs_propagate_given_nan_and_infinities_as_nf1_says(
    backend: Any, dtype: str
) -> None:
    """NF-1's grid (NaN and +-inf beside ordinary values, each op), every case in one
    compiled program, gives the IEEE answers NF-1 demands of the eager engine."""
    _compiled_grid(backend, dtype, "NF-1", nonfinite_grid, check_nonfinite)


@pytest.mark.claim("CE-1")
def test_compiled_programs_propagate_nan_and_infinities_they_make_as_nf1_says(
    backend: Any, dtype: str
) -> None:
    """NaN and infinities a compiled graph makes from finite inputs (log of a negative
    number, 0 * inf, log(0), exp overflowing, inf - inf, division by zero) propagate as
    IEEE arithmetic through the chain rule says: never folded or fused away."""
    _compiled_grid(backend, dtype, "NF-1", internal_grid(backend), check_internal)


@pytest.mark.claim("CE-1")
def test_compiled_programs_give_sr1s_true_values_at_extreme_magnitudes(
    backend: Any, dtype: str
) -> None:
    """SR-1's grid (extreme and saturated values, each op), compiled, gives the true
    values and gradients SR-1 demands of the eager engine."""
    _compiled_grid(backend, dtype, "SR-1", extreme_grid, check_extreme)


@pytest.mark.claim("CE-1")
def test_compiled_programs_give_kp1s_subgradients_at_kinks_and_ties(
    backend: Any, dtype: str
) -> None:
    """KP-1's grid (kinks, ties and the floats beside them, each op), compiled, gives
    finite subgradients, and the engine's declared conventions exactly."""
    _compiled_grid(backend, dtype, "KP-1", kink_grid, check_kink)
