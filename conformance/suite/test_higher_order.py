"""Second derivatives and forward mode (HO-1, HO-2, FM-1, LR-7), through ``backend.hvp``
and ``backend.jvp``.

Expected values come from the spec (HO-1), the numpy forward-mode and second-order oracle
(:mod:`conformance.oracles.second_order`), the engine's own reverse mode (FM-1's transposition)
and the closed-form theory of the regression (:mod:`conformance.regression.model`), never
from the engine's forward or second-order answers themselves. HO-2 and FM-1 draw their
expressions from the engine's ops that the second-order oracle has rules for
(:data:`conformance.oracles.second_order.KNOWN_OPS`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from conformance.engine.ops import available, cover
from conformance.generation.strategies import cases, values
from conformance.oracles.expr import Case, as_fn, check_arrays, describe, repro
from conformance.oracles.first_order import analytic
from conformance.oracles.second_order import (
    KNOWN_OPS,
    complex_step_hvp,
    complex_step_jvp,
    forward_tangents,
    hessian_vector,
)
from conformance.oracles.verdicts import (
    CheckFailure,
    expect_close,
    expect_equal,
    require,
    snippet,
    will_reproduce,
)
from conformance.oracles.vjp_checks import run_vjp
from conformance.regression import model as rg
from conformance.specs import claim
from conformance.suite.test_seed_examples import _worked_fn
from conformance.suite.vacuity import exercised


def _flat(
    stage: str, arrays: Any, shapes: Sequence[tuple[int, ...]], repro_text: str
) -> np.ndarray:
    """The engine's arrays, one per input, each of its input's shape, end to end; a wrong
    count or shape is a failure of ``stage``, not something to broadcast."""
    if not isinstance(arrays, list | tuple):
        raise CheckFailure(stage, type(arrays).__name__, "a list of arrays", repro=repro_text)
    got = [np.shape(a) for a in arrays]
    if got != list(shapes):
        raise CheckFailure(f"{stage} (shapes)", got, list(shapes), repro=repro_text)
    return np.concatenate([np.reshape(np.asarray(a, np.float64), -1) for a in arrays])


def _literals(arrays: Sequence[np.ndarray]) -> str:
    return "[" + ", ".join(f"np.array({np.asarray(a).tolist()!r})" for a in arrays) + "]"


def _repro_with(case: Case, backend: Any, call: str, arrays: Sequence[np.ndarray]) -> str:
    """``case``'s reproduction (which defines ``fn`` and runs its vjp), then ``call``
    (``"hvp"`` or ``"jvp"``) along ``arrays``."""
    xs = ", ".join(f"x{i}" for i in range(len(case.inputs)))
    extra = [f"along = {_literals(arrays)}", f"print(bk.{call}(fn, [{xs}], dtype, along))"]
    return repro(case, backend) + "\n" + "\n".join("    " + line for line in extra)


def _directions(data: st.DataObject, case: Case, label: str) -> tuple[np.ndarray, ...]:
    """One direction per input, of its shape, in the dtype (so the engine holds it exactly)."""
    return data.draw(st.tuples(*(values(x.shape, case.dtype) for x in case.inputs)), label=label)


def _shown(name: str, arrays: Sequence[np.ndarray]) -> str:
    return "; ".join(f"{name}{i} = {np.asarray(a).tolist()!r}" for i, a in enumerate(arrays))


# -- HO-1 -----------------------------------------------------------------------------------


@pytest.mark.claim("HO-1")
def test_the_worked_example_has_second_derivatives_2_minus_2_and_0(
    backend: Any, dtype: str
) -> None:
    """Differentiating y = (m+n)(m-n)'s gradient at m=2, n=3 gives exactly 2, -2 and 0."""
    spec = claim("HO-1")
    require(backend, *spec.requires)
    p, e = spec.params, spec.expected
    primals = [np.array([p["m"]]), np.array([p["n"]])]
    # H e_m = (d2y/dm2, d2y/dn dm), H e_n = (d2y/dm dn, d2y/dn2)
    columns = {
        "m": ([1.0, 0.0], [e["d2y_dm2"], e["d2y_dmdn"]]),
        "n": ([0.0, 1.0], [e["d2y_dmdn"], e["d2y_dn2"]]),
    }
    for name, (along, hessian_column) in columns.items():
        vectors = [np.array([a]) for a in along]
        text = snippet(
            backend,
            "f = lambda m, n: bk.mul(bk.add(m, n), bk.add(m, bk.neg(n)))",
            f"print(bk.hvp(f, {_literals(primals)}, {dtype!r}, {_literals(vectors)}))",
        )
        will_reproduce(text)
        grads, hvps = backend.hvp(_worked_fn(backend), primals, dtype, vectors)
        shapes = [(1,), (1,)]
        expect_equal(
            f"gradient (dy/dm, dy/dn) from hvp along d{name}",
            _flat("gradient", grads, shapes, text),
            np.array([e["m_grad"], e["n_grad"]]),
            text,
        )
        expect_equal(
            f"second derivatives (d/dm, d/dn) of dy/d{name}",
            _flat("second derivatives", hvps, shapes, text),
            np.array(hessian_column),
            text,
        )


