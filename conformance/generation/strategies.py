"""Hypothesis strategies: random expression DAGs with inputs where the maths is easy.

Every op is applied only where it is well defined and well conditioned at the values at
hand (the DAG is built while its float64 values are computed, by
:class:`conformance.oracles.first_order.Tracer`), by the rules of
:mod:`conformance.oracles.conditioning`:
log, sqrt and real powers on values >= 0.2, divisors and negative powers away from 0,
exp on values <= 3, kinks and ties (relu, abs, maximum, minimum, clip, max, min) away
from the values, products and log-sum-exps bounded, and every intermediate bounded. The
extra ops' parameters are drawn to fit: clip's bounds between the values, take's indices
repeating, reshape to a shape of the same size, concatenate's partner of matching sides.
Inputs are drawn already rounded to the dtype under test, so the oracle and the engine
see the same numbers. A correct engine is then only ever judged on its own arithmetic,
never blamed for the mathematics. Each op is chosen by a ticket, so that a check's first
examples go through every op the engine has (:mod:`conformance.generation.strata`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
from hypothesis import assume, reject
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays, mutually_broadcastable_shapes

from conformance.engine import EXTRA_OPS
from conformance.generation import strata
from conformance.oracles.conditioning import clip_cuts, domain_ok, reshape_targets, result_ok
from conformance.oracles.conditioning import well_conditioned as well_conditioned  # read from here
from conformance.oracles.expr import Case, Expr, Node, Program, evaluate
from conformance.oracles.first_order import Tracer, requires_grad

# the first op is what the simplest examples use: a product of an input with itself
# already needs accumulation over shared uses
BASE_OPS = (
    "mul",
    "add",
    "sub",
    "div",
    "matmul",
    "pow",
    "neg",
    "exp",
    "log",
    "sin",
    "cos",
    "tanh",
    "sqrt",
    "sum",
    "mean",
)
NN_OPS = ("sigmoid", "relu", "softmax")
INT_EXPONENTS = (2, 3, -2, -1, 0, 1)  # the squares and cubes of real code first
REAL_EXPONENTS = (0.5, 1.5, 2.5, -0.5, -1.5)
LOW, HIGH = 0.1, 3.0  # input magnitudes: away from 0 (division, relu), exp stays small


# -- values --------------------------------------------------------------------------


def rounded(x: Any, dtype: str) -> np.ndarray:
    """``x`` rounded to ``dtype`` and held in float64: what the engine will see."""
    return np.asarray(x, dtype=np.float64).astype(dtype).astype(np.float64)


# built once per argument set: a new strategy is validated at its first draw, which took
# a third of the time of drawing values
@functools.cache
def values(
    shape: tuple[int, ...],
    dtype: str,
    sign: str = "mixed",
    low: float = LOW,
    high: float = HIGH,
) -> st.SearchStrategy[np.ndarray]:
    """An array of magnitudes in [low, high]; all positive, all negative, or mixed signs."""
    mags = arrays(np.float64, shape, elements=st.floats(low, high))
    if sign == "mixed":
        signs = arrays(np.float64, shape, elements=st.sampled_from([-1.0, 1.0]))
    else:
        signs = st.just(np.full(shape, 1.0 if sign == "positive" else -1.0))
    return st.tuples(mags, signs).map(lambda ms: rounded(ms[0] * ms[1], dtype))


@st.composite
def family_shape(draw: Any, base: tuple[int, ...]) -> tuple[int, ...]:
    """A shape broadcastable to ``base``: a suffix of it with some sides set to 1."""
    rank = draw(st.integers(0, len(base)))
    return tuple(n if draw(st.booleans()) else 1 for n in base[len(base) - rank :])


# -- growing a DAG -------------------------------------------------------------------


def _broadcasts(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def _depends_on_input(tr: Tracer) -> list[bool]:
    out: list[bool] = []
    for node in tr.nodes:
        out.append(node.op == "input" or any(out[i] for i in node.args))
    return out


T = TypeVar("T")


def _choose(draw: Any, options: Sequence[T]) -> T:
    """One of ``options``, drawn as ``sampled_from`` draws it (shrinking to the first)
    from a strategy Hypothesis keeps: building and validating a new ``sampled_from`` at
    every choice took a tenth of the time of drawing a case."""
    return options[draw(st.integers(0, len(options) - 1))]


def _pick(draw: Any, candidates: Sequence[int]) -> int:
    """Half the time the newest candidate (deep chains), else any (sharing, reuse)."""
    if draw(st.booleans()):
        return candidates[-1]
    return _choose(draw, candidates)


_PAIRED = ("add", "sub", "mul", "div", "maximum", "minimum")  # broadcasting binary ops
_PICKY = ("div", "maximum", "minimum")  # ... whose partner must fit the domain
_AXIS_NEEDED = ("softmax", "logsumexp", "log_softmax", "take")
_AXIS_OPTIONAL = ("sum", "mean", "max", "min", "prod")
# ops whose domain depends on parameters drawn after the operand
_DRAWN_FIRST = ("clip", "max", "min", "prod", "reshape", "take")


def _grow_one(
    draw: Any, tr: Tracer, op: str, dtype: str, new_inputs: bool, first: int | None = None
) -> bool:
    """Try to add one ``op`` node to ``tr``; give up quietly where it would not be
    well defined, well conditioned and bounded. ``new_inputs``: may matmul (or
    concatenate) add an input? ``first``: the node to take as the first operand."""
    nodes = list(range(len(tr.nodes)))
    # the first operand depends on an input: ops on constants alone have no gradient
    live = [k for k, dep in enumerate(_depends_on_input(tr)) if dep] or nodes
    if first is not None:
        live = [first]

    def ok(node: Node, args: Sequence[int]) -> bool:
        return domain_ok(node, [tr.values[i] for i in args], [tr.fscales[i] for i in args])

    axis: int | None = None
    exponent: int | float | None = None
    params: dict[str, Any] = {}
    if op in _PAIRED:
        a = _pick(draw, live)
        partners = [
            k
            for k in nodes
            if _broadcasts(tr.values[a].shape, tr.values[k].shape)
            and (op not in _PICKY or ok(Node(op), (a, k)))
        ]
        if partners:
            b = _pick(draw, partners)
        elif op == "div":  # a fresh constant divisor, away from 0
            b = tr.const(draw(values((), dtype, low=0.5, high=2.0)))
        else:  # a fresh constant (maximum, minimum: given up below at a near-tie)
            b = tr.const(draw(values((), dtype)))
        args: tuple[int, ...] = (a, b)
    elif op == "matmul":
        mats = [k for k in live if tr.values[k].ndim == 2]
        if not mats:
            return False
        a = _pick(draw, mats)
        m, n = tr.values[a].shape
        left = draw(st.booleans())  # a @ new, or new @ a
        other = (n, draw(st.integers(1, 3))) if left else (draw(st.integers(1, 3)), m)
        new = draw(values(other, dtype))
        b = tr.input(new) if new_inputs and draw(st.booleans()) else tr.const(new)
        args = (a, b) if left else (b, a)
    elif op == "concatenate":
        joined = _concatenated(draw, tr, live, dtype, new_inputs)
        if joined is None:
            return False
        args, axis = joined
    else:
        if op == "pow":
            exponent = _choose(draw, INT_EXPONENTS if draw(st.booleans()) else REAL_EXPONENTS)
        pool = live
        if op in _AXIS_NEEDED:
            pool = [k for k in live if tr.values[k].ndim >= 1]
        if op not in _DRAWN_FIRST:
            pool = [k for k in pool if ok(Node(op, exponent=exponent), (k,))]
        if not pool:
            return False
        a = _pick(draw, pool)
        ndim = tr.values[a].ndim
        if op in _AXIS_NEEDED or (op in _AXIS_OPTIONAL and ndim and draw(st.booleans())):
            axis = draw(st.integers(0, ndim - 1))
        params = _parameters(draw, tr, op, a, axis, dtype)
        args = (a,)
    node, v, f = tr.peek(op, args, axis, exponent, **params)
    if not (ok(node, args) and result_ok(v, f)):
        return False
    tr.push(node, v, f)
    return True


def _parameters(
    draw: Any, tr: Tracer, op: str, a: int, axis: int | None, dtype: str
) -> dict[str, Any]:
    """clip's bounds (between the values, or beyond them), reshape's target (the same
    size), take's indices (often repeating), for ``op`` on node ``a``."""
    if op == "clip":
        cuts = clip_cuts(tr.values[a], tr.fscales[a])
        pair = draw(st.lists(st.sampled_from(cuts), min_size=2, max_size=2, unique=True))
        low, high = (float(rounded(b, dtype)) for b in sorted(pair))
        return {"bounds": (low, high)}
    if op == "reshape":
        return {"shape": _choose(draw, reshape_targets(tr.values[a].shape))}
    if op == "take":
        assert axis is not None
        n = tr.values[a].shape[axis]
        indices = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=4))
        if draw(st.booleans()):  # a repeated index, whose gradients add up
            indices.append(_choose(draw, indices))
        return {"indices": tuple(indices)}
    return {}


