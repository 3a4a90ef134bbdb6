"""Claims as data: loading and validating the TOML files in ``specs/``."""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

from conformance.engine import CAPABILITIES
from conformance.errors import ConfigError

SPECS_ENV = "AUTOGRAD_CONFORMANCE_SPECS"
KINDS = ("checked", "informational")
#: The input tiers (see conformance.edges.tiers): a checked claim names those it runs.
TIERS = ("conditioned", "edge", "nonfinite", "size")
_REQUIRED = {"id": str, "section": str, "statement": str, "kind": str}


class Kind(NamedTuple):
    """A type a spec value must have: its name, for messages, and its test."""

    name: str
    ok: Callable[[Any], bool]


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _list_of(ok: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, list) and all(map(ok, value))


def _table_of(ok: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, dict) and all(map(ok, value.values()))


NUM = Kind("a number", _is_num)
INT = Kind("an integer", _is_int)
BOOL = Kind("true or false", _is_bool)
STR = Kind("a string", _is_str)
NUMS = Kind("a list of numbers", _list_of(_is_num))
INTS = Kind("a list of integers", _list_of(_is_int))
STRS = Kind("a list of strings", _list_of(_is_str))
RANGE = Kind("a [low, high] pair of numbers", lambda v: NUMS.ok(v) and len(v) == 2)
BOOLS_BY_NAME = Kind("a table of name = true/false", _table_of(_is_bool))
STRS_BY_NAME = Kind("a table of name = string", _table_of(_is_str))


def _each(kind: Kind, *keys: str) -> dict[str, Kind]:
    return dict.fromkeys(keys, kind)


_WORKED = _each(NUM, "m", "n")
Fields = dict[str, Kind]

#: Per claim id, the params and expected keys the suite's checks read, and their kinds:
#: a malformed spec is caught at load time, naming file, claim and field, instead of
#: failing as a KeyError or TypeError in the middle of a run. Extra keys are allowed.
SCHEMA: dict[str, tuple[Fields, Fields]] = {
    "DG-1": (
        {**_each(NUM, "threshold", "loop_start", "loop_limit"), "branch_points": NUMS},
        {**_each(NUM, "loop_value", "loop_grad"), "branch_grads": NUMS},
    ),
    "G-1": (_WORKED, {"leaves": STRS}),
    "G-2": (_WORKED, _each(NUM, "a", "b", "y")),
    "GR-1": (_WORKED, _each(NUM, "m_grad", "n_grad")),
    "GR-2": (_each(INT, "max_rank", "max_side"), {}),
    "OP-1": ({"shape_classes": STRS}, {}),
    "CR-1": ({"max_ops": INT}, {}),
    "NS-1": (_each(NUMS, "x", "v"), {"vjp": NUMS}),
    "GT-1": ({"shape_classes": STRS, "max_ops": INT}, {}),
    "LF-1": ({}, {"leaf": BOOLS_BY_NAME}),
    "LF-2": ({}, _each(BOOL, "untracked_leaf", "untracked_result_leaf")),
    "NL-1": (_WORKED, _each(NUM, "m_grad", "n_grad")),
    "NL-2": (_WORKED, _each(NUM, "a_grad", "b_grad")),
    "GF-1": ({}, {"grad_fn": STRS_BY_NAME, "no_grad_fn": STRS}),
    "LR-1": (
        {**_each(NUMS, "x", "y"), **_each(NUM, "w", "b", "lr")},
        _each(NUM, "loss", "grad_w", "grad_b", "w_next", "b_next"),
    ),
    "LR-2": ({**_WORKED, "passes": INT}, _each(NUM, "m_grad", "n_grad")),
    "LR-3": (_each(NUM, "w", "delta", "x"), _each(NUM, "w_after", "y_after", "grad_after")),
    "LR-4": (
        {"data_file": STR, "max_iterations": INT, **_each(NUM, "lr", "threshold")},
        {"stop_iteration": INT},
    ),
    "LR-5": (
        {
            **_each(INT, "n_points", "trajectory_iterations", "max_iterations"),
            **_each(NUM, "x_low", "x_high", "slope", "intercept", "threshold", "fixed_lr"),
            **_each(RANGE, "trajectory_fractions", "stable_fractions"),
            **_each(RANGE, "crossing_fractions", "diverging_fractions"),
            "seed10_lrs": NUMS,
            "seed10_diverging_lr": NUM,
        },
        {"seed10_stop_iterations": INTS},
    ),
    "HO-1": (_WORKED, _each(NUM, "m_grad", "n_grad", "d2y_dm2", "d2y_dn2", "d2y_dmdn")),
    "HO-2": ({"max_ops": INT}, {}),
    "NF-1": ({"ops": STRS, "example_share": NUM}, {}),
    "KP-1": ({"ops": STRS, "example_share": NUM}, {}),
    "SR-1": ({"ops": STRS, "example_share": NUM}, {}),
    "CE-1": ({"max_ops": INT, "example_share": NUM}, {}),
    "FM-1": ({"max_ops": INT}, {}),
    "LR-7": (
        {"data_file": STR},
        {"hessian": NUMS, **_each(NUM, "lambda_max", "stability_bound")},
    ),
}
# what conformance.regression.model.data_from_table requires of the seed's data (LR-4, LR-7)
_SEED_DATA = {**_each(NUMS, "x", "noise"), **_each(NUM, "slope", "intercept", "w0")}
#: Per claim id, the keys its data_file must hold.
DATA_FILES: dict[str, Fields] = {"LR-4": _SEED_DATA, "LR-7": _SEED_DATA}


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
    tiers: tuple[str, ...] = ()
    tiers_reason: str = ""

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


