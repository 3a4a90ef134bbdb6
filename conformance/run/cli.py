"""``autograd-conformance``: run the suite against one backend.

Exit 0 pass, 1 fail (or the run was aborted), 2 usage or configuration error (the engine
could not even be loaded included), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from conformance.engine.registry import ENV_VAR, installed_versions, known_names
from conformance.errors import ConfigError
from conformance.run import profiles
from conformance.run.outcome import write_status_report
from conformance.run.runner import EXIT_INTERRUPTED, EXIT_USAGE, run_settings
from conformance.run.settings import (
    Settings,
    check,
    default_workers,
    package_dir,
    selected_claims,
)


class _Parser(argparse.ArgumentParser):
    last_error = ""

    def error(self, message: str) -> NoReturn:
        self.last_error = message
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
    parser.add_argument(
        "--version",
        action="store_true",
        help="print the suite's version and the installed engines' and exit",
    )
    return parser


def version_text() -> str:
    """``autograd-conformance X`` and one line per dependency and built-in engine."""
    found = installed_versions()
    lines = [f"autograd-conformance {found.pop('autograd-conformance') or '(not installed)'}"]
    lines += [f"  {name:<12} {version or 'not installed'}" for name, version in found.items()]
    return "\n".join(lines)


def settings_from(args: argparse.Namespace, extra: Sequence[str]) -> Settings:
    """The run's settings from parsed options; fields not yet validated (see
    :func:`validated`), so that a usage error can still be reported with them."""
    return Settings(
        backend=args.backend,
        device=args.device,
        profile=args.profile,
        xfails=args.xfails,
        report_dir=Path(args.report_dir) if args.report_dir else None,
        timeout=args.timeout,
        shrink_budget=args.shrink_budget,
        quiet=args.quiet,
        isolate=args.isolate,
        workers=args.workers,
        extra_args=tuple(extra),
    )


def validated(base: Settings, args: argparse.Namespace) -> Settings:
    """``base`` with its claims and engine-coverage packages resolved and checked;
    :class:`ConfigError` for anything no run can honour."""
    profiles.choose(args.profile)
    settings = replace(
        base,
        claims=selected_claims(args.claims),
        engine_coverage=tuple(package_dir(p) for p in args.engine_coverage),
    )
    check(settings)
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a bad option (already reported in one line)
        code = int(exc.code or 0)
        if code == EXIT_USAGE:
            _report_usage_error(argv, getattr(parser, "last_error", ""))
        return code
    if args.version:
        print(version_text())
        return 0
    if args.list_backends:
        for name, target in sorted(known_names().items()):
            print(f"{name:<12} {target}")
        return 0
    base = settings_from(args, extra)
    try:
        return _run(validated(base, args))
    except ConfigError as exc:
        print(f"autograd-conformance: error: {exc}", file=sys.stderr)
        write_status_report(base, "usage-error", str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("autograd-conformance: interrupted", file=sys.stderr)
        write_status_report(base, "interrupted", "")
        return EXIT_INTERRUPTED


def _report_usage_error(argv: list[str], message: str) -> None:
    """A results.json saying so, in the report folder the bad command line names (if it
    names one): an earlier run's report must not be left looking current."""
    folder = argparse.ArgumentParser(add_help=False)
    folder.add_argument("--report-dir")
    with contextlib.suppress(SystemExit):  # --report-dir given without a folder
        known, _ = folder.parse_known_args(argv)
        if known.report_dir:
            settings = Settings(report_dir=Path(known.report_dir))
            write_status_report(settings, "usage-error", message)


def _run(settings: Settings) -> int:
    result = run_settings(settings)
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
