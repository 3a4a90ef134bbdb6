"""The plugin's run-level behaviour: expected failures, isolated runs, quiet output."""

from __future__ import annotations

import json

import pytest

from conformance.engine import xfails
from conformance.errors import ConfigError
from conformance.run.runner import run

SEED = ["GR-1", "G-2", "NL-1", "LR-2"]


def _xfail_file(tmp_path, body: str):
    path = tmp_path / "xfails.toml"
    path.write_text(body, encoding="utf-8")
    return ["--autograd-xfails", str(path)]


def test_a_listed_deviation_is_xfailed_and_the_run_passes(tmp_path):
    """A known failure in the expected-failure file is 'xfailed', exit 0."""
    args = _xfail_file(tmp_path, '[[expected_failure]]\nclaim = "GR-1"\nreason = "neg sign bug"\n')
    result = run(
        "tests.doubles:WrongSignNegBackend", claims=["GR-1", "G-2"], quiet=True, extra_args=args
    )
    assert result.exit_code == 0
    assert result.verdicts[("GR-1", "float32")] == "xfailed"
    assert result.verdicts[("G-2", "float32")] == "passed"


def test_an_expected_failure_that_passes_fails_the_run(tmp_path):
    """An entry for a claim the backend meets is reported as xpassed, exit 1."""
    args = _xfail_file(tmp_path, '[[expected_failure]]\nclaim = "GR-1"\nreason = "stale"\n')
    result = run("torch", claims=SEED, quiet=True, extra_args=args)
    assert result.exit_code == 1
    assert result.verdicts[("GR-1", "float64")] == "xpassed"


KINK_GRID = "test_each_kink_and_tie_gives_a_finite_subgradient"


def _kink_entry(ops: str) -> str:
    return (
        f'[[expected_failure]]\nclaim = "KP-1"\ntest = "{KINK_GRID}"\nops = {ops}\n'
        'reason = "NaN at the kink"\n'
    )


def test_an_entry_naming_ops_does_not_excuse_a_failure_in_another_op(tmp_path):
    """An entry naming relu leaves the grid failed when abs and max fail too, naming the
    entry; the grid's failure shows each failing op with its inputs and reproduction."""
    args = _xfail_file(tmp_path, _kink_entry('["relu"]'))
    args += ["-k", KINK_GRID]
    result = run("tests.mutants:ThreeKinksBackend", claims=["KP-1"], quiet=True, extra_args=args)
    assert result.exit_code == 1
    assert result.verdicts[("KP-1", "float32")] == "failed"
    message = result.failures[("KP-1", "float32")]
    assert "xfails.toml#1 excuses only op(s) relu" in message
    assert "also failed on abs, max" in message
    for op in ("relu", "abs", "max"):
        section = message.split(f"-- failing op {op} --")[1].split("-- failing op")[0]
        assert "x0 = " in section and "reproduce with:" in section, op


def test_an_entry_naming_every_failing_op_excuses_the_check(tmp_path):
    """The same grid is xfailed once the entry names every failing op."""
    args = _xfail_file(tmp_path, _kink_entry('["relu", "abs", "max"]')) + ["-k", KINK_GRID]
    result = run("tests.mutants:ThreeKinksBackend", claims=["KP-1"], quiet=True, extra_args=args)
    assert result.exit_code == 0
    assert result.verdicts[("KP-1", "float32")] == "xfailed"


def test_an_entry_applies_only_to_the_engine_releases_in_its_range(tmp_path):
    """An entry whose version range excludes the installed torch is left out (the check
    is judged in full); one whose range holds it applies."""
    import torch

    body = '[[expected_failure]]\nclaim = "GR-1"\nreason = "neg sign bug"\n'
    outside = body + 'versions = { torch = "<1.0" }\n'
    result = run(
        "tests.doubles:WrongSignNegBackend",
        claims=["GR-1"],
        quiet=True,
        extra_args=_xfail_file(tmp_path, outside),
    )
    assert result.exit_code == 1
    assert result.verdicts[("GR-1", "float32")] == "failed"
    inside = body + f'versions = {{ torch = ">={torch.__version__.split("+")[0]}" }}\n'
    result = run(
        "tests.doubles:WrongSignNegBackend",
        claims=["GR-1"],
        quiet=True,
        extra_args=_xfail_file(tmp_path, inside),
    )
    assert result.exit_code == 0
    assert result.verdicts[("GR-1", "float32")] == "xfailed"


def test_an_entry_matching_no_test_is_a_usage_error(tmp_path):
    """A stale entry (no such test) stops the run with exit 2, naming the entry."""
    body = '[[expected_failure]]\nclaim = "GR-1"\ntest = "no_such_check"\nreason = "old"\n'
    result = run("torch", claims=SEED, quiet=True, extra_args=_xfail_file(tmp_path, body))
    assert result.exit_code == 2
    assert "xfails.toml#1 (claim GR-1, test no_such_check)" in result.error


def test_a_malformed_expected_failure_file_names_the_entry(tmp_path):
    """An entry without a reason is rejected with the file and entry number."""
    path = tmp_path / "bad.toml"
    path.write_text('[[expected_failure]]\nclaim = "GR-1"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="bad.toml, entry 1: needs fields"):
        xfails.load(path)


def test_isolated_runs_give_the_in_process_verdicts(tmp_path):
    """Isolated in two worker processes, the verdicts and the merged report equal an
    in-process run's."""
    backend = "tests.doubles:KeepsNonLeafGradsBackend"
    claims = [*SEED, "NL-2", "GF-1", "NS-1", "LR-1"]
    serial = run(backend, claims=claims, report_dir=tmp_path / "serial", quiet=True)
    parallel = run(
        backend, claims=claims, report_dir=tmp_path / "parallel", quiet=True, isolate=True
    )
    assert serial.exit_code == parallel.exit_code == 1
    assert serial.verdicts == parallel.verdicts
    docs = [json.loads((tmp_path / d / "results.json").read_text()) for d in ("serial", "parallel")]
    tests = [
        sorted((t["nodeid"], t["verdict"]) for c in d["claims"] for t in c["tests"]) for d in docs
    ]
    assert tests[0] == tests[1]


def test_quiet_mode_keeps_the_verdict_table_and_drops_the_header(capsys):
    """--quiet is terse for CI logs but still ends with the verdicts."""
    assert run("torch", claims=["GR-1"], quiet=True).exit_code == 0
    out = capsys.readouterr().out
    assert "autograd conformance verdicts" in out and "platform linux" not in out


def test_engine_coverage_is_measured_and_written(cli, tmp_path):
    """--engine-coverage torch.autograd writes coverage of torch's autograd package."""
    pytest.importorskip("pytest_cov")
    proc = cli(
        "--claims",
        "GR-1,NL-2",
        "--report-dir",
        str(tmp_path),
        "--quiet",
        "--engine-coverage",
        "torch.autograd",
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    xml = (tmp_path / "engine-coverage.xml").read_text()
    assert "torch/autograd/__init__.py" in xml or 'filename="__init__.py"' in xml
    assert (tmp_path / "engine-coverage" / "index.html").exists()
