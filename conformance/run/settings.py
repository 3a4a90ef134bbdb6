"""One run's settings: built once (from the command line, env vars and defaults, or from
:func:`conformance.run.runner.run`'s keywords), validated there, then read by every later
stage: the pytest arguments, the status report, the runner.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from conformance import specs
from conformance.errors import ConfigError
from conformance.report.results import staging_dir

MAX_WORKERS = 4  # each worker imports the engine: more cost memory for little gain


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0))


def default_workers() -> int:
    """Worker processes for an isolated run: the CPUs this process may use, at most 4."""
    return max(1, min(usable_cpus(), MAX_WORKERS))


def worker_ceiling() -> int:
    """The most workers a run may ask for: twice the usable CPUs (more only queue for
    them, each holding an engine in memory)."""
    return 2 * usable_cpus()


@dataclass(frozen=True)
class Settings:
    """What one run does; None means the default (the plugin's, or an env var's)."""

    backend: str | None = None
    device: str | None = None
    profile: str | None = None
    claims: tuple[str, ...] | None = None
    xfails: str | None = None
    report_dir: Path | None = None
    timeout: float | None = None
    shrink_budget: float | None = None
    quiet: bool = False
    isolate: bool = False
    workers: int | None = None
    engine_coverage: tuple[Path, ...] = ()  # package folders of the engine to measure
    extra_args: tuple[str, ...] = ()  # pytest's own options, passed unchanged

    @property
    def worker_count(self) -> int:
        return self.workers or default_workers()

    def to_json(self) -> str:
        """The settings as JSON, for the run's child processes (see :func:`from_json`)."""
        doc = asdict(self)
        doc["report_dir"] = os.fspath(self.report_dir) if self.report_dir else None
        doc["engine_coverage"] = [os.fspath(p) for p in self.engine_coverage]
        return json.dumps(doc)


def from_json(text: str) -> Settings:
    """The settings :meth:`Settings.to_json` wrote."""
    doc = json.loads(text)
    return make(**{f.name: doc[f.name] for f in fields(Settings)})


def make(backend: str | None = None, **options: Any) -> Settings:
    """Settings from keywords named as :class:`Settings`' fields; sequences and paths may
    come as lists and strings."""
    for key in ("claims", "extra_args", "engine_coverage"):
        if options.get(key) is not None:
            options[key] = tuple(options[key])
    if options.get("engine_coverage"):
        options["engine_coverage"] = tuple(Path(p) for p in options["engine_coverage"])
    for key in ("report_dir", "xfails"):
        if options.get(key):
            options[key] = Path(options[key]) if key == "report_dir" else os.fspath(options[key])
    return Settings(backend=backend, **options)


def selected_claims(text: str | None) -> tuple[str, ...] | None:
    """The claim ids of a ``--claims`` value; :class:`ConfigError` for an unknown one or a
    selection with no check in it."""
    if text is None:
        return None
    selected = tuple(c.strip() for c in text.split(",") if c.strip())
    if not selected:
        raise ConfigError("--claims: give at least one claim id, e.g. --claims GR-1,CR-1")
    claims = specs.all_claims()
    unknown = [c for c in selected if c not in claims]
    if unknown:
        raise ConfigError(f"--claims: unknown claim id(s) {', '.join(unknown)}")
    if all(claims[c].informational for c in selected):
        raise ConfigError(
            f"--claims {','.join(selected)}: no check was selected (informational claims "
            "have no checks; their specs say why)"
        )
    return selected


def package_dir(package: str) -> Path:
    """The folder of ``package``, found without importing it: coverage must start first
    (and coverage given a dotted name of a torch subpackage breaks torch's import)."""
    top, *rest = package.split(".")
    spec = importlib.util.find_spec(top)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ConfigError(f"--engine-coverage {package}: no installed package {top!r}")
    folder = Path(locations[0]).joinpath(*rest)
    if not folder.is_dir():
        raise ConfigError(f"--engine-coverage {package}: {folder} is not a package folder")
    return folder


def check(settings: Settings) -> None:
    """:class:`ConfigError` for settings no run can honour: an unwritable report folder,
    engine coverage without pytest-cov or without a report folder."""
    if settings.workers is not None and settings.workers > worker_ceiling():
        raise ConfigError(
            f"--workers {settings.workers}: at most {worker_ceiling()} here (twice the usable "
            "CPUs; each worker holds the engine in memory)"
        )
    if settings.report_dir:
        shutil.rmtree(staging_dir(settings.report_dir))
    if settings.engine_coverage and importlib.util.find_spec("pytest_cov") is None:
        raise ConfigError("--engine-coverage needs pytest-cov: pip install pytest-cov")
    if settings.engine_coverage and not settings.report_dir:
        raise ConfigError("--engine-coverage needs --report-dir for its HTML and XML reports")
