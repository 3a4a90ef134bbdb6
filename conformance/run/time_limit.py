"""The per-check time limit inside the process running the check (an interval timer).

It stops a check stuck in Python code with a clean failure. A hang inside native code
never returns to the interpreter to see the alarm: the isolation watchdog
(:mod:`conformance.run.isolation`) kills that worker instead.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class CheckTimeout(BaseException):
    """A check ran past its time limit. A BaseException, so that Hypothesis does not
    catch it and retry (shrink) a hanging backend over and over."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`CheckTimeout` in the block once it has run ``seconds``."""
    if not hasattr(signal, "setitimer"):
        yield
        return
    message = f"the check ran past its time limit of {seconds:g} s"
    fired = False

    def expire(signum: int, frame: Any) -> None:
        nonlocal fired
        fired = True
        raise CheckTimeout(message)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except BaseException:
        # the alarm may land anywhere (inside Hypothesis, even inside compile()), and what
        # surfaces is then some other error: report the time limit, which is the cause
        if fired:
            raise CheckTimeout(message) from None
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