def _read_toml(path: Path, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{where}: not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {path} ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML ({exc})") from None


def _check_fields(table: Mapping[str, Any], fields: Fields, where: str) -> None:
    for key, kind in fields.items():
        if key not in table:
            raise ConfigError(f"{where}{key} is missing; add it ({kind.name})")
        if not kind.ok(table[key]):
            raise ConfigError(f"{where}{key} must be {kind.name}, not {table[key]!r:.60}")


def _table(raw: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(
            f"{where}: field {key!r} must be a table ([claim.{key}]), not {value!r:.60}"
        )
    return dict(value)


def _claim(raw: Any, where: str, data_dir: Path, seen: Mapping[str, Claim]) -> Claim:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: each [[claim]] must be a table")
    for key, typ in _REQUIRED.items():
        if key not in raw:
            raise ConfigError(f"{where}: claim {raw.get('id', '?')!r} is missing field {key!r}")
        if not isinstance(raw[key], typ) or not raw[key]:
            raise ConfigError(f"{where}: claim field {key!r} must be a non-empty {typ.__name__}")
    cid = raw["id"]
    if cid in seen:  # before the schema, which would judge it as the other claim
        raise ConfigError(f"{where}: claim {cid} is also defined in {seen[cid].source}")
    at = f"{where}: claim {cid}"
    if raw["kind"] not in KINDS:
        raise ConfigError(f"{at}: field 'kind' must be one of {KINDS}")
    if raw["kind"] == "informational" and not raw.get("reason"):
        raise ConfigError(f"{at}: informational claims need field 'reason'")
    for key in ("reason", "origin"):
        if not isinstance(raw.get(key, ""), str):
            raise ConfigError(f"{at}: field {key!r} must be a string")
    requires = raw.get("requires", [])
    if not isinstance(requires, list) or any(
        not isinstance(r, str) or r not in CAPABILITIES for r in requires
    ):
        raise ConfigError(
            f"{at}: field 'requires' must list capabilities among {sorted(CAPABILITIES)}"
        )
    tiers = raw.get("tiers", [])
    if not isinstance(tiers, list) or any(t not in TIERS for t in tiers):
        raise ConfigError(f"{at}: field 'tiers' must list input tiers among {list(TIERS)}")
    if raw["kind"] == "checked" and not (tiers and raw.get("tiers_reason")):
        raise ConfigError(f"{at}: a checked claim needs fields 'tiers' and 'tiers_reason'")
    fields = {*_REQUIRED, "requires", "reason", "origin", "params", "expected", "tiers"}
    unknown = set(raw) - fields - {"tiers_reason"}
    if unknown:
        raise ConfigError(f"{at}: unknown field(s) {sorted(unknown)}")
    params, expected = _table(raw, "params", at), _table(raw, "expected", at)
    param_fields, expected_fields = SCHEMA.get(cid, ({}, {}))
    _check_fields(params, param_fields, f"{at}: params.")
    _check_fields(expected, expected_fields, f"{at}: expected.")
    data_file = params.pop("data_file", None)
    if data_file is not None:
        if not isinstance(data_file, str):
            raise ConfigError(f"{at}: params.data_file must be a file name in {data_dir}")
        in_file = f"{at}: data_file {data_file!r}"
        params["data"] = _read_toml(data_dir / data_file, in_file)
        _check_fields(params["data"], DATA_FILES.get(cid, {}), f"{in_file}: ")
    return Claim(
        id=cid,
        section=raw["section"],
        statement=" ".join(raw["statement"].split()),
        kind=raw["kind"],
        requires=tuple(requires),
        reason=" ".join(raw.get("reason", "").split()),
        origin=raw.get("origin", "seed"),
        params=params,
        expected=expected,
        source=where,
        tiers=tuple(tiers),
        tiers_reason=" ".join(str(raw.get("tiers_reason", "")).split()),
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
        raw_claims = _read_toml(path, where).get("claim")
        if not isinstance(raw_claims, list) or not raw_claims:
            raise ConfigError(f"{where}: expected at least one [[claim]] table")
        for raw in raw_claims:
            claim = _claim(raw, where, directory / "data", claims)
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
