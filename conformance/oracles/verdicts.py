"""What a check says when it fails or cannot run: stage, ACTUAL vs EXPECTED, reproduction."""

from __future__ import annotations

import unittest
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from conformance.engine import Unsupported
from conformance.oracles import tolerances

UNSUPPORTED = "unsupported: "
"""Prefix of the skip reason that the reports count as the *unsupported* verdict."""


class CheckUnsupported(Unsupported, unittest.SkipTest):
    """The suite's own *unsupported*: the whole check cannot run on this engine. A skip to
    Hypothesis and pytest, so that it ends the check at once, not example by example;
    any other skip raised inside a check is the engine's, and fails it."""

    def __init__(self, reason: str) -> None:
        super().__init__(UNSUPPORTED + reason)


def require(backend: Any, *capabilities: str) -> None:
    """End the check as *unsupported* unless ``backend`` declares every capability named."""
    missing = [c for c in capabilities if c not in getattr(backend, "capabilities", ())]
    if missing:
        raise CheckUnsupported("backend lacks capability " + ", ".join(missing))


def unsupported(reason: str) -> None:
    """End the check as *unsupported* for a reason other than a missing capability."""
    raise CheckUnsupported(reason)


def snippet(backend: Any, *body: str) -> str:
    """A copy-paste reproduction: load this backend again, then run ``body``."""
    ref = getattr(backend, "conformance_ref", getattr(backend, "name", "torch"))
    head = [
        "import numpy as np",
        "from conformance.engine.registry import load_backend",
        f"bk = load_backend({ref!r})",
    ]
    return "\n".join("    " + line for line in (*head, *body))


# the running example's reproduction, named before the engine runs it (one check runs at
# a time per process), for a failure that is the engine's own exception
_pending_repro = ""


def will_reproduce(text: str) -> None:
    """Name the reproduction of what the check is about to ask of the engine: if the
    engine raises there, the failure carries this snippet (a CheckFailure carries its own).
    """
    global _pending_repro
    _pending_repro = text


def pending_repro() -> str:
    """The running check's last named reproduction, and forget it."""
    global _pending_repro
    text, _pending_repro = _pending_repro, ""
    return text


def _fmt(value: Any) -> str:
    if value is None or isinstance(value, (str, bool)):
        return repr(value)
    arr = np.asarray(value)
    return np.array2string(arr, precision=10, separator=", ", threshold=40)


class CheckFailure(AssertionError):
    """A claim check that failed; its message names the stage and shows the evidence."""

    def __init__(
        self,
        stage: str,
        actual: Any,
        expected: Any,
        *,
        detail: str = "",
        repro: str | None = None,
        ops: Iterable[str] = (),
    ) -> None:
        lines = [f"stage: {stage}", f"ACTUAL:   {_fmt(actual)}", f"EXPECTED: {_fmt(expected)}"]
        if detail:
            lines.append(detail)
        if repro:
            lines += ["reproduce with:", repro]
        super().__init__("\n".join(lines))
        self.stage = stage
        self.repro = repro
        #: the ops whose answers failed, where the check knows (an expected-failure entry
        #: that names ops excuses the failure only if it names every one of them)
        self.ops = frozenset(ops)


def fail_if_any(
    stage: str,
    failed: dict[str, str],
    what: str = "op",
    ops: Iterable[str] = (),
    repro: str | None = None,
) -> None:
    """One failure naming every failing item (an op, a case, a program, a shape class),
    each with its own message, so that one item's failure does not hide another's."""
    if failed:
        raise CheckFailure(
            stage,
            f"failing {what}(s): {', '.join(failed)}",
            f"every {what} passes",
            detail="\n\n".join(f"-- failing {what} {k} --\n{text}" for k, text in failed.items()),
            repro=repro,
            ops=ops,
        )