def _concatenated(
    draw: Any, tr: Tracer, live: Sequence[int], dtype: str, new_inputs: bool
) -> tuple[tuple[int, int], int] | None:
    """Operands and axis for concatenate: a node of rank >= 1, and a node whose other
    sides match (itself included) or a new constant or input, in either order."""
    pool = [k for k in live if tr.values[k].ndim >= 1]
    if not pool:
        return None
    a = _pick(draw, pool)
    shape = tr.values[a].shape
    axis = draw(st.integers(0, len(shape) - 1))

    def fits(k: int) -> bool:
        s = tr.values[k].shape
        return len(s) == len(shape) and all(
            x == y for i, (x, y) in enumerate(zip(s, shape, strict=True)) if i != axis
        )

    partners = [k for k in range(len(tr.nodes)) if fits(k)]
    if partners and draw(st.booleans()):
        b = _pick(draw, partners)
    else:
        side = (draw(st.integers(1, 3)),)
        new = draw(values(shape[:axis] + side + shape[axis + 1 :], dtype))
        b = tr.input(new) if new_inputs and draw(st.booleans()) else tr.const(new)
    return ((a, b) if draw(st.booleans()) else (b, a)), axis


def _grow(
    draw: Any, tr: Tracer, dtype: str, ops: Sequence[str], max_ops: int, new_inputs: bool = True
) -> list[int]:
    """Add up to ``max_ops`` op nodes, each op chosen by a ticket (the check's first
    examples cycle through its ops: :mod:`conformance.generation.strata`). The
    designated ops' nodes."""
    if not ops:
        return []
    designated: list[int] = []
    # each op with its own draws, an element of a list: shrinking deletes an element, so
    # it takes an op out of an expression without changing how the others are drawn
    draw(st.lists(_one_op(tr, dtype, ops, new_inputs, designated), min_size=1, max_size=max_ops))
    return designated


