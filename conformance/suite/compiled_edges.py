"""The edge and non-finite tiers through an engine's compiler (CE-1): every case of a
claim's grids recorded into one expression, each case's output flattened and all of them
concatenated, compiled once (``backend.compiled_vjp``), then each case's slice of the
value and its own inputs' gradients judged exactly as the eager claims judge them.

Reshape and concatenate only move values, forward and backward, so no case's NaN or
infinity reaches another's slice or gradients; an engine without them cannot run the
combined program (unsupported).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from conformance.edges.tiers import Answer, EdgeCase
from conformance.engine.ops import available, cover
from conformance.oracles.expr import Case, as_fn, evaluate, repro
from conformance.oracles.first_order import Tracer
from conformance.oracles.verdicts import unsupported, will_reproduce

Span = tuple[int, int, tuple[int, ...], int, int]


def combined(edges: list[EdgeCase], dtype: str) -> tuple[Case, list[Span]]:
    """One expression holding every case of ``edges``, and per case where its value lies
    in the output (start, stop, its shape) and which inputs are its own (first, last)."""
    tr = Tracer()
    flat: list[int] = []
    cotangents: list[np.ndarray] = []
    spans = []
    start, first = 0, 0
    with np.errstate(all="ignore"):
        for edge in edges:
            case = edge.case
            ins = [tr.input(x) for x in case.inputs]
            out = evaluate(case.expr, tr, ins, tr.const)[case.expr.output]
            size = int(np.size(tr.values[out]))
            flat.append(tr.reshape(out, (size,)))
            v = np.ones(size) if case.cotangent is None else np.ravel(case.cotangent)
            cotangents.append(np.asarray(v, np.float64))
            shape = tuple(np.shape(tr.values[out]))
            spans.append((start, start + size, shape, first, first + len(ins)))
            start, first = start + size, first + len(ins)
        total = flat[0]
        for piece in flat[1:]:
            total = tr.concatenate(total, piece, 0)
    inputs = tuple(x for edge in edges for x in edge.case.inputs)
    return Case(tr.expr(total), inputs, dtype, np.concatenate(cotangents)), spans


def compiled_answers(backend: Any, dtype: str) -> Callable[[list[EdgeCase]], list[Answer]]:
    """A function giving the compiled engine's answer for each of a list of cases."""
    if not {"reshape", "concatenate"} <= available(backend):
        unsupported("the combined compiled program needs reshape and concatenate")

    def answers(edges: list[EdgeCase]) -> list[Answer]:
        case, spans = combined(edges, dtype)
        cover(case.expr.ops())
        will_reproduce(repro(case, backend).replace("bk.vjp(fn,", "bk.compiled_vjp(fn,"))
        value, grads = backend.compiled_vjp(
            as_fn(case.expr, backend, dtype), list(case.inputs), dtype, case.cotangent
        )
        value = np.asarray(value)
        whole = value.shape == (spans[-1][1],)  # else every case's value check says so
        return [
            (value[a:b].reshape(shape) if whole else None, list(grads[i:j]))
            for a, b, shape, i, j in spans
        ]

    return answers
