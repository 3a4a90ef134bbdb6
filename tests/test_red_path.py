"""A failing engine gets its verdict fast: shrinking a counterexample has a time budget,
after which the smallest one found is reported, marked as such, with the same verdict."""

from __future__ import annotations

import json


def test_shrinking_stops_at_its_budget_and_says_so(cli, tmp_path):
    """With a budget too small to finish shrinking, CR-1 still fails on the exp mutant,
    and its message says shrinking was stopped; the second failing property of the process
    gets half the budget, and says so."""
    proc = cli(
        "--backend",
        "tests.mutants:ExpTimesInputBackend",
        "--claims",
        "CR-1",
        "--shrink-budget",
        "0.01",
        "--no-isolate",
        "--report-dir",
        str(tmp_path),
    )
    assert proc.returncode == 1
    doc = json.loads((tmp_path / "results.json").read_text())
    tests = [t for c in doc["claims"] if c["id"] == "CR-1" for t in c["tests"]]
    assert {t["verdict"] for t in tests} == {"failed"}
    # the properties shrink; CR-1's size tier is deterministic (it fails too: exp's chain)
    tests = [t for t in tests if "random_dags" in t["nodeid"]]
    notes = sorted(t["message"].split("shrinking stopped after ")[1].split(":")[0] for t in tests)
    assert notes == [
        "0.005 s (the shrink budget, 0.01 s, shared",
        "0.01 s (the shrink budget)",
    ]
    assert any("this is failing property 2 of its process" in t["message"] for t in tests)


def test_a_bad_shrink_budget_is_one_line_and_exit_2(cli):
    """The budget is a positive finite number of seconds."""
    proc = cli("--backend", "torch", "--shrink-budget", "0")
    assert proc.returncode == 2
    assert "invalid positive finite number of seconds value: '0'" in proc.stderr
