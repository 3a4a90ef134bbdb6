"""Expression DAGs over the protocol's ops: evaluation, readable formulas, reproductions.

An :class:`Expr` is a topologically ordered tuple of :class:`Node` s: inputs (tracked
or not), constants, and op nodes naming a protocol op (``add`` ... ``concatenate``) plus
``detach``. It is evaluated by any object with the protocol's op methods, a backend
or the numpy oracle alike, so the suite and the oracle read the same structure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.engine.structure import Structure, attach
from conformance.oracles import tolerances
from conformance.oracles.verdicts import CheckFailure, snippet

UNARY = (
    "neg",
    "exp",
    "log",
    "sin",
    "cos",
    "tanh",
    "sqrt",
    "sigmoid",
    "relu",
    "abs",
    "transpose",
    "detach",
)
BINARY = ("add", "sub", "mul", "div", "matmul", "maximum", "minimum")
# ops taking one tensor and an axis (an int, or None for the reductions over everything)
AXIS_OPS = ("sum", "mean", "softmax", "max", "min", "prod", "logsumexp", "log_softmax")
INFIX = {"add": ("+", 1), "sub": ("-", 1), "mul": ("*", 2), "div": ("/", 2), "matmul": ("@", 2)}


@dataclass(frozen=True, eq=False)
class Node:
    op: str  # "input", "const", a protocol op name, or "detach"
    args: tuple[int, ...] = ()
    shape: tuple[int, ...] = ()
    index: int = -1  # which input, for op == "input"
    value: np.ndarray | None = None  # for op == "const"
    axis: int | None = None  # AXIS_OPS, take, concatenate
    exponent: int | float | None = None  # pow
    bounds: tuple[float, float] | None = None  # clip: (low, high)
    indices: tuple[int, ...] | None = None  # take
    # reshape's target is the node's own shape


@dataclass(frozen=True, eq=False)
class Expr:
    nodes: tuple[Node, ...]
    output: int

    @property
    def n_inputs(self) -> int:
        return sum(1 for n in self.nodes if n.op == "input")

    def input_node(self, i: int) -> int:
        return next(k for k, n in enumerate(self.nodes) if n.op == "input" and n.index == i)

    def ops(self) -> set[str]:
        return {n.op for n in self.nodes}


@dataclass(frozen=True, eq=False, repr=False)
class Case:
    """An expression with the inputs to run it on (already rounded to ``dtype``)."""

    expr: Expr
    inputs: tuple[np.ndarray, ...]
    dtype: str
    cotangent: np.ndarray | None = None
    tracked: tuple[bool, ...] | None = None  # imperative checks: which inputs require grad

    def __repr__(self) -> str:  # what Hypothesis prints for a falsifying example
        parts = [formula(self.expr), *(f"x{i} = {_short(x)}" for i, x in enumerate(self.inputs))]
        if self.cotangent is not None:
            parts.append(f"v = {_short(self.cotangent)}")
        if self.tracked is not None:
            parts.append(f"tracked = {self.tracked}")
        return f"Case({self.dtype}: " + "; ".join(parts) + ")"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # Hypothesis's printer
        p.text(repr(self))


# -- evaluation -------------------------------------------------------------------------


def apply(ops: Any, node: Node, args: Sequence[Any]) -> Any:
    """``node``'s op applied to ``args`` through ``ops`` (a backend or the numpy oracle)."""
    if node.op == "pow":
        return ops.pow(args[0], node.exponent)
    if node.op == "clip":
        assert node.bounds is not None
        return ops.clip(args[0], *node.bounds)
    if node.op == "reshape":
        return ops.reshape(args[0], node.shape)
    if node.op == "take":
        return ops.take(args[0], node.indices, node.axis)
    if node.op == "concatenate":
        return ops.concatenate(args[0], args[1], node.axis)
    if node.op in AXIS_OPS:
        return getattr(ops, node.op)(args[0], node.axis)
    return getattr(ops, node.op)(*args)


def evaluate(
    expr: Expr,
    ops: Any,
    inputs: Sequence[Any],
    const: Callable[[np.ndarray], Any] | None = None,
    consts: Sequence[Any] = (),
) -> list[Any]:
    """Every node's value, in node order; ``const`` turns a constant into an operand, or,
    without it, the constants are ``consts``' operands in node order (then no constant's
    value is read: a compiler tracing the call sees none of them)."""
    out: list[Any] = []
    given = iter(consts)
    for node in expr.nodes:
        if node.op == "input":
            out.append(inputs[node.index])
        elif node.op == "const":
            if const is None:
                out.append(next(given))
                continue
            assert node.value is not None
            out.append(const(node.value))
        else:
            out.append(apply(ops, node, [out[i] for i in node.args]))
    return out


