"""``autograd-conformance``: run the suite against one backend.

Exit 0 pass, 1 fail, 2 usage or configuration error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from conformance import profiles, specs
from conformance.errors import ConfigError
from conformance.registry import ENV_VAR, known_names, load_backend
from conformance.reporting import staging_dir
from conformance.runner import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    default_workers,
    run,
    write_status_report,
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # one line, no usage block: CI logs stay readable
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(text)
    return value


_positive_seconds.__name__ = "positive finite number of seconds"  # argparse's error wording


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


_positive_int.__name__ = "positive integer"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="autograd-conformance",
        description="Check an autodiff engine against the documented autograd claims.",
        epilog="Arguments after '--' go to pytest unchanged (e.g. -- -n 2 -x).",
    )
    parser.add_argument(
        "--backend",
        default=None,
        help=f"registered name, 'module:attribute' or entry point (default ${ENV_VAR}, else torch)",
    )
    parser.add_argument("--device", default=None, help="device for the backend, e.g. cpu or cuda")
    parser.add_argument(
        "--profile",
        choices=sorted(profiles.PROFILES),
        default=None,
        help=f"Hypothesis profile (default ${profiles.ENV_VAR}, else ci)",
    )
    parser.add_argument("--claims", default=None, help="comma-separated claim ids (default all)")
    parser.add_argument(
        "--xfails", default=None, help="an expected-failure file, besides the backend's own"
    )
    parser.add_argument("--report-dir", default=None, help="write the run's reports under DIR")
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=None,
        help="seconds one check may take (default 300)",
    )
    parser.add_argument(
        "--shrink-budget",
        type=_positive_seconds,
        default=None,
        help="seconds a failing property may spend shrinking its counterexample; then the "
        "smallest found so far is reported, marked as such; the k-th failing property of a "
        "worker gets a k-th of it (default 5)",
    )
    parser.add_argument(
        "--no-isolate",
        dest="isolate",
        action="store_false",
        help="run the checks in this process: easier to debug, but an engine that crashes, "
        "exits or hangs in native code ends the run; unsafe for gating",
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help=f"worker processes of an isolated run (default {default_workers()} here: "
        "the usable CPUs, at most 4)",
    )
    parser.add_argument(
        "--engine-coverage",
        action="append",
        default=[],
        metavar="PACKAGE",
        help="measure line and branch coverage of this package of the engine (e.g. mygrad, "
        "torch.autograd) while the suite runs; HTML and XML go to the report folder",
    )
    parser.add_argument("--quiet", action="store_true", help="terse output for CI logs")
    parser.add_argument(
        "--list-backends", action="store_true", help="print the registered backends and exit"
    )
    return parser


def _package_dir(package: str) -> Path:
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


def _selected_claims(text: str | None) -> list[str] | None:
    if text is None:
        return None
    selected = [c.strip() for c in text.split(",") if c.strip()]
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


def _check_report_dir(path: str | None) -> None:
    if path:
        shutil.rmtree(staging_dir(Path(path)))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a bad option (already reported in one line)
        return int(exc.code or 0)
    if args.list_backends:
        for name, target in sorted(known_names().items()):
            print(f"{name:<12} {target}")
        return 0
    try:
        return _run(args, extra)
    except ConfigError as exc:
        print(f"autograd-conformance: error: {exc}", file=sys.stderr)
        write_status_report(args.report_dir, "usage-error", str(exc), args.backend, args.profile)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("autograd-conformance: interrupted", file=sys.stderr)
        write_status_report(args.report_dir, "interrupted", "", args.backend, args.profile)
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace, extra: list[str]) -> int:
    _check_report_dir(args.report_dir)
    selected = _selected_claims(args.claims)
    profiles.choose(args.profile)
    folders = [_package_dir(package) for package in args.engine_coverage]
    if folders and importlib.util.find_spec("pytest_cov") is None:
        raise ConfigError("--engine-coverage needs pytest-cov: pip install pytest-cov")
    if folders and not args.report_dir:
        raise ConfigError("--engine-coverage needs --report-dir for its HTML and XML reports")
    if not folders:
        # fail fast, with one line; with coverage the run loads it once coverage runs, so
        # that the engine's import-time lines count too
        load_backend(args.backend, args.device)
    result = run(
        args.backend,
        claims=selected,
        profile=args.profile,
        device=args.device,
        report_dir=args.report_dir,
        timeout=args.timeout,
        shrink_budget=args.shrink_budget,
        xfails=args.xfails,
        quiet=args.quiet,
        isolate=args.isolate,
        workers=args.workers,
        engine_coverage=folders,
        extra_args=extra,
    )
    if result.error:
        raise ConfigError(result.error)
    if result.exit_code == EXIT_INTERRUPTED:
        print(
            "autograd-conformance: interrupted; results.json says what was reached",
            file=sys.stderr,
        )
    elif result.results.status == "aborted":
        print(f"autograd-conformance: run aborted: {result.results.error}", file=sys.stderr)
    return result.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
