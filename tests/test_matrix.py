"""The conformance matrix: claims x backends, and rewriting README between markers."""

from __future__ import annotations

import pytest

from conformance import specs
from conformance.errors import ConfigError
from conformance.report import matrix
from conformance.report.results import to_json
from conformance.run.runner import run


@pytest.fixture(scope="module")
def reports() -> dict[str, dict]:
    docs = {}
    for name in ("torch", "tests.doubles:GradientsOnlyBackend"):
        result = run(name, claims=["GR-1", "LF-1", "NL-1"], quiet=True)
        docs[name] = to_json(result.results, specs.all_claims(), _Named(name), "ci")
    return docs


class _Named:
    def __init__(self, name: str) -> None:
        self.name = name
        self.dtypes = ("float32", "float64")

    def versions(self) -> dict[str, str]:
        return {self.name: "1.0"}


def test_the_matrix_has_a_row_per_claim_and_a_column_per_backend(reports):
    """Every claim is a row; informational ones say so; cells hold the verdicts."""
    table = matrix.matrix_table(reports, specs.all_claims())
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()}
    assert set(specs.all_claims()) <= set(rows)
    assert rows["GR-1"] == "| GR-1 | passed | passed |"
    assert rows["DG-2"] == "| DG-2 | informational | informational |"
    assert "unsupported [1]" in rows["LF-1"]


def test_unsupported_and_expected_failures_come_with_their_reasons(reports):
    """Each unsupported or xfailed cell points to a numbered note with its reason."""
    table = matrix.matrix_table(reports, specs.all_claims())
    assert "1. tests.doubles:GradientsOnlyBackend, LF-1: unsupported: backend lacks" in table


def test_the_matrix_command_rewrites_only_between_the_markers(tmp_path, monkeypatch, reports):
    """The README outside the markers is kept; the tables inside are regenerated."""
    readme = tmp_path / "README.md"
    start, end = matrix.MATRIX_MARKERS
    cstart, cend = matrix.CLAIMS_MARKERS
    readme.write_text(f"intro\n{cstart}\nold\n{cend}\nmid\n{start}\nold\n{end}\noutro\n")
    monkeypatch.setattr(matrix, "run_backend", lambda name, workdir: reports["torch"])
    assert matrix.main(["--backends", "torch", "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "\nold\n" not in text
    assert "| GR-1 | passed |" in text and "| GR-1 | §2.2" in text


def test_missing_markers_are_a_clear_error(tmp_path, capsys):
    """A README without the markers is reported in one line, exit 2."""
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    assert matrix.main(["--claims-only", "--readme", str(readme)]) == 2
    assert "lacks the markers" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        matrix.replace_between("x", matrix.MATRIX_MARKERS, "y")


def test_only_installed_backends_are_run():
    """An engine that cannot be imported is left out of the matrix."""
    assert matrix.installed(["torch", "nosuch"]) == ["torch"]


def test_the_matrix_can_be_built_from_report_folders(reports, tmp_path):
    """--reports reads ci runs made elsewhere (each engine in its own environment), orders
    them as the built-in backends, and rejects a run of another profile."""
    import json

    for i, doc in enumerate(reports.values()):
        folder = tmp_path / f"r{i}"
        folder.mkdir()
        (folder / "results.json").write_text(json.dumps(doc), encoding="utf-8")
    read = matrix.read_reports([tmp_path / "r1", tmp_path / "r0"])
    assert list(read)[0] == "torch"
    readme = tmp_path / "README.md"
    readme.write_text(
        "a\n<!-- claims:start -->\n<!-- claims:end -->\n"
        "<!-- matrix:start -->\nold\n<!-- matrix:end -->\nb\n",
        encoding="utf-8",
    )
    folders = [str(tmp_path / "r0"), str(tmp_path / "r1")]
    assert matrix.main(["--readme", str(readme), "--reports", *folders]) == 0
    assert "| GR-1 | passed | passed |" in readme.read_text(encoding="utf-8")
    doc = dict(reports["torch"], profile="dev")
    (tmp_path / "r0" / "results.json").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ConfigError, match="not ci"):
        matrix.read_reports([tmp_path / "r0"])