def as_fn(expr: Expr, backend: Any, dtype: str) -> Callable[..., Any]:
    """``fn(*tensors)`` computing the expression with ``backend``'s ops, for ``backend.vjp``.

    It carries its :class:`~conformance.engine.structure.Structure` (an expression reads no
    values), keyed by :func:`structure_key`, with the constants as arguments."""

    def fn(*xs: Any) -> Any:
        return evaluate(expr, backend, xs, lambda v: backend.tensor(v, dtype))[expr.output]

    def body(consts: Sequence[Any], *xs: Any) -> Any:
        return evaluate(expr, backend, xs, consts=consts)[expr.output]

    consts = tuple(np.asarray(n.value) for n in expr.nodes if n.op == "const")
    return attach(fn, Structure(structure_key(expr), backend, consts, body))


def structure_key(expr: Expr) -> tuple[Any, ...]:
    """Everything about ``expr`` that changes its computation but its constants' values:
    each node's op, operands, shape, input index, axis, exponent (by ``repr``, so that
    ``2`` and ``2.0`` differ, as jax's integer and float powers do), clip bounds (by
    ``repr``), take indices and constant shape."""
    return (
        expr.output,
        tuple(
            (
                n.op,
                n.args,
                n.shape,
                n.index,
                n.axis,
                repr(n.exponent),
                repr(n.bounds),
                n.indices,
                _shape(n.value),
            )
            for n in expr.nodes
        ),
    )


def _shape(value: np.ndarray | None) -> tuple[int, ...] | None:
    return None if value is None else np.shape(value)


# -- showing an expression --------------------------------------------------------------


def _short(a: Any) -> str:
    """A one-line, rounded rendering of an array, for reading (repros carry full digits)."""
    text = np.array2string(np.asarray(a), precision=4, separator=", ", threshold=20)
    return " ".join(text.split())


def _literal(a: np.ndarray) -> str:
    """A numpy literal that rebuilds ``a`` exactly (repr of a float64 round-trips)."""
    a = np.asarray(a, dtype=np.float64)

    def nest(x: Any) -> str:
        if isinstance(x, list):
            return "[" + ", ".join(nest(v) for v in x) + "]"
        x = float(x)  # nan and inf have no literal: float("nan") rebuilds them
        return repr(x) if np.isfinite(x) else f'float("{x!r}")'

    return f"np.array({nest(a.tolist())})"


def _names(expr: Expr) -> dict[int, str]:
    """Names for the nodes a formula shows by name: inputs, array constants, and the
    subexpressions used more than once (so a shared one is computed, and read, once)."""
    uses = [0] * len(expr.nodes)
    for node in expr.nodes:
        for a in node.args:
            uses[a] += 1
    names: dict[int, str] = {}
    consts = temps = 0
    for k, node in enumerate(expr.nodes):
        if node.op == "input":
            names[k] = f"x{node.index}"
        elif node.op == "const" and node.shape:
            names[k] = f"c{consts}"
            consts += 1
        elif node.op != "const" and uses[k] > 1 and k != expr.output:
            temps += 1
            names[k] = f"t{temps}"
    return names


def formula(expr: Expr) -> str:
    """E.g. ``t1 = x0 * x1; y = sum(t1 + sin(t1))``, with array constants listed first."""
    names = _names(expr)

    def show(k: int, named: bool = True) -> tuple[str, int]:
        node = expr.nodes[k]
        if (named or node.op == "input") and k in names:
            return names[k], 9
        if node.op == "const":
            c = float(np.asarray(node.value))
            return f"{c:.5g}", (9 if c >= 0 else 3)  # -2.5 reads like a negation
        sub = [show(a) for a in node.args]
        if node.op in INFIX:
            sym, prec = INFIX[node.op]
            left = sub[0][0] if sub[0][1] >= prec else f"({sub[0][0]})"
            right = sub[1][0] if sub[1][1] > prec else f"({sub[1][0]})"
            return f"{left} {sym} {right}", prec
        if node.op == "neg":
            return ("-" + sub[0][0] if sub[0][1] >= 3 else f"-({sub[0][0]})"), 3
        if node.op == "pow":
            base = sub[0][0] if sub[0][1] >= 9 else f"({sub[0][0]})"
            return f"{base} ** {node.exponent!r}", 4
        return f"{node.op}({', '.join([*(s for s, _ in sub), *_extra_args(node)])})", 9

    lines = [
        f"{names[k]} = {_short(n.value)}"
        for k, n in enumerate(expr.nodes)
        if n.op == "const" and k in names and n.value is not None
    ]
    lines += [
        f"{names[k]} = {show(k, named=False)[0]}"
        for k in sorted(names)
        if expr.nodes[k].op not in ("input", "const")
    ]
    lines.append(f"y = {show(expr.output, named=False)[0]}")
    return "; ".join(lines)