@st.composite
def _one_op(
    draw: Any, tr: Tracer, dtype: str, ops: Sequence[str], new_inputs: bool, designated: list[int]
) -> None:
    """Add one op node, a designated op's to ``designated``. An op that does not fit where
    it was tried (a domain, a shape) becomes an addition or a sine where the engine has
    them, so that expressions keep their size."""
    op, due = strata.op_for(draw(strata.TICKETS), ops)
    node = _place(draw, tr, op, dtype, ops, new_inputs) if due else None
    if node is not None:
        designated.append(node)
        return
    for attempt in (op, *(fallback for fallback in ("add", "sin") if fallback in ops)):
        if _grow_one(draw, tr, attempt, dtype, new_inputs):
            return


def _place(
    draw: Any, tr: Tracer, op: str, dtype: str, ops: Sequence[str], new_inputs: bool
) -> int | None:
    """Add the designated ``op``: on a node with two sides above 1, where a reduction or a
    move can go wrong; else (where ``new_inputs``) on a new such input, of mixed signs or
    positive (log and sqrt need it); else wherever it fits. Its node, mostly squared
    after (:func:`_squared`), or None where it fits nowhere."""
    live = [k for k, dep in enumerate(_depends_on_input(tr)) if dep]
    wide = [k for k in live if sum(n >= 2 for n in tr.values[k].shape) >= 2]
    placed = bool(wide) and _grow_one(draw, tr, op, dtype, new_inputs, first=_pick(draw, wide))
    if not placed and new_inputs:
        shape = (draw(st.integers(2, 3)), draw(st.integers(2, 3)))
        # a positive one after a mixed one the op did not take
        for sign in dict.fromkeys((_choose(draw, ("mixed", "positive")), "positive")):
            x = tr.input(draw(values(shape, dtype, sign)))
            placed = _grow_one(draw, tr, op, dtype, new_inputs, first=x)
            if placed:
                break
    if not (placed or _grow_one(draw, tr, op, dtype, new_inputs)):
        return None
    strata.placed(op)
    return _squared(draw, tr, len(tr.nodes) - 1, ops)


