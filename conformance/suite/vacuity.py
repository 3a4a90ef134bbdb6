"""No vacuous examples: does each drawn example contain what its property is about?

A property passes vacuously on an example that lacks its subject (NL-2 with no retained
non-leaf, a crossing below 1 that theory does not predict, ...), and a strategy can
drift until most examples do. So every property calls :func:`exercised` once per
example, saying whether this example exercises its subject. It costs a counter update
and a Hypothesis event (``pytest --hypothesis-show-statistics`` shows the shares); the
project's own tests attribute :data:`COUNTS` to the test that made them and require a
share of at least 90% per property on torch under the ``ci`` profile.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import event

COUNTS: Counter[tuple[str, bool]] = Counter()
"""Examples so far, per (subject, whether the example exercised it)."""


def exercised(subject: str, hit: bool) -> None:
    """Record that the current example does (``hit``) or does not exercise ``subject``."""
    COUNTS[subject, bool(hit)] += 1
    event(f"{'with' if hit else 'without'} {subject}")