def _extra_args(node: Node, call: bool = False) -> list[str]:
    """What ``node``'s op takes besides its tensors, in the protocol's order: clip's
    bounds, reshape's shape, take's indices, then the axis. For a formula the axis reads
    ``axis=k`` and a None axis is left out; for a call (``call``) every one is positional."""
    out: list[str] = []
    if node.op == "clip" and node.bounds is not None:
        out += [repr(float(b)) if call else f"{b:.5g}" for b in node.bounds]
    elif node.op == "reshape":
        out.append(repr(tuple(node.shape)))
    elif node.op == "take":
        out.append(repr(tuple(node.indices or ())))
    if node.op in (*AXIS_OPS, "take", "concatenate"):
        if call:
            out.append(repr(node.axis))
        elif node.axis is not None:
            out.append(f"axis={node.axis}")
    return out


def describe(case: Case) -> str:
    """The formula, shapes and dtype of a case, for failure messages."""
    shapes = ", ".join(f"x{i}{tuple(x.shape)}" for i, x in enumerate(case.inputs))
    return f"expression ({case.dtype}; {shapes}): {formula(case.expr)}"


def _node_lines(expr: Expr, indent: str = "") -> tuple[list[str], dict[int, str]]:
    """One line per op or constant node, ``t<k> = bk.<op>(...)``, and each node's name."""
    lines: list[str] = []
    name: dict[int, str] = {}
    for k, node in enumerate(expr.nodes):
        if node.op == "input":
            name[k] = f"x{node.index}"
            continue
        name[k] = f"t{k}"
        if node.op == "const":
            rhs = f"bk.tensor({_literal(np.asarray(node.value))}, dtype)"
        else:
            operands = [name[a] for a in node.args]
            if node.op == "pow":
                operands.append(repr(node.exponent))
            else:
                operands += _extra_args(node, call=True)
            rhs = f"bk.{node.op}({', '.join(operands)})"
        lines.append(f"{indent}{name[k]} = {rhs}")
    return lines, name


def repro(
    case: Case,
    backend: Any,
    retain: Sequence[int] = (),
    passes: int = 1,
    imperative: bool | None = None,
) -> str:
    """A copy-paste snippet that rebuilds the inputs exactly and runs ``case`` on the backend.

    Functional (the default without ``case.tracked``) it calls ``backend.vjp``; imperative
    (the graph-semantics checks) it builds the tensors, calls retain_grad on the nodes in
    ``retain``, runs ``passes`` backward passes (over the retained graph) and prints every
    tensor's ``is_leaf`` and ``grad``.
    """
    body = [f"dtype = {case.dtype!r}"]
    v = "None" if case.cotangent is None else _literal(case.cotangent)
    xs = ", ".join(f"x{i}" for i in range(len(case.inputs)))
    if not (case.tracked is not None if imperative is None else imperative):
        body += [f"x{i} = {_literal(x)}" for i, x in enumerate(case.inputs)]
        lines, name = _node_lines(case.expr, "    ")
        body += [f"def fn({xs}):", *lines, f"    return {name[case.expr.output]}"]
        body += [f"value, grads = bk.vjp(fn, [{xs}], dtype, {v})", "print(value, grads)"]
        return snippet(backend, *body)
    lines, name = _tracked_lines(case)
    body += lines
    body += [f"bk.retain_grad({name[k]})" for k in retain]
    seed = "None" if case.cotangent is None else f"bk.tensor({v}, dtype)"
    call = f"bk.backward({name[case.expr.output]}, {seed}"
    if passes == 1:
        body.append(call + ")")
    else:
        body += [f"for _ in range({passes}):", f"    {call}, retain_graph=True)"]
    shown = ", ".join(f"({n!r}, {n})" for n in name.values())
    body.append(f"for name, t in [{shown}]:")
    leaf = "bk.is_leaf(t), " if "is_leaf" in getattr(backend, "capabilities", ()) else ""
    body.append(f"    print(name, {leaf}bk.grad(t))")
    return snippet(backend, *body)


def _tracked_lines(case: Case) -> tuple[list[str], dict[int, str]]:
    """Lines building ``case``'s inputs as tensors (tracked per ``case.tracked``) and its
    nodes, and each node's variable name."""
    tracked = case.tracked or (True,) * len(case.inputs)
    body = [
        f"x{i} = bk.tensor({_literal(x)}, dtype, requires_grad={t})"
        for i, (x, t) in enumerate(zip(case.inputs, tracked, strict=True))
    ]
    lines, name = _node_lines(case.expr)
    return body + lines, name


