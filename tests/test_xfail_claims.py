"""What expected-failure reasons say of other engines ("torch and jax give the finite
value") is checked: each engine a reason names is listed in its entry's ``others_pass``,
and each one listed, where installed, passes the entry's check on the entry's ops."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance.edges.tiers import extreme_grid, kink_grid, nonfinite_grid
from conformance.engine import xfails
from conformance.engine.registry import BUILTIN, load_backend
from conformance.suite.test_edges import check_extreme, check_kink, check_nonfinite

BACKENDS = Path(__file__).parents[1] / "conformance" / "backends"
ENTRIES = [
    (path.name.removesuffix("_xfails.toml"), entry)
    for path in sorted(BACKENDS.glob("*_xfails.toml"))
    for entry in xfails.load(path)
]

# how reasons name each registered engine; HIPS autograd by that name or by its API, so
# that torch.autograd is not taken for it
NAMES = {
    "torch": r"\btorch\b",
    "jax": r"\bjax\b",
    "autograd": r"\bHIPS autograd\b|(?<![.\w])autograd\.",
    "mygrad": r"\bmygrad\b",
    "tinygrad": r"\btinygrad\b",
    "paddle": r"\bpaddle\b",
    "tensorflow": r"\btensorflow\b|\btf\.",
}

# the checks an entry with others_pass may name: its test's grid, judged op by op
CHECKS = {
    "test_every_extreme_value_of_each_op_gives_the_true_value_and_gradient": (
        extreme_grid,
        check_extreme,
    ),
    "test_nan_and_infinities_in_each_op_propagate_as_ieee_says": (nonfinite_grid, check_nonfinite),
    "test_each_kink_and_tie_gives_a_finite_subgradient": (kink_grid, check_kink),
}

CLAIMED = [
    pytest.param(entry, other, id=f"{entry.source}-{other}")
    for _, entry in ENTRIES
    for other in entry.others_pass
]


def test_every_engine_a_reason_names_is_listed_in_its_others_pass():
    """A reason that speaks of another engine lists it in others_pass, and only those."""
    assert set(NAMES) == set(BUILTIN), "a registered engine without a name pattern"
    for own, entry in ENTRIES:
        named = {
            engine
            for engine, pattern in NAMES.items()
            if engine != own and re.search(pattern, entry.reason, re.IGNORECASE)
        }
        assert named == set(entry.others_pass), (entry.source, entry.reason)


def test_each_entry_with_others_pass_names_a_check_those_engines_can_run():
    """others_pass names registered engines other than the file's own, under an entry
    whose test is an op-by-op grid and which names its ops."""
    for own, entry in ENTRIES:
        if entry.others_pass:
            assert set(entry.others_pass) <= set(BUILTIN) - {own}, entry.source
            assert entry.test in CHECKS and entry.ops, entry.source


@pytest.mark.parametrize(("entry", "other"), CLAIMED)
def test_each_engine_a_reason_says_gets_it_right_passes_that_check(entry, other):
    """The engine passes the entry's check on the entry's ops, in the entry's dtypes."""
    pytest.importorskip(other, reason=f"{other} is not installed")
    backend = load_backend(other)
    grid, check = CHECKS[str(entry.test)]
    for dtype in [entry.dtype] if entry.dtype else backend.dtypes:
        for op in entry.ops:
            for edge in grid(op, dtype):
                check(backend, edge)
