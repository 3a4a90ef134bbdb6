"""One pytest run's state: its options, the backend (loaded once, lazily), its scratch
folder and watchdog breadcrumb, and the verdicts so far. The plugin keeps it in the
config's stash."""

from __future__ import annotations

import gc
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from conformance import specs
from conformance.engine.registry import load_backend
from conformance.errors import ConfigError
from conformance.report import results as reporting
from conformance.run import card as engine_card
from conformance.run import hypothesis_scope, isolation, profiles, tamper
from conformance.run.card import EngineCard


class RunState:
    """What one run knows: options, the backend (loaded once), the verdicts so far."""

    def __init__(self, config: pytest.Config) -> None:
        opt = config.getoption
        self.config = config
        self.backend_name: str | None = opt("autograd_backend")
        self.device: str | None = opt("autograd_device")
        self.report_dir: Path | None = (
            Path(opt("autograd_report_dir")) if opt("autograd_report_dir") else None
        )
        claims = opt("autograd_claims")
        self.selected = [c.strip() for c in claims.split(",") if c.strip()] if claims else None
        staging = opt("autograd_report_staging")
        self.staging: Path | None = Path(staging) if staging else None
        self.xfail_file: str | None = opt("autograd_xfails")

        self.timeout: float = opt("autograd_timeout")
        self.shrink_budget: float = opt("autograd_shrink_budget")
        self.shrinking = hypothesis_scope.ShrinkBudget(self.shrink_budget)
        self.profile_option: str | None = opt("autograd_profile")
        self.profile = profiles.DEFAULT
        self.quiet: bool = opt("autograd_quiet")
        self.worker_id: str | None = getattr(config, "workerinput", {}).get("workerid")
        card = opt("autograd_engine_card")
        # a supervised run's controller: the engine as the probe described it, never
        # loaded (its workers, given the same options, load it)
        self.card: EngineCard | None = (
            engine_card.read(Path(card)) if card and self.worker_id is None else None
        )
        self.active = False
        self.scratch: Path | None = None
        self.crumb: isolation.Breadcrumb | None = None
        self.usage_error = ""
        self.expected: set[str] = set()  # the checks the workers collected
        self.last_death = ""  # what happened to the last worker that died
        self.user_interrupted = False  # Ctrl-C, as opposed to engine code raising it
        self.snapshot: tamper.Snapshot | None = None
        self._backend: Any = None
        self.results = reporting.Results()

    def activate(self) -> None:
        """Start acting: validate the options, load the backend, set up the run's
        folders. Raises ``pytest.UsageError`` (one line) on a configuration error."""
        if self.active:
            return
        try:
            self.profile = profiles.choose(self.profile_option)
            claims = specs.all_claims()
            for name, value in (("timeout", self.timeout), ("shrink-budget", self.shrink_budget)):
                if not (math.isfinite(value) and value > 0):
                    raise ConfigError(
                        f"--autograd-{name} must be a positive finite number of seconds"
                    )
            unknown = [c for c in self.selected or () if c not in claims]
            if unknown:
                raise ConfigError(f"--autograd-claims: unknown claim id(s) {', '.join(unknown)}")
            if self.report_dir is not None and self.worker_id is None and self.staging is None:
                self.staging = reporting.staging_dir(self.report_dir)
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
        workerinput = getattr(self.config, "workerinput", {})
        if "autograd_scratch" in workerinput:
            self.scratch = Path(workerinput["autograd_scratch"])
            self.crumb = isolation.Breadcrumb(self.scratch / f"{self.worker_id}.crumb")
        else:
            self.scratch = Path(tempfile.mkdtemp(prefix="autograd-conformance-"))
        self.active = True
        if self.card is None and not self.config.option.collectonly:
            # this process will judge engine code: note the judges before it loads
            self.snapshot = tamper.Snapshot()
        self.config.pluginmanager.register(hypothesis_scope.StorageDuringCollection(self.scratch))
        self.backend  # noqa: B018 - fail fast on a bad backend, before collection

    def pytest_sessionstart(self) -> None:
        if self.crumb is not None and self.scratch is not None:
            isolation.catch_faults(self.scratch, str(self.worker_id))

    def pytest_collection_finish(self) -> None:
        if self.crumb is not None:
            # A worker of an isolated run: what it imported (the engine, the suite) lives
            # as long as it does. Out of the collector's scans, each full collection, and
            # the one at exit that the run waits for, takes a fraction of a second less.
            gc.freeze()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if any(key == "claim" for key, _ in report.user_properties):
            self.results.add(report)

    @property
    def backend(self) -> Any:
        if self.card is not None:
            return self.card
        if self._backend is None:
            try:
                self._backend = load_backend(self.backend_name, self.device)
            except ConfigError as exc:
                raise pytest.UsageError(str(exc)) from None
            if self.crumb is not None:
                isolation.track(self._backend, self.crumb)
        return self._backend

    def close(self) -> None:
        if self.worker_id is not None:
            return  # the controller owns the report and the scratch folder
        if self.staging is not None and self.report_dir is not None:
            reporting.publish(self.staging, self.report_dir)
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