def repro_update(case: Case, backend: Any, deltas: Sequence[np.ndarray]) -> str:
    """A snippet that computes ``case`` on tracked tensors and back-propagates, then
    subtracts ``deltas`` from the inputs in place, and only then reads the output, as
    DG-1's stale-read check (and the seed's loop) does."""
    lines, name = _tracked_lines(case)
    body = [f"dtype = {case.dtype!r}", *lines, f"bk.backward({name[case.expr.output]})"]
    body += [f"bk.update_(x{i}, {_literal(d)})" for i, d in enumerate(deltas)]
    body.append(f"print(bk.to_numpy({name[case.expr.output]}))  # the value before the update")
    return snippet(backend, *body)


# -- judging ----------------------------------------------------------------------------


def check_arrays(
    stage: str,
    rows: Sequence[tuple[str, Any, np.ndarray, np.ndarray]],
    dtype: str,
    context: str | Callable[[], str],
    repro_text: str | None = None,
) -> None:
    """Compare ``(name, actual, expected, scale)`` rows under the tolerance policy.

    On any mismatch, raise :class:`CheckFailure` naming ``stage`` and the first bad row,
    and listing ACTUAL vs EXPECTED for every row, then ``context`` (text, or a function
    making it, called only on failure) and the reproduction.
    """
    lines, first = [], None
    for name, actual, expected, scale in rows:
        exp = np.asarray(expected, dtype=np.float64)
        if actual is None or np.shape(actual) != exp.shape:
            shown = None if actual is None else np.shape(actual)
            verdict = f"MISMATCH: got {'None' if actual is None else f'shape {shown}'}"
            ok = False
        else:
            act = np.asarray(actual, dtype=np.float64)
            good = tolerances.within(act, exp, scale, dtype)
            ok = bool(np.all(good))
            bound = tolerances.bound(scale, dtype)
            excess = float(np.max(np.abs(act - exp) / bound)) if act.size else 0.0
            verdict = "ok" if ok else f"MISMATCH: max |diff| / bound = {excess:.3g}"
        lines += [
            f"  {name}: {verdict}",
            f"    ACTUAL   {_short(np.asarray(actual))}",
            f"    EXPECTED {_short(exp)}",
        ]
        if not ok and first is None:
            first = (name, actual, exp)
    if first is None:
        return
    tol = tolerances.policy(dtype)
    detail = (
        f"{stage} of {first[0]} differs ({dtype} policy: |diff| <= {tol.rtol:g} * scale"
        f" + {tol.atol:g}); per tensor:\n"
        + "\n".join(lines)
        + "\n"
        + (context if isinstance(context, str) else context())
    )
    raise CheckFailure(f"{stage} ({first[0]})", first[1], first[2], detail=detail, repro=repro_text)


# -- programs with control flow on computed values (DG-1) -----------------------------


@dataclass(frozen=True, eq=False, repr=False)
class Program:
    """``c = cond(x)``; ``y = then(x, c)`` if ``c > threshold`` else ``other(x, c)``; then
    ``y = step(x, y)`` while ``y < limit``, at most ``max_iter`` times; the output is y.
    Every piece is a scalar-valued expression; the decisions read computed values."""

    cond: Expr
    threshold: float
    then: Expr
    other: Expr
    step: Expr
    limit: float
    max_iter: int

    def __repr__(self) -> str:
        return (
            f"Program(c = {formula(self.cond)} | if c > {self.threshold!r}: "
            f"{formula(self.then)} | else: {formula(self.other)} | "
            f"while y < {self.limit!r} (at most {self.max_iter}): {formula(self.step)}"
            " (inputs x..., then c or y))"
        )

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # Hypothesis's printer
        p.text(repr(self))


def run_program(
    prog: Program,
    ops: Any,
    xs: Sequence[Any],
    const: Callable[[np.ndarray], Any],
    to_float: Callable[[Any], float],
) -> tuple[Any, tuple[bool, int]]:
    """Run ``prog`` through ``ops``; returns the output and the path: (then taken?, loops)."""

    def run(e: Expr, *extra: Any) -> Any:
        return evaluate(e, ops, [*xs, *extra], const)[e.output]

    c = run(prog.cond)
    took_then = to_float(c) > prog.threshold
    y = run(prog.then if took_then else prog.other, c)
    loops = 0
    while loops < prog.max_iter and to_float(y) < prog.limit:
        y = run(prog.step, y)
        loops += 1
    return y, (took_then, loops)
