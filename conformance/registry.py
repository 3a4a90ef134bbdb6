"""Loading a backend lazily: by registered name, ``module:attribute``, entry point or env var."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from importlib.metadata import entry_points
from typing import Any

from conformance.backend import missing_methods
from conformance.errors import ConfigError

ENV_VAR = "AUTOGRAD_CONFORMANCE_BACKEND"
ENTRY_POINT_GROUP = "autograd_conformance.backends"
DEFAULT_BACKEND = "torch"

#: Built-in backends, name -> dotted path. Nothing is imported until one is chosen.
BUILTIN: dict[str, str] = {
    "torch": "conformance.backends.torch_backend:TorchBackend",
    "jax": "conformance.backends.jax_backend:JaxBackend",
    "autograd": "conformance.backends.autograd_backend:AutogradBackend",
    "mygrad": "conformance.backends.mygrad_backend:MyGradBackend",
}


def known_names() -> dict[str, str]:
    """Every name that can be passed to ``--backend``: built-ins, then entry points."""
    names = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        names.setdefault(ep.name, ep.value)
    return names


def resolve_name(requested: str | None) -> str:
    """The backend spec to use: the option, else the env var, else the default."""
    return requested or os.environ.get(ENV_VAR) or DEFAULT_BACKEND


def _import_target(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"backend {target!r}: expected a registered name or 'module:attribute'")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # a user's own adapter module, as `python -m` finds it
    try:
        module = importlib.import_module(module_name)
    except ConfigError:
        raise
    except ImportError as exc:
        raise ConfigError(
            f"backend {target!r}: cannot import {module_name!r} ({exc}); install it or fix the path"
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
        kwargs = {} if device is None else {"device": device}
        try:
            obj = obj(**kwargs)
        except ConfigError:
            raise
        except TypeError as exc:
            if device is not None:
                raise ConfigError(f"backend {spec!r} takes no --device option ({exc})") from None
            raise ConfigError(f"backend {spec!r}: cannot construct it ({exc})") from None
    elif device is not None:
        raise ConfigError(f"backend {spec!r} is an instance and takes no --device option")
    missing = missing_methods(obj)
    if missing:
        raise ConfigError(
            f"backend {spec!r} lacks required method(s): {', '.join(missing)};"
            " see conformance.Backend for the contract"
        )
    with contextlib.suppress(AttributeError):
        obj.conformance_ref = spec  # how reproduction snippets load this backend again
    return obj
