"""README stays true: its adapter example runs, its claim table matches the specs."""

from __future__ import annotations

import json
import os
import re
import sys

import pytest

from conformance import specs
from conformance.report.matrix import CLAIMS_MARKERS, claims_table
from conformance.run.runner import run

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _adapter_source(name: str = "my_adapter.py") -> str:
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    return next(b for b in blocks if b.startswith(f"# {name}"))


def test_the_readme_adapter_is_at_most_60_lines():
    """The smallest complete adapter for a torch-like engine fits in 60 lines."""
    assert len(_adapter_source().strip().splitlines()) <= 60


def test_the_readme_adapter_passes_the_suite(cli, tmp_path):
    """The worked adapter, saved as my_adapter.py, passes; what it omits is unsupported."""
    (tmp_path / "my_adapter.py").write_text(_adapter_source(), encoding="utf-8")
    proc = cli(
        "--backend",
        "my_adapter:MyEngine",
        "--xfails",
        str(ROOT / "conformance" / "backends" / "torch_xfails.toml"),
        "--report-dir",
        str(tmp_path / "out"),
        "--quiet",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    verdicts = {c["id"]: set(c["verdicts"].values()) for c in report["claims"]}
    assert verdicts["G-1"] == {"unsupported"}
    assert verdicts["GR-1"] == verdicts["NL-2"] == verdicts["GF-1"] == {"passed"}


def test_the_readme_functional_adapter_built_from_the_guide_alone_passes(tmp_path):
    """The guide's functional adapter, saved from README as it is, runs the derivative
    claims to passed and the imperative ones to unsupported."""
    pytest.importorskip("autograd", reason="the example's engine: pip install autograd")
    (tmp_path / "functional_adapter.py").write_text(
        _adapter_source("functional_adapter.py"), encoding="utf-8"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        result = run(
            "functional_adapter:MyFunctionalEngine",
            claims=["GR-1", "GR-2", "NS-1", "CR-1", "LF-1"],
            quiet=True,
        )
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("functional_adapter", None)
    assert result.exit_code == 0, result.failures or result.error
    for claim in ("GR-1", "GR-2", "NS-1"):
        assert result.verdicts[claim, "float64"] == "passed", claim
    assert result.verdicts["CR-1", "float64"] in ("passed", "partial")  # ops it lacks
    assert result.verdicts["LF-1", "float64"] == "unsupported"


def test_the_readme_lazy_adapter_built_from_the_guide_alone_passes(tmp_path, monkeypatch):
    """The guide's lazy adapter (tinygrad), saved from README as it is, passes the worked
    example and the chain rule over the ops it has; what it lacks is unsupported."""
    if "tinygrad" not in sys.modules:  # no clang here: tinygrad's interpreter device
        monkeypatch.setenv("DEV", os.environ.get("DEV", "PYTHON"))
    pytest.importorskip("tinygrad", reason="the example's engine: pip install tinygrad")
    (tmp_path / "lazy_adapter.py").write_text(_adapter_source("lazy_adapter.py"), "utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        result = run("lazy_adapter:MyLazyEngine", claims=["GR-1", "CR-1", "LF-1"], quiet=True)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("lazy_adapter", None)
    assert result.exit_code == 0, result.failures or result.error
    assert result.verdicts["GR-1", "float32"] == "passed"
    assert result.verdicts["CR-1", "float32"] == "partial"  # the size tier: max_elements
    assert result.verdicts["LF-1", "float32"] == "unsupported"


def test_the_readme_claim_table_matches_the_specs():
    """The table between the claims markers is what the specs generate."""
    start, end = CLAIMS_MARKERS
    between = README.split(start, 1)[1].split(end, 1)[0].strip()
    assert between == claims_table(specs.load(ROOT / "specs"))


def test_the_readme_quickstart_is_two_commands():
    """The quickstart block holds exactly the two commands that .ci/run runs."""
    block = re.search(r"## Quickstart.*?```bash\n(.*?)```", README, re.S).group(1)
    commands = block.strip().splitlines()
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "autograd-conformance --backend torch" in commands[0]
    assert commands[1] == "pytest" and "\npytest\n" in ci