# -- HO-2 -----------------------------------------------------------------------------------


@pytest.mark.claim("HO-2")
@settings(deadline=None)
@given(data=st.data())
def test_random_dags_have_the_oracles_hessian_vector_products(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """The gradient of <grad f, v> for a random expression graph f is the oracle's H v."""
    spec = claim("HO-2")
    require(backend, *spec.requires)
    case = data.draw(
        cases(dtype, ops=available(backend) & KNOWN_OPS, max_ops=spec.params["max_ops"]),
        label="case",
    )
    vectors = _directions(data, case, "v")
    ref = hessian_vector(case.expr, case.inputs, vectors)
    curved = any(np.any(h) for h in ref.hvps)
    # linear along v (sums, products with constants, relu): H v = 0 holds whatever the
    # engine's second-order rules are, so such an example would be judged vacuously
    assume(curved)
    exercised("a Hessian-vector product that is not zero", curved)
    cover(case.expr.ops())
    text = _repro_with(case, backend, "hvp", vectors)
    will_reproduce(text)
    grads, hvps = backend.hvp(as_fn(case.expr, backend, dtype), list(case.inputs), dtype, vectors)
    shapes = [x.shape for x in case.inputs]
    # one array per input, each of its shape: a missing or misshapen one fails here
    _flat("gradient from hvp", grads, shapes, text)
    _flat("Hessian-vector product", hvps, shapes, text)

    def where() -> str:
        return f"{describe(case)}\nv: {_shown('v', vectors)}"

    check_arrays(
        "gradient from hvp",
        [(f"x{i}", g, ref.grads[i], ref.grad_scales[i]) for i, g in enumerate(grads)],
        dtype,
        where,
        text,
    )
    check_arrays(
        "Hessian-vector product",
        [(f"x{i}", h, ref.hvps[i], ref.hvp_scales[i]) for i, h in enumerate(hvps)],
        dtype,
        lambda: (
            where()
            + "\nsecond opinion, the complex step through the first-order reverse pass: "
            + _shown("H v for x", complex_step_hvp(case.expr, case.inputs, vectors))
        ),
        text,
    )


# -- FM-1 -----------------------------------------------------------------------------------


def _forward_case(
    data: st.DataObject, backend: Any, dtype: str
) -> tuple[Case, tuple[np.ndarray, ...]]:
    """A random expression with a non-scalar output, an output gradient v, and tangents."""
    spec = claim("FM-1")
    require(backend, *spec.requires)
    case = data.draw(
        cases(
            dtype,
            ops=available(backend) & KNOWN_OPS,
            max_ops=spec.params["max_ops"],
            scalar=False,
        ),
        label="case",
    )
    cover(case.expr.ops())
    return case, _directions(data, case, "t")


def _run_jvp(
    backend: Any, case: Case, tangents: Sequence[np.ndarray], text: str
) -> tuple[Any, Any]:
    will_reproduce(text)
    return backend.jvp(
        as_fn(case.expr, backend, case.dtype), list(case.inputs), case.dtype, tangents
    )


@pytest.mark.claim("FM-1")
@settings(deadline=None)
@given(data=st.data())
def test_forward_mode_gives_the_oracles_jacobian_vector_product(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """jvp of a random expression graph along tangents t gives its value and J t."""
    case, tangents = _forward_case(data, backend, dtype)
    ref = forward_tangents(case.expr, case.inputs, tangents)
    exercised("a Jacobian-vector product that is not zero", bool(np.any(ref.jvp)))
    text = _repro_with(case, backend, "jvp", tangents)
    value, tangent = _run_jvp(backend, case, tangents, text)

    def where() -> str:
        return f"{describe(case)}\nt: {_shown('t', tangents)}"

    check_arrays("forward value", [("y", value, ref.value, ref.value_scale)], dtype, where, text)
    check_arrays(
        "Jacobian-vector product",
        [("J t", tangent, ref.jvp, ref.jvp_scale)],
        dtype,
        lambda: (
            where()
            + "\nsecond opinion, the complex step through the forward pass: J t = "
            + repr(complex_step_jvp(case.expr, case.inputs, tangents).tolist())
        ),
        text,
    )


@pytest.mark.claim("FM-1")
@settings(deadline=None)
@given(data=st.data())
def test_forward_and_reverse_mode_agree_by_transposition(
    backend: Any, dtype: str, data: st.DataObject
) -> None:
    """<v, J t> from the engine's jvp equals <J^T v, t> from its vjp, for any v and t."""
    case, tangents = _forward_case(data, backend, dtype)
    v = case.cotangent
    assert v is not None  # cases(scalar=False) always draws one
    fwd = forward_tangents(case.expr, case.inputs, tangents)
    rev = analytic(case.expr, case.inputs, v)
    exercised("a pairing <v, J t> that is not zero", bool(np.sum(v * fwd.jvp)))
    text = _repro_with(case, backend, "jvp", tangents)
    _, tangent = _run_jvp(backend, case, tangents, text)
    _, grads = run_vjp(backend, case)
    jt = _flat("Jacobian-vector product", [tangent], [v.shape], text)
    jtv = _flat("vector-Jacobian product", grads, [x.shape for x in case.inputs], text)
    t = np.concatenate([np.reshape(x, -1) for x in tangents])
    # each side's terms, in magnitude: the products' factors bounded by their scales
    scale = np.sum(np.abs(v) * fwd.jvp_scale) + sum(
        np.sum(rev.grad_scale(i) * np.abs(x)) for i, x in enumerate(tangents)
    )
    expect_close(
        "transposition: <v, J t> by forward mode against <J^T v, t> by reverse mode",
        float(np.dot(np.reshape(v, -1), jt)),
        float(np.dot(jtv, t)),
        dtype,
        scale=scale,
        repro=text,
    )


# -- LR-7 -----------------------------------------------------------------------------------


def _engine_hessian(
    backend: Any, loss: Callable[..., Any], w: float, b: float, dtype: str, text: str
) -> np.ndarray:
    """The engine's 2x2 Hessian of ``loss`` at (w, b): one hvp per unit vector (columns)."""
    primals = [np.array([w]), np.array([b])]
    columns = []
    for along in ([1.0, 0.0], [0.0, 1.0]):
        _, hvps = backend.hvp(loss, primals, dtype, [np.array([a]) for a in along])
        columns.append(_flat("Hessian-vector product", hvps, [(1,), (1,)], text))
    return np.column_stack(columns)


@pytest.mark.claim("LR-7")
def test_the_seed10_loss_has_the_closed_form_hessian_and_stability_bound(
    backend: Any, dtype: str
) -> None:
    """The engine's Hessian of the seed-10 loss is [[mean x^2, mean x], [mean x, 1]] at
    any (w, b), and its 2/lambda_max separates LR-5's stable and diverging rates."""
    spec, lr5 = claim("LR-7"), claim("LR-5").params
    require(backend, *spec.requires)
    data = rg.data_from_table(spec.params["data"]).rounded(dtype)
    th = rg.theory(data)
    e = spec.expected
    stable, diverging = max(lr5["seed10_lrs"]), lr5["seed10_diverging_lr"]
    # the spec must agree with the closed form, and with LR-5, before a backend is judged
    for name, stated, theory in (
        ("Hessian", np.reshape(e["hessian"], (2, 2)), th.hessian),
        ("lambda_max", e["lambda_max"], th.lambda_max),
        ("stability bound", e["stability_bound"], th.stability_bound),
    ):
        expect_close(f"the spec's {name} against the closed form", stated, theory, "float64")
    if not stable < th.stability_bound < diverging:
        raise CheckFailure(
            "the closed form's stability bound against LR-5's seed-10 rates",
            th.stability_bound,
            f"between {stable} and {diverging}",
        )
    loss = rg.loss_function(backend, data, dtype)
    for w, b in ((data.w0, data.b0), (th.w_star, th.b_star)):
        text = snippet(
            backend,
            "from conformance.regression import model as rg",
            "from conformance.specs import claim",
            f"data = rg.data_from_table(claim('LR-7').params['data']).rounded({dtype!r})",
            f"loss = rg.loss_function(bk, data, {dtype!r})",
            "for v in ([1.0], [0.0]), ([0.0], [1.0]):",
            f"    print(bk.hvp(loss, [np.array([{w!r}]), np.array([{b!r}])], {dtype!r},"
            " [np.array(a) for a in v]))",
        )
        will_reproduce(text)
        hessian = _engine_hessian(backend, loss, w, b, dtype, text)
        # the terms of each entry (x_i^2 / n, x_i / n, 1 / n) are all positive: no cancellation
        expect_close(
            f"Hessian at (w, b) = ({w:.6g}, {b:.6g})", hessian, th.hessian, dtype, repro=text
        )
        bound = 2.0 / float(np.max(np.linalg.eigvals(hessian).real))
        # Weyl: an eigenvalue moves at most ||dH||_2 <= ||dH||_F <= rtol * ||H||_F
        relative = float(np.linalg.norm(th.hessian)) / th.lambda_max
        expect_close(
            "stability bound 2/lambda_max of the engine's Hessian",
            bound,
            th.stability_bound,
            dtype,
            scale=th.stability_bound * relative,
            repro=text,
        )
        if not stable < bound < diverging:
            raise CheckFailure(
                "the engine's stability bound against LR-5's seed-10 rates",
                bound,
                f"between {stable} (LR-5: converges) and {diverging} (LR-5: diverges)",
                repro=text,
            )
