"""``autograd-conformance``: run the suite against one backend; exit 0 pass, 1 fail, 2 usage."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from conformance import profiles, specs
from conformance.errors import ConfigError
from conformance.registry import ENV_VAR, known_names, load_backend
from conformance.runner import EXIT_USAGE, run


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # one line, no usage block: CI logs stay readable
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


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
        "--timeout", type=float, default=None, help="seconds one check may take (default 300)"
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


def _coverage_args(args: argparse.Namespace) -> list[str]:
    if not args.engine_coverage:
        return []
    if importlib.util.find_spec("pytest_cov") is None:
        raise ConfigError("--engine-coverage needs pytest-cov: pip install pytest-cov")
    if not args.report_dir:
        raise ConfigError("--engine-coverage needs --report-dir for its HTML and XML reports")
    out = Path(args.report_dir)
    return [
        *(f"--cov={_package_dir(package)}" for package in args.engine_coverage),
        "--cov-branch",
        # the engine's coverage has nothing to do with any coverage config in the cwd
        f"--cov-config={os.devnull}",
        f"--cov-report=html:{out / 'engine-coverage'}",
        f"--cov-report=xml:{out / 'engine-coverage.xml'}",
        "--cov-report=term",
    ]


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
        claims = specs.all_claims()
        selected = [c.strip() for c in args.claims.split(",")] if args.claims else None
        unknown = [c for c in selected or () if c not in claims]
        if unknown:
            raise ConfigError(f"--claims: unknown claim id(s) {', '.join(unknown)}")
        profiles.choose(args.profile)
        extra = _coverage_args(args) + extra
        if not args.engine_coverage:
            # fail fast, with one line; with coverage the plugin does it once coverage runs,
            # so that the engine's import-time lines count too
            load_backend(args.backend, args.device)
    except ConfigError as exc:
        print(f"autograd-conformance: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    result = run(
        args.backend,
        claims=selected,
        profile=args.profile,
        device=args.device,
        report_dir=args.report_dir,
        timeout=args.timeout,
        xfails=args.xfails,
        quiet=args.quiet,
        extra_args=extra,
    )
    return result.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
