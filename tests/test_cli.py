"""The command line: verdict table, exit codes 0/1/2, one-line errors."""

from __future__ import annotations

import json

import pytest

from .conftest import one_line_error, run_cli

SEED_CLAIMS = "GR-1,G-2,NS-1,LF-1,LF-2,NL-1,NL-2,GF-1,G-1,DG-1,LR-2,LR-3"


def _seed_run(cli, tmp_path, backend: str):
    """Run the seed's claims against ``backend``; the outcome and the verdicts by claim."""
    proc = cli("--backend", backend, "--claims", SEED_CLAIMS, "--report-dir", str(tmp_path))
    report = json.loads((tmp_path / "results.json").read_text())
    return proc, {c["id"]: c["verdicts"] for c in report["claims"]}


def test_a_correct_backend_passes_and_exits_0(cli, tmp_path):
    """torch passes the seed's examples; the table names each claim; exit 0."""
    proc, verdicts = _seed_run(cli, tmp_path, "torch")
    assert proc.returncode == 0, proc.stdout[-3000:]
    for claim_id in SEED_CLAIMS.split(","):
        assert f"\n{claim_id} " in proc.stdout
    assert verdicts["GR-1"] == {"float32": "passed", "float64": "passed"}


def test_a_wrong_sign_backend_exits_1_and_names_the_failing_claims(cli, tmp_path):
    """A neg whose backward drops the sign fails GR-1 (dy/dn = 4, not -6)."""
    proc, verdicts = _seed_run(cli, tmp_path, "tests.doubles:WrongSignNegBackend")
    assert proc.returncode == 1
    assert verdicts["GR-1"] == {"float32": "failed", "float64": "failed"}
    assert verdicts["G-2"] == {"float32": "passed", "float64": "passed"}  # forward is right
    assert "stage: gradient of n" in proc.stdout
    assert "ACTUAL:   [4.]" in proc.stdout


def test_a_backend_keeping_non_leaf_gradients_fails_nl1(cli, tmp_path):
    """Non-leaf gradients kept without retain_grad break NL-1 and nothing else here."""
    proc, verdicts = _seed_run(cli, tmp_path, "tests.doubles:KeepsNonLeafGradsBackend")
    assert proc.returncode == 1
    failed = {claim for claim, v in verdicts.items() if "failed" in v.values()}
    assert failed == {"NL-1"}


def test_missing_capabilities_are_unsupported_and_exit_0(cli, tmp_path):
    """Without graph-semantics capabilities those claims are unsupported, never passed."""
    proc, verdicts = _seed_run(cli, tmp_path, "tests.doubles:GradientsOnlyBackend")
    assert proc.returncode == 0, proc.stdout[-3000:]
    for claim_id in ("LF-1", "LF-2", "NL-2", "GF-1", "G-1", "LR-2", "LR-3"):
        assert set(verdicts[claim_id].values()) == {"unsupported"}, claim_id
    for claim_id in ("GR-1", "NS-1", "NL-1"):
        assert set(verdicts[claim_id].values()) == {"passed"}, claim_id
    # DG-1's stale-read check updates inputs in place; its other checks pass
    assert set(verdicts["DG-1"].values()) == {"partial"}
    assert "unsupported" in proc.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--backend", "nosuch"], "unknown backend 'nosuch'"),
        (["--backend", "tests.doubles:missing"], "has no attribute 'missing'"),
        (["--backend", "no.such.module:Thing"], "cannot import"),
        (["--backend", "tests.doubles:MissingMatmul"], "lacks required method(s)"),
        (["--no-such-option"], "unrecognized arguments: --no-such-option"),
        (["--claims", "ZZ-1"], "unknown claim id(s) ZZ-1"),
        (["--profile", "fast"], "invalid choice: 'fast'"),
        (["--timeout", "nan"], "invalid positive finite number of seconds value: 'nan'"),
        (["--timeout", "inf"], "invalid positive finite number of seconds value: 'inf'"),
        (["--timeout", "0"], "invalid positive finite number of seconds value: '0'"),
        (["--timeout", "-1"], "invalid positive finite number of seconds value: '-1'"),
        (["--workers", "0"], "invalid positive integer value: '0'"),
        (["--claims", ""], "--claims: give at least one claim id"),
        (["--claims", " , "], "--claims: give at least one claim id"),
        (["--claims", "DG-2"], "no check was selected (informational claims"),
        (["--claims", "GR-1", "--", "-k", "nomatch"], "no check was selected"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(cli, args, fragment):
    """Each configuration error is one line on stderr, exit code 2, no traceback."""
    proc = cli(*args)
    assert proc.returncode == 2
    assert fragment in one_line_error(proc)


def test_the_backend_env_var_is_used_when_no_option_is_given(cli):
    """AUTOGRAD_CONFORMANCE_BACKEND chooses the backend."""
    proc = cli("--claims", "GR-1", env={"AUTOGRAD_CONFORMANCE_BACKEND": "nosuch"})
    assert proc.returncode == 2
    assert "unknown backend 'nosuch'" in one_line_error(proc)


def test_a_cuda_request_without_cuda_says_so(cli):
    """--device cuda on a machine without CUDA is a clear configuration error."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the message is for machines without it")
    proc = cli("--backend", "torch", "--device", "cuda")
    assert proc.returncode == 2
    assert "sees no CUDA device" in one_line_error(proc)


def test_the_console_command_reports_bad_input_in_one_line():
    """Run as a real process, an unknown backend gives one stderr line and exit 2."""
    proc = run_cli("--backend", "nosuch")
    assert proc.returncode == 2
    assert one_line_error(proc) == (
        "autograd-conformance: error: unknown backend 'nosuch'; known: "
        + proc.stderr.split("known: ", 1)[1].strip()
    )


def test_list_backends_names_torch(cli):
    """--list-backends prints the registry, torch included."""
    proc = cli("--list-backends")
    assert proc.returncode == 0
    assert any(line.split()[0] == "torch" for line in proc.stdout.splitlines())
