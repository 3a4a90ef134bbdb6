"""Hypothesis inside the suite's checks only: the suite's profile and storage folder hold
while a check runs and the caller's are back afterwards; an example the engine cannot run
(it raised ``Unsupported``) is rejected from the search, never taken as the outcome; and
shrinking a failure has a time budget, so that a failing engine gets its verdict fast.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import configuration, reject, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.internal.conjecture import engine
from hypothesis.reporting import current_reporter, with_reporter

from conformance import specs
from conformance.engine import Unsupported, ops
from conformance.oracles.verdicts import CheckUnsupported
from conformance.run import profiles

# the reasons of the running check's rejected examples (one check runs at a time)
_rejected: Counter[str] = Counter()
# Hypothesis's words when it stops shrinking at its time limit, and whether it did
_SLOW_SHRINKING = "stopped because it is making very slow progress"
_shrinking_stopped: list[str] = []


def reject_unsupported(item: Any) -> None:
    """Make the Hypothesis test behind ``item`` reject the examples that raise Unsupported.

    A property is then judged on the examples the engine can run: a failing one fails it,
    whatever other examples raised. Done once per test function (items share it).
    """
    handle = getattr(getattr(item, "obj", None), "hypothesis", None)
    if handle is None or getattr(handle.inner_test, "rejects_unsupported", False):
        return
    inner = handle.inner_test

    @functools.wraps(inner)
    def run_example(*args: Any, **kwargs: Any) -> Any:
        try:
            result = inner(*args, **kwargs)
        except CheckUnsupported:
            ops.settle(judged=False)
            raise  # the whole check, not this example
        except Unsupported as exc:
            ops.settle(judged=False)
            _rejected[str(exc) or "Unsupported"] += 1
            reject()
        except BaseException:
            ops.settle(judged=True)  # a failing example was judged too
            raise
        ops.settle(judged=True)
        return result

    run_example.rejects_unsupported = True  # type: ignore[attr-defined]
    handle.inner_test = run_example


def _reasons() -> str:
    total = sum(_rejected.values())
    common = "; ".join(f"{reason} ({n}x)" for reason, n in _rejected.most_common(3))
    return f"{total} example(s) rejected as unsupported: {common}"


def rejection_note() -> str:
    """What the running check's rejected examples were, if any."""
    return _reasons() if _rejected else ""


def unsupported_reason(exc: BaseException) -> str | None:
    """Why a check that raised ``exc`` is *unsupported*, or None if it is not."""
    if isinstance(exc, Unsupported):
        return str(exc) or "the adapter raised Unsupported"
    if isinstance(exc, Unsatisfiable) and _rejected:
        return "no example could run: " + _reasons()
    return None


@contextmanager
def storage(home: Path | None) -> Iterator[None]:
    """Hypothesis's files (its constants cache) under ``home`` in the block, if given."""
    if home is None:
        yield
        return
    previous = vars(configuration).get("__hypothesis_home_directory")
    configuration.set_hypothesis_home_dir(home / "hypothesis")
    try:
        yield
    finally:
        configuration.set_hypothesis_home_dir(previous)


class StorageDuringCollection:
    """Hypothesis's pytest plugin caches the collected modules' constants on disk: in a
    suite run that cache goes to the run's scratch folder, not the current folder."""

    def __init__(self, home: Path) -> None:
        self.home = home

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_collection_modifyitems(self) -> Generator[None, None, None]:
        with storage(self.home):
            return (yield)


class ShrinkBudget:
    """How long a run's failing properties may shrink their counterexamples: then the
    smallest found by then is reported (Hypothesis's own limit, five minutes, made the
    suite's option).

    The k-th failing property of a process gets ``seconds / k``: the first failures are
    shrunk fully, and an engine that fails every claim (a broken op fails dozens of checks)
    still gets its verdict fast, after about ``seconds * ln(k)`` of shrinking, not
    ``seconds * k``.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.failed = 0  # properties of this process that failed so far

    @contextmanager
    def check(self) -> Iterator[None]:
        """The running check's share of the budget."""
        _shrinking_stopped.clear()
        share = self.seconds / (1 + self.failed)
        budget = f"{share:.3g} s (the shrink budget"
        if self.failed:
            budget += (
                f", {self.seconds:g} s, shared: this is failing property {1 + self.failed}"
                " of its process"
            )
        previous_limit, previous_reporter = engine.MAX_SHRINKING_SECONDS, current_reporter()

        def reporter(value: object) -> None:
            if _SLOW_SHRINKING in str(value):
                _shrinking_stopped.append(budget + ")")  # said in the verdict instead
            else:
                previous_reporter(value)

        engine.MAX_SHRINKING_SECONDS = share  # type: ignore[assignment]
        try:
            with with_reporter(reporter):
                yield
        except BaseException as exc:
            # Hypothesis notes the example it found (and shrank) on a property's failure
            if getattr(exc, "__notes__", None):
                self.failed += 1
            raise
        finally:
            engine.MAX_SHRINKING_SECONDS = previous_limit


def shrinking_note() -> str:
    """Whether the running check's shrinking was stopped by its budget, in words."""
    if not _shrinking_stopped:
        return ""
    return (
        f"shrinking stopped after {_shrinking_stopped[0]}: the counterexample is the"
        " smallest found by then"
    )


def _weighted(item: Any) -> settings:
    """The active profile, with the examples scaled by the claim's ``example_share``: the
    edge tiers' properties stand beside deterministic grids of every special value, and
    a compiler takes seconds per example, so those claims take a share of the profile's
    examples, not a multiple of its time."""
    marker = item.get_closest_marker("claim")
    share = 1.0
    if marker is not None and marker.args and marker.args[0] in specs.all_claims():
        share = float(specs.claim(marker.args[0]).params.get("example_share", 1.0))
    base = settings.default
    assert base is not None  # a profile is loaded
    if share == 1.0:
        return base
    return settings(base, max_examples=max(1, round(share * base.max_examples)))


@contextmanager
def suite_settings(item: Any, profile: str, derandomize: bool, home: Path | None) -> Iterator[None]:
    """Run ``item`` under the suite's profile, with Hypothesis's files under ``home``."""
    _rejected.clear()
    previous_profile = settings.get_current_profile_name()
    profiles.load(profile, derandomize=derandomize)
    test = getattr(item, "obj", None)
    given = getattr(test, "hypothesis", None) is not None
    # a @given test holds the settings in force when it was decorated: give it the suite's
    saved = test._hypothesis_internal_use_settings if given else None  # type: ignore[union-attr]
    if given:
        test._hypothesis_internal_use_settings = _weighted(item)  # type: ignore[union-attr]
    try:
        with storage(home):
            yield
    finally:
        if given:
            test._hypothesis_internal_use_settings = saved  # type: ignore[union-attr]
        settings.load_profile(previous_profile)