def _squared(draw: Any, tr: Tracer, k: int, ops: Sequence[str]) -> int:
    """Node ``k`` squared, where that stays bounded: its output gradient is then not
    uniform, as a sum's is, which hides a misrouted one. Not when the draw is 0: seldom
    drawn (Hypothesis draws a 0 one time in ten here), shrinking's first try."""
    if "mul" not in ops or not draw(st.integers(0, 255)):
        return k
    squared = _bounded(tr, "mul", (k, k))
    return k if squared is None else squared


def _folded(draw: Any, tr: Tracer, out: int, k: int, ops: frozenset[str]) -> int:
    """``out`` plus node ``k`` summed, unless ``out`` already depends on ``k``, the engine
    cannot add and sum, or the total would leave the bounds: a non-scalar output is one
    end of the DAG, and would leave a designated op out."""
    if k in tr.ancestors(out) or "add" not in ops or not {"sum", "mean"} & ops:
        return out
    total = _bounded(tr, "add", (out, _reduced(draw, tr, k, ops)))
    return out if total is None else total


def _frontier(tr: Tracer, start: int) -> list[int]:
    """Nodes from ``start`` on that nothing uses yet (the ends of the DAG)."""
    used = {a for n in tr.nodes for a in n.args}
    return [
        k
        for k in range(start, len(tr.nodes))
        if k not in used and tr.nodes[k].op not in ("input", "const")
    ]


def _bounded(tr: Tracer, op: str, args: tuple[int, ...]) -> int | None:
    """Record ``op(args)`` if its result stays within the bounds, else nothing."""
    node, v, f = tr.peek(op, args)
    return tr.push(node, v, f) if result_ok(v, f) else None


def _reduced(draw: Any, tr: Tracer, k: int, ops: frozenset[str]) -> int:
    """``k`` reduced to a scalar by an available reduction (sum, or mean where a sum would
    leave the bounds); an example the engine's ops cannot reduce is rejected. A 0-d
    reshape or transpose is reduced too: it may be a view of an input (torch's are), and
    an output sharing an input's storage would read DG-1's in-place update of it."""
    if not tr.values[k].ndim and tr.nodes[k].op not in ("reshape", "transpose"):
        return k
    reductions = [r for r in ("sum", "mean") if r in ops]
    if not reductions:
        reject()
    summed = _bounded(tr, _choose(draw, reductions), (k,))
    return tr.apply(reductions[-1], (k,)) if summed is None else summed


def _scalar_output(draw: Any, tr: Tracer, ends: Sequence[int], ops: frozenset[str]) -> int:
    """Reduce each end of the DAG to a scalar and add them up (leaving out an end that
    would push the total out, or every end but one without addition)."""
    out: int | None = None
    for k in ends:
        k = _reduced(draw, tr, k, ops)
        total = None if out is None or "add" not in ops else _bounded(tr, "add", (out, k))
        out = k if out is None else (out if total is None else total)
    assert out is not None
    return out


def _ops(ops: frozenset[str] | None, detach: bool) -> tuple[str, ...]:
    """The ops to draw from: the engine's (protocol order), or every base op."""
    every = BASE_OPS + NN_OPS + EXTRA_OPS
    drawn = BASE_OPS if ops is None else tuple(op for op in every if op in ops)
    return drawn + (("detach",) if detach else ())


