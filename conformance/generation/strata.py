"""Every op in every property: a check's first examples go through all its ops in turn.

Drawn at random, a check's ~50 expressions of a few ops each reached some of an engine's
~30 ops rarely or never, so a bug in such an op passed the claims that should catch it
(only OP-1's table showed it). So each op of an expression is chosen by a drawn ticket:
a ticket below the number of ops names the op at that index (as ``sampled_from`` would,
and where shrinking goes); a larger one, the first time the running check draws it,
*designates* the next op, in protocol order after the last one designated, that the
check has not yet put to the test in :data:`K` judged examples with it designated
(:func:`conformance.engine.ops.times_designated`). A designated op is built in where its
bugs show (``strategies._place``: a matrix, a non-uniform output gradient). Once every
op has had its turn, a large ticket names ``ops[ticket % len(ops)]``: the rest of the
examples are free.

A ticket keeps its op for the whole check, so an example stays a function of its draws:
Hypothesis replays it exactly and shrinks it as any other (each op with its own draws, so
a counterexample keeps only the ops its failure needs). Under the ``ci`` profile the
draws, designations included, are the same every run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from hypothesis import strategies as st

from conformance.engine.ops import ALL_OPS, check_number, designate, times_designated

# Each op a check draws from is designated in at least K of its judged examples (a check
# is one claim's test in one dtype), where the check has the examples: the ci profile's
# 50 do (tests/test_op_strata.py: CR-1 on torch's 31 ops, each dtype); CE-1's 3 compiled
# ones do not. Those 50 draw about 50 new tickets (Hypothesis mutates each new example a
# few times, keeping its tickets): every op once, with room for ops that misfit, but not
# every op twice. So K is 1, and the rest of the examples are free.
K = 1
# an op designated this often without being put to the test K times is one the engine
# cannot run here (Unsupported), the values cannot take or the check does not judge: the
# check's examples go on without designating it
_TRIES = 3 * K
TICKETS = st.integers(0, 2**32 - 1)


class _Rota:
    """The running check's designations: each ticket's op, and how often each op had one."""

    def __init__(self, check: int) -> None:
        self.check = check
        self.by_ticket: dict[tuple[tuple[str, ...], int], tuple[str, bool]] = {}
        self.tries: Counter[str] = Counter()
        self.last: str | None = None

    def due(self, ops: Sequence[str]) -> str | None:
        """The next op to designate, if any is due."""
        start = ops.index(self.last) + 1 if self.last in ops else 0
        # the protocol's ops only: a detach among them is no op of the engine's to cover
        for op in (o for o in (*ops[start:], *ops[:start]) if o in ALL_OPS):
            if times_designated(op) < K and self.tries[op] < _TRIES:
                self.tries[op] += 1
                self.last = op
                return op
        return None


_rota = _Rota(check_number())


def op_for(ticket: int, ops: Sequence[str]) -> tuple[str, bool]:
    """The op among ``ops`` that ``ticket`` (drawn from :data:`TICKETS`) names, and
    whether it is designated."""
    global _rota
    if ticket < len(ops):
        return ops[ticket], False
    if _rota.check != check_number():
        _rota = _Rota(check_number())
    key = (tuple(ops), ticket)
    if key not in _rota.by_ticket:
        op = _rota.due(ops)
        _rota.by_ticket[key] = (ops[ticket % len(ops)], False) if op is None else (op, True)
    return _rota.by_ticket[key]


def placed(op: str) -> None:
    """Record that the running example holds the designated ``op``: it counts towards
    :data:`K` once the example is judged with ``op`` put to the test."""
    designate([op])
