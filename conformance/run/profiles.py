"""Hypothesis profiles: ``dev`` (fast), ``ci`` (derandomized, the default), ``thorough``."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

from conformance.errors import ConfigError

ENV_VAR = "AUTOGRAD_CONFORMANCE_PROFILE"
DEFAULT = "ci"

# No example database: the suite writes nothing outside the report folder. No deadline:
# a slow CI machine or a slow engine is not a conformance failure (the per-check time
# limit catches hangs instead). One bug per check, fully shrunk, with its own stage and
# reproduction, rather than a group of several; no explain phase, which is slow. Examples
# an engine cannot run are rejected (conformance.run.hypothesis_scope), so many rejections are
# expected of a partial engine, not a sign of a bad strategy.
_COMMON = {
    "database": None,
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
    "report_multiple_bugs": False,
    "phases": [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
}
PROFILES = {
    "dev": {"max_examples": 10, "derandomize": False},
    "ci": {"max_examples": 50, "derandomize": True},
    "thorough": {"max_examples": 1000, "derandomize": False},
}
for _name, _values in PROFILES.items():
    _base = settings(**_COMMON, **_values)  # type: ignore[arg-type]
    settings.register_profile(f"autograd-{_name}", _base)
    settings.register_profile(f"autograd-{_name}-derandomized", _base, derandomize=True)


def choose(option: str | None) -> str:
    """The profile: the option, else ``$AUTOGRAD_CONFORMANCE_PROFILE``, else ``ci``."""
    name = option or os.environ.get(ENV_VAR) or DEFAULT
    if name not in PROFILES:
        raise ConfigError(f"unknown profile {name!r} (from ${ENV_VAR}); choose {sorted(PROFILES)}")
    return name


def load(name: str, *, derandomize: bool = False) -> None:
    """Make ``name`` the active Hypothesis profile for this process; with ``derandomize``,
    its variant that draws the same examples every run."""
    settings.load_profile(f"autograd-{name}{'-derandomized' if derandomize else ''}")
