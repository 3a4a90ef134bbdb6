"""Expected-failure files: known deviations of a backend, each with its reason.

Format (TOML), one table per entry::

    [[expected_failure]]
    claim = "NS-1"                     # required: the claim id
    test = "vector_output"             # optional: a substring of the test's name
    dtype = "float32"                  # optional: only this dtype
    reason = "why the engine deviates" # required
    ops = ["relu"]                     # optional: the ops the deviation is in
    versions = { torch = ">=2.11" }    # optional: the engine releases it is seen in
    others_pass = ["jax"]              # optional: other engines the reason says get it right

``versions`` names packages as the backend's ``versions()`` does, each with a PEP 440
range (see :mod:`conformance.engine.versions`): the entry applies only where every named
package's release is in its range, and is left out elsewhere. Keep the range open at the
top while the deviation is unfixed.

``others_pass`` names, as registered backends, the other engines that the reason says do
not deviate ("jax gives the finite value"): each, where installed, must pass the entry's
test on its ops (tests/test_xfail_claims.py), and a reason naming another engine must
list it here.

An entry matching no test is an error (the file would rot silently), and an expected
failure that passes fails the run (strict), so fixed deviations get noticed. Hypothesis
checks under an entry run derandomized, so a property failing on some inputs only
cannot pass at random.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.engine.versions import in_range, specifier
from conformance.errors import ConfigError


@dataclass(frozen=True)
class ExpectedFailure:
    claim: str
    reason: str
    test: str | None = None
    dtype: str | None = None
    source: str = ""
    ops: tuple[str, ...] = ()
    versions: tuple[tuple[str, str], ...] = ()  # (package, range)
    others_pass: tuple[str, ...] = ()

    def uncovered(self, error: BaseException) -> str:
        """Why this entry does not excuse ``error`` ('' when it does). An entry naming
        ``ops`` excuses a failure only in those ops: not one that names another op as
        failing too, nor one that names no op (the suite's checks that judge ops say
        which failed, as ``error.ops``)."""
        if not self.ops:
            return ""
        failing: frozenset[str] = getattr(error, "ops", frozenset())
        if not failing:
            return "the failure names no op"
        others = sorted(failing - set(self.ops))
        return f"the check also failed on {', '.join(others)}" if others else ""

    def applies_to(self, installed: dict[str, str]) -> bool:
        """Whether the engine releases ``installed`` (package -> version) are in range."""
        for package, spec in self.versions:
            if package not in installed:
                raise ConfigError(
                    f"expected-failure entry {self.source}: names package {package!r}, which "
                    f"the backend's versions() does not report ({', '.join(installed) or '-'})"
                )
            if not in_range(installed[package], spec, f"expected-failure entry {self.source}"):
                return False
        return True

    def matches(self, claim: str, test_name: str, dtype: str) -> bool:
        return (
            claim == self.claim
            and (self.test is None or self.test in test_name)
            and (self.dtype is None or self.dtype == dtype)
        )


def load(path: Path) -> list[ExpectedFailure]:
    """The entries of one file; :class:`ConfigError` naming the file and entry if malformed."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"expected-failure file {path}: {exc}") from None
    entries = []
    for i, raw in enumerate(doc.get("expected_failure", []), start=1):
        where = f"expected-failure file {path.name}, entry {i}"
        if not isinstance(raw, dict) or not raw.get("claim") or not raw.get("reason"):
            raise ConfigError(f"{where}: needs fields 'claim' and 'reason'")
        unknown = set(raw) - {"claim", "reason", "test", "dtype", "ops", "versions", "others_pass"}
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)}")
        raw["reason"] = " ".join(str(raw["reason"]).split())  # one line in every report
        for key, what in (("ops", "op names"), ("others_pass", "backend names")):
            if not isinstance(raw.get(key, []), list):
                raise ConfigError(f"{where}: field {key!r} must be a list of {what}")
            raw[key] = tuple(raw.get(key, ()))
        versions = raw.get("versions", {})
        if not isinstance(versions, dict) or not all(isinstance(v, str) for v in versions.values()):
            raise ConfigError(f"{where}: field 'versions' must be a table of package = range")
        for spec in versions.values():
            specifier(spec, where)
        raw["versions"] = tuple(versions.items())
        entries.append(ExpectedFailure(source=f"{path.name}#{i}", **raw))
    return entries


def for_backend(backend: Any, extra: str | None = None) -> list[ExpectedFailure]:
    """The entries of the backend's own file (its ``expected_failures`` attribute), plus
    ``extra``, that apply to the engine releases its ``versions()`` reports."""
    paths = [p for p in (getattr(backend, "expected_failures", None), extra) if p]
    entries = [entry for p in paths for entry in load(Path(p))]
    if not any(entry.versions for entry in entries):
        return entries
    installed = {str(k): str(v) for k, v in backend.versions().items()}
    return [entry for entry in entries if entry.applies_to(installed)]


# (claim, dtype) -> the ops named by the entries of this run: an entry's test (a
# deterministic one) carries the known deviation, and the claim's random properties
# leave those ops out, so that they judge the engine's other ops and never fail or
# pass by chance on the known one
_known_ops: dict[tuple[str, str], set[str]] = {}


def note_known_ops(entries: list[ExpectedFailure], dtypes: tuple[str, ...]) -> None:
    _known_ops.clear()
    for entry in entries:
        for dtype in dtypes:
            if entry.ops and entry.dtype in (None, dtype):
                _known_ops.setdefault((entry.claim, dtype), set()).update(entry.ops)


def known_ops(claim: str, dtype: str) -> set[str]:
    """The ops with a known deviation under ``claim`` in ``dtype``, for this run."""
    return _known_ops.get((claim, dtype), set())