def _have(ops: frozenset[str] | None) -> frozenset[str]:
    return frozenset(BASE_OPS) if ops is None else ops


@st.composite
def cases(
    draw: Any,
    dtype: str,
    *,
    ops: frozenset[str] | None = None,
    max_ops: int = 8,
    scalar: bool = True,
    detach: bool = False,
    untracked: bool = False,
) -> Case:
    """A random expression over ``ops`` (the engine's, see :func:`conformance.engine.ops.available`;
    default every base op) with inputs to run it on.

    ``scalar``: reduce to one value (else the output has >= 2 elements and the case
    carries a random cotangent). ``detach``/``untracked``: for imperative engines, may
    detach intermediates; leave some inputs untracked (at least one input is tracked and
    at least one is not).
    """
    rank = _choose(draw, (2, 1, 3, 0))  # rank 2 first: matmul needs it
    base = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    if not scalar and int(np.prod(base)) < 2:
        base = (*base, 2)
    tr = Tracer()
    for i in range(draw(st.integers(2 if untracked else 1, 3))):
        shape = base if i == 0 else draw(family_shape(base))
        tr.input(draw(values(shape, dtype, _choose(draw, ("mixed", "positive", "negative")))))
    for _ in range(draw(st.integers(0, 2))):
        tr.const(draw(values(draw(family_shape(base)), dtype)))
    first_op = len(tr.nodes)
    have = _have(ops)
    designated = _grow(draw, tr, dtype, _ops(ops, detach), max_ops)
    ends = _frontier(tr, first_op)
    if scalar:
        out = _scalar_output(draw, tr, ends or [0], have)
    else:
        big = [k for k in ends if tr.values[k].size >= 2]
        out = big[-1] if big else _an_op_on(draw, tr, 0, have)
        for k in designated:
            out = _folded(draw, tr, out, k, have)
    n_in = tr.n_inputs
    tracked = None
    if untracked:
        flags = draw(st.lists(st.booleans(), min_size=n_in, max_size=n_in))
        on, off = draw(st.permutations(range(n_in)))[:2]
        flags[on], flags[off] = True, False
        tracked = tuple(flags)
    expr = tr.expr(out)
    if not requires_grad(expr, tracked or (True,) * n_in)[expr.output]:
        # no tracked input reaches the output, so there is no gradient to compare: add one
        x = next(
            k
            for k, n in enumerate(tr.nodes)
            if n.op == "input" and (tracked is None or tracked[n.index])
        )
        extra = _reduced(draw, tr, _an_op_on(draw, tr, x, have), have)
        total = _bounded(tr, "add", (out, extra)) if "add" in have else None
        out = extra if total is None else total
    cotangent = None
    if not scalar:
        cotangent = draw(values(tr.values[out].shape, dtype, low=0.1, high=2.0))
    inputs = tuple(tr.values[k] for k, n in enumerate(tr.nodes) if n.op == "input")
    return Case(tr.expr(out), inputs, dtype, cotangent, tracked)


def _an_op_on(draw: Any, tr: Tracer, k: int, ops: frozenset[str]) -> int:
    """One elementwise op applied to node ``k`` (a sine where the engine has one), so the
    output is computed by an op; an example the engine's ops cannot do that for is rejected."""
    for op in ("sin", "tanh", "neg", "mul", "add"):
        if op in ops:
            return tr.apply(op, (k, k) if op in ("mul", "add") else (k,))
    reject()
    raise AssertionError("unreachable: reject() raises")


# -- GR-2 ------------------------------------------------------------------------------


@st.composite
def gr2_inputs(
    draw: Any, dtype: str, max_rank: int, max_side: int
) -> tuple[np.ndarray, np.ndarray]:
    """m and n of random broadcastable shapes, any finite values up to 1e3 in size, not
    all zero."""
    shapes = draw(mutually_broadcastable_shapes(num_shapes=2, max_dims=max_rank, max_side=max_side))
    elements = st.floats(-1e3, 1e3, allow_subnormal=False, width=32 if dtype == "float32" else 64)
    m, n = (draw(arrays(np.float64, s, elements=elements)) for s in shapes.input_shapes)
    assume(np.any(m) or np.any(n))  # all zeros: zero gradients, nothing to tell apart
    return rounded(m, dtype), rounded(n, dtype)


