"""Claims as data: loading and validating the TOML files in ``specs/``."""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from conformance.backend import CAPABILITIES
from conformance.errors import ConfigError

SPECS_ENV = "AUTOGRAD_CONFORMANCE_SPECS"
KINDS = ("checked", "informational")
_REQUIRED = {"id": str, "section": str, "statement": str, "kind": str}


@dataclass(frozen=True)
class Claim:
    id: str
    section: str
    statement: str
    kind: str
    requires: tuple[str, ...] = ()
    reason: str = ""
    origin: str = "seed"
    params: Mapping[str, Any] = field(default_factory=dict)
    expected: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def informational(self) -> bool:
        return self.kind == "informational"


def default_dir() -> Path:
    """``$AUTOGRAD_CONFORMANCE_SPECS``, else the specs shipped with the package."""
    env = os.environ.get(SPECS_ENV)
    if env:
        return Path(env)
    try:
        return Path(str(resources.files("conformance.spec_data")))
    except ModuleNotFoundError:  # a source checkout on sys.path, not installed
        return Path(__file__).resolve().parent.parent / "specs"


def _claim(raw: Any, where: str, data_dir: Path) -> Claim:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: each [[claim]] must be a table")
    for key, typ in _REQUIRED.items():
        if key not in raw:
            raise ConfigError(f"{where}: claim {raw.get('id', '?')!r} is missing field {key!r}")
        if not isinstance(raw[key], typ) or not raw[key]:
            raise ConfigError(f"{where}: claim field {key!r} must be a non-empty {typ.__name__}")
    cid = raw["id"]
    if raw["kind"] not in KINDS:
        raise ConfigError(f"{where}: claim {cid}: field 'kind' must be one of {KINDS}")
    if raw["kind"] == "informational" and not raw.get("reason"):
        raise ConfigError(f"{where}: claim {cid}: informational claims need field 'reason'")
    requires = raw.get("requires", [])
    if not isinstance(requires, list) or any(r not in CAPABILITIES for r in requires):
        raise ConfigError(
            f"{where}: claim {cid}: field 'requires' must list capabilities among "
            f"{sorted(CAPABILITIES)}"
        )
    params = dict(raw.get("params", {}))
    data_file = params.pop("data_file", None)
    if data_file is not None:
        path = data_dir / data_file
        try:
            params["data"] = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{where}: claim {cid}: data_file {data_file!r}: {exc}") from None
    unknown = set(raw) - {*_REQUIRED, "requires", "reason", "origin", "params", "expected"}
    if unknown:
        raise ConfigError(f"{where}: claim {cid}: unknown field(s) {sorted(unknown)}")
    return Claim(
        id=cid,
        section=raw["section"],
        statement=" ".join(raw["statement"].split()),
        kind=raw["kind"],
        requires=tuple(requires),
        reason=" ".join(raw.get("reason", "").split()),
        origin=raw.get("origin", "seed"),
        params=params,
        expected=dict(raw.get("expected", {})),
        source=where,
    )


def load(directory: Path | None = None) -> dict[str, Claim]:
    """Every claim in ``directory`` (default :func:`default_dir`), by id, in file order.

    Raises :class:`ConfigError` naming the file and field on any malformed spec.
    """
    directory = default_dir() if directory is None else Path(directory)
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise ConfigError(f"no spec files (*.toml) in {directory}")
    claims: dict[str, Claim] = {}
    for path in files:
        where = path.name
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{where}: not valid TOML ({exc})") from None
        raw_claims = doc.get("claim")
        if not isinstance(raw_claims, list) or not raw_claims:
            raise ConfigError(f"{where}: expected at least one [[claim]] table")
        for raw in raw_claims:
            claim = _claim(raw, where, directory / "data")
            if claim.id in claims:
                raise ConfigError(
                    f"{where}: claim {claim.id} is also defined in {claims[claim.id].source}"
                )
            claims[claim.id] = claim
    return claims


@functools.cache
def _cached(directory: str) -> dict[str, Claim]:
    return load(Path(directory))


def all_claims() -> dict[str, Claim]:
    """The claims of the default spec directory, loaded once per process."""
    return _cached(str(default_dir()))


def claim(claim_id: str) -> Claim:
    """One claim of the default spec directory."""
    return all_claims()[claim_id]
