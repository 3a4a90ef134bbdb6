"""Loading a backend lazily: by registered name, ``module:attribute``, entry point or env var."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Collection, Mapping
from importlib import metadata
from importlib.metadata import entry_points
from typing import Any

from conformance.engine.capabilities import CAPABILITIES, COMPILED_PROGRAMS
from conformance.engine.protocol import missing_methods
from conformance.errors import ConfigError

ENV_VAR = "AUTOGRAD_CONFORMANCE_BACKEND"
ENTRY_POINT_GROUP = "autograd_conformance.backends"
# set by the supervisor for its children: the folder the command was run from
CALLER_DIR_VAR = "AUTOGRAD_CONFORMANCE_CALLER_DIR"
DEFAULT_BACKEND = "torch"
DTYPES = ("float32", "float64")

#: Built-in backends, name -> dotted path. Nothing is imported until one is chosen.
BUILTIN: dict[str, str] = {
    "torch": "conformance.backends.torch_backend:TorchBackend",
    "jax": "conformance.backends.jax_backend:JaxBackend",
    "autograd": "conformance.backends.autograd_backend:AutogradBackend",
    "mygrad": "conformance.backends.mygrad_backend:MyGradBackend",
    "tinygrad": "conformance.backends.tinygrad_backend:TinygradBackend",
    "paddle": "conformance.backends.paddle_backend:PaddleBackend",
    "tensorflow": "conformance.backends.tensorflow_backend:TensorFlowBackend",
}
#: The distributions each built-in backend's engine comes in, for ``--version``.
ENGINE_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "jax": ("jax", "jaxlib"),
    "autograd": ("autograd",),
    "mygrad": ("mygrad",),
    "tinygrad": ("tinygrad",),
    "paddle": ("paddlepaddle",),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
}


def installed_versions() -> dict[str, str | None]:
    """The suite's own version and those of its dependencies and of every built-in
    engine's distributions (None: not installed), read from package metadata without
    importing any engine."""
    names = ["autograd-conformance", "numpy", "hypothesis", "pytest", "pytest-xdist", "mpmath"]
    names += [d for dists in ENGINE_DISTRIBUTIONS.values() for d in dists]
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def known_names() -> dict[str, str]:
    """Every name that can be passed to ``--backend``: built-ins, then entry points."""
    names = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        names.setdefault(ep.name, ep.value)
    return names


def resolve_name(requested: str | None) -> str:
    """The backend spec to use: the option, else the env var, else the default."""
    return requested or os.environ.get(ENV_VAR) or DEFAULT_BACKEND


def _describe(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _import_target(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"backend {target!r}: expected a registered name or 'module:attribute'")
    # a user's own adapter module, as `python -m` finds it: in the folder the command was
    # run from (a supervised run's processes work in a scratch folder of their own)
    home = os.environ.get(CALLER_DIR_VAR) or os.getcwd()
    if home not in sys.path:
        sys.path.append(home)
    try:
        module = importlib.import_module(module_name)
    except ConfigError:
        raise
    except ImportError as exc:
        raise ConfigError(
            f"backend {target!r}: cannot import {module_name!r} ({exc}); install it or fix the path"
        ) from None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the adapter's own module is broken: say where
        raise ConfigError(
            f"backend {target!r}: importing module {module_name!r} raised {_describe(exc)};"
            " fix that module"
        ) from None
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(
                f"backend {target!r}: module {module_name!r} has no attribute {attr!r}"
            ) from None
    return obj


def _construct(factory: Any, spec: str, device: str | None) -> Any:
    kwargs = {} if device is None else {"device": device}
    try:
        return factory(**kwargs)
    except (ConfigError, KeyboardInterrupt):
        raise
    except BaseException as exc:  # SystemExit, a test runner's skip: the adapter is broken
        if isinstance(exc, TypeError) and device is not None:
            raise ConfigError(
                f"backend {spec!r} takes no --device option ({_describe(exc)})"
            ) from None
        raise ConfigError(
            f"backend {spec!r}: constructing it raised {_describe(exc)}; fix the adapter"
        ) from None


def _short(value: Any) -> str:
    return " ".join(repr(value).split())[:120]  # one line, whatever the value


def _names_among(value: Any, allowed: Collection[str]) -> bool:
    """Whether ``value`` is a collection (not a string) of names, each in ``allowed``."""
    return (
        isinstance(value, Collection)
        and not isinstance(value, str)
        and all(isinstance(v, str) and v in allowed for v in value)
    )


def _require(ok: bool, spec: str, attr: str, value: Any, want: str) -> None:
    if not ok:
        raise ConfigError(
            f"backend {spec!r}: attribute {attr!r} is {_short(value)}; set it to {want}"
        )


def _check_versions(backend: Any, spec: str) -> None:
    """Reports call versions() at the end of a run: a bad one must fail now, not then."""
    want = "return a dict of package name to version string"
    try:
        versions = backend.versions()
    except Exception as exc:
        raise ConfigError(f"backend {spec!r}: versions() raised {_describe(exc)}; {want}") from None
    if not isinstance(versions, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in versions.items()
    ):
        raise ConfigError(f"backend {spec!r}: versions() returned {_short(versions)}; {want}")


def load_backend(requested: str | None = None, device: str | None = None) -> Any:
    """Build the backend named by ``requested`` (see :func:`resolve_name`) and validate it.

    Raises :class:`ConfigError` with a one-line message on any problem.
    """
    spec = resolve_name(requested)
    names = known_names()
    if ":" in spec:
        target = spec
    elif spec in names:
        target = names[spec]
    else:
        raise ConfigError(
            f"unknown backend {spec!r}; known: {', '.join(sorted(names))},"
            " or give 'module:attribute'"
        )
    obj = _import_target(target)
    if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "vjp")):
        obj = _construct(obj, spec, device)
    elif device is not None:
        raise ConfigError(f"backend {spec!r} is an instance and takes no --device option")
    caps: Any = getattr(obj, "capabilities", frozenset())
    # before missing_methods, which looks each declared capability up
    _require(
        _names_among(caps, CAPABILITIES),
        spec,
        "capabilities",
        caps,
        f"a frozenset of names among {', '.join(CAPABILITIES)}",
    )
    programs: Any = getattr(obj, "compiled_programs", ())
    _require(
        _names_among(programs, COMPILED_PROGRAMS),
        spec,
        "compiled_programs",
        programs,
        f"a tuple of names among {', '.join(COMPILED_PROGRAMS)}",
    )
    missing = missing_methods(obj)
    if missing:
        raise ConfigError(
            f"backend {spec!r} lacks required method(s): {', '.join(missing)};"
            " see conformance.Backend for the contract"
        )
    # test ids, dtype parametrization and reports read these once the run has started
    name, dtypes = getattr(obj, "name", None), getattr(obj, "dtypes", None)
    _require(isinstance(name, str) and bool(name.strip()), spec, "name", name, "a non-empty string")
    _require(
        _names_among(dtypes, DTYPES) and bool(dtypes),
        spec,
        "dtypes",
        dtypes,
        f"a non-empty tuple of dtypes among {', '.join(DTYPES)}",
    )
    if callable(getattr(obj, "versions", None)):  # optional: reports then list no versions
        _check_versions(obj, spec)
    with contextlib.suppress(AttributeError):
        obj.conformance_ref = spec  # how reproduction snippets load this backend again
    return obj