def expect_equal(stage: str, actual: Any, expected: Any, repro: str | None = None) -> None:
    """Exact comparison, for flags, names and values the spec states exactly."""
    if isinstance(expected, (bool, str)) or expected is None:
        same = actual == expected if expected is not None else actual is None
    else:
        same = actual is not None and np.array_equal(np.asarray(actual), np.asarray(expected))
    if not same:
        raise CheckFailure(stage, actual, expected, repro=repro)


def expect_close(
    stage: str,
    actual: Any,
    expected: Any,
    dtype: str,
    *,
    scale: Any = None,
    repro: str | None = None,
) -> None:
    """Comparison under the tolerance policy for ``dtype`` (:mod:`conformance.oracles.tolerances`).

    ``scale`` defaults to ``|expected|``; pass the magnitudes the computation went
    through when cancellation is possible.
    """
    if actual is None:
        raise CheckFailure(
            stage, actual, expected, detail="the backend returned no value", repro=repro
        )
    act = np.asarray(actual, dtype=np.float64)
    exp = np.asarray(expected, dtype=np.float64)
    if act.shape != exp.shape:
        raise CheckFailure(
            stage, act, exp, detail=f"shape {act.shape} != expected {exp.shape}", repro=repro
        )
    ok = tolerances.within(act, exp, np.abs(exp) if scale is None else scale, dtype)
    if not np.all(ok):
        worst = int(np.argmax(~ok.ravel()))
        tol = tolerances.policy(dtype)
        raise CheckFailure(
            stage,
            act,
            exp,
            detail=(
                f"first mismatch at flat index {worst}; {dtype} policy: rtol={tol.rtol:g}"
                " of the scale (conformance.oracles.tolerances)"
            ),
            repro=repro,
        )


def expect_error_without_output_gradient(
    backend: Any,
    fn: Callable[..., Any],
    primals: Sequence[np.ndarray],
    dtype: str,
    cotangent: np.ndarray,
    *,
    detail: str = "",
    repro: str | None = None,
) -> None:
    """NS-1's error, exactly: ``backend.vjp`` of ``fn``'s non-scalar value without an
    output gradient raises, and the raise is about the missing gradient.

    The forward alone must succeed, and so must the same call on the value summed to one
    element and on the value with ``cotangent``, so that a forward or an adapter that
    raises anyway is not taken for the documented error. :class:`Unsupported` from the
    call without a gradient fails the check: it says the engine cannot express a call
    that NS-1 requires it to refuse.
    """

    def must_succeed(stage: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Unsupported:
            raise
        except Exception as exc:  # any other error: the control itself is broken
            raise CheckFailure(
                stage, f"raised {type(exc).__name__}: {exc}", "a result", detail=detail, repro=repro
            ) from exc

    inputs = [np.asarray(p) for p in primals]
    value = must_succeed(
        "forward alone",
        lambda: backend.to_numpy(fn(*(backend.tensor(x, dtype) for x in inputs))),
    )
    must_succeed(
        "VJP of the value summed to one element, without an output gradient",
        lambda: backend.vjp(lambda *xs: backend.sum(fn(*xs)), inputs, dtype, None),
    )
    must_succeed("VJP with an output gradient", lambda: backend.vjp(fn, inputs, dtype, cotangent))
    stage = "VJP without an output gradient"
    expected = (
        f"an error from backward/vjp: the value has {np.size(value)} elements"
        " and no output gradient was given"
    )
    try:
        returned, _ = backend.vjp(fn, inputs, dtype, None)
    except Unsupported as exc:
        raise CheckFailure(
            stage,
            f"raised Unsupported: {exc}",
            expected,
            detail="Unsupported is no error: NS-1 requires the engine to refuse this call\n"
            + detail,
            repro=repro,
        ) from exc
    except Exception:  # noqa: BLE001 - the documented error: any type but Unsupported
        return
    raise CheckFailure(
        stage,
        f"returned normally (value of shape {np.shape(returned)})",
        expected,
        detail=detail,
        repro=repro,
    )
