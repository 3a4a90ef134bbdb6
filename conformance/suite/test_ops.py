"""OP-1, the op diagnosis: each op alone, per shape class, against its derivative rule.

It runs first. Its rows (op x shape class x dtype) go to every report as the op table,
and a failing property's report names the failing rows, so one op's bug is seen as that
op's, and never hides another's.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.engine import Unsupported
from conformance.engine.ops import ALL_OPS, available
from conformance.generation.op_cases import OpCase, describe_row, op_cases
from conformance.oracles.verdicts import CheckFailure, require, unsupported
from conformance.oracles.vjp_checks import check_vjp, run_vjp
from conformance.specs import claim


def _judge(backend: Any, item: OpCase) -> tuple[str, str]:
    """(verdict, message) of one row; a failure's message ends with its reproduction."""
    try:
        value, grads = run_vjp(backend, item.case)
        check_vjp(backend, item.case, value, grads)
    except Unsupported as exc:
        return "unsupported", str(exc)
    except CheckFailure as exc:
        return "failed", str(exc)
    except Exception as exc:  # noqa: BLE001 - the engine's error is this row's finding
        return "failed", f"raised {type(exc).__name__}: {exc}"
    return "passed", ""


@pytest.mark.claim("OP-1")
def test_each_op_alone_has_the_vjp_of_its_derivative_rule(
    backend: Any, dtype: str, request: pytest.FixtureRequest
) -> None:
    """Each op the engine has, alone on each shape class, gives the oracle's VJP."""
    spec = claim("OP-1")
    require(backend, *spec.requires)
    classes = tuple(spec.params["shape_classes"])
    have = available(backend)
    rows: list[dict[str, str]] = []
    failed: list[tuple[str, str]] = []
    for op in ALL_OPS:
        for item in op_cases(op, dtype, classes):
            if op in have:
                verdict, message = _judge(backend, item)
            else:
                verdict, message = "unsupported", f"the engine has no {op}"
            row = {"op": op, "shape": describe_row(item), "dtype": dtype, "verdict": verdict}
            rows.append({**row, "message": message.splitlines()[0] if message else ""})
            if verdict == "failed":
                failed.append((f"{op} ({row['shape']})", message))
    request.node.user_properties.append(("op_table", rows))
    if failed:
        names = ", ".join(name for name, _ in failed)
        raise CheckFailure(
            "op diagnosis",
            f"{len(failed)} failing row(s): {names}",
            "every row passes",
            detail=f"first failing row, {failed[0][0]}:\n{failed[0][1]}",
        )
    if not any(r["verdict"] == "passed" for r in rows):
        unsupported("the engine has none of the protocol's ops")