# -- DG-1 ------------------------------------------------------------------------------


def _piece(
    draw: Any,
    dtype: str,
    xs: Sequence[np.ndarray],
    extra: np.ndarray | None,
    ops: frozenset[str] | None,
    keep_extra: bool = False,
) -> Expr:
    """A scalar expression of the inputs (and one more scalar input ``extra``)."""
    tr = Tracer()
    for x in xs:
        tr.input(x)
    if extra is not None:
        tr.input(extra)
    first = len(tr.nodes)
    _grow(draw, tr, dtype, _ops(ops, False), 4, new_inputs=False)
    ends = _frontier(tr, first) or [0]
    out = _scalar_output(draw, tr, ends, _have(ops))
    if keep_extra:  # the loop body: y + f(x, y), so that y flows on
        if "add" not in _have(ops):
            reject()
        out = tr.apply("add", (len(xs), out))
    return tr.expr(out)


def _conditioned(tr: Tracer, nodes: range) -> bool:
    """Are the recorded ``nodes`` well defined, well conditioned and bounded?"""
    for k in nodes:
        node = tr.nodes[k]
        if node.op in ("input", "const"):
            continue
        args = [tr.values[i] for i in node.args]
        if not (
            domain_ok(node, args, [tr.fscales[i] for i in node.args])
            and result_ok(tr.values[k], tr.fscales[k])
        ):
            return False
    return True


@st.composite
def programs(
    draw: Any, dtype: str, ops: frozenset[str] | None = None
) -> tuple[Program, tuple[np.ndarray, ...]]:
    """A program branching and looping on computed values, and inputs for it.

    The threshold and the loop limit sit between the values the program really computes,
    never within rounding distance of one, so every engine takes the same path; the loop
    stops (by its counter) before the path would leave the well-conditioned region.
    """
    base = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    xs = tuple(
        draw(values(base if i == 0 else draw(family_shape(base)), dtype))
        for i in range(draw(st.integers(1, 2)))
    )
    tr = Tracer()  # the path, recorded whole: its conditioning is judged as one expression
    ids = [tr.input(x) for x in xs]
    cond = _piece(draw, dtype, xs, None, ops)
    c = evaluate(cond, tr, ids, tr.const)[cond.output]
    cv = float(tr.values[c])
    gap = draw(st.floats(0.1, 1.0)) * (1 + abs(cv))
    threshold = cv - gap if draw(st.booleans()) else cv + gap
    then, other = (_piece(draw, dtype, xs, tr.values[c], ops) for _ in range(2))
    branch = then if cv > threshold else other
    y = evaluate(branch, tr, [*ids, c], tr.const)[branch.output]
    assume(_conditioned(tr, range(len(tr.nodes))))
    step = _piece(draw, dtype, xs, tr.values[y], ops, keep_extra=True)
    ys = [float(tr.values[y])]  # the values the loop condition would read
    while len(ys) <= 3:
        mark = len(tr.nodes)
        y = evaluate(step, tr, [*ids, y], tr.const)[step.output]
        if not _conditioned(tr, range(mark, len(tr.nodes))):
            break
        ys.append(float(tr.values[y]))
    most = len(ys) - 1
    loops = draw(st.integers(0, most))
    before = max(ys[:loops], default=-np.inf)
    if loops < most and ys[loops] - before > 0.2 * (1 + abs(ys[loops])):
        stop = ys[loops]  # stop after `loops` iterations, halfway between the values
        limit = (before + stop) / 2 if np.isfinite(before) else stop - 0.5 * (1 + abs(stop))
    else:  # run every conditioned iteration: the counter stops the loop
        top = max(ys[:most], default=ys[0])
        limit = top + 0.5 * (1 + abs(top))
    return Program(cond, threshold, then, other, step, float(limit), most), xs
