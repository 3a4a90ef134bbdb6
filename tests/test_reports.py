"""Reports: JSON against its schema, Markdown, HTML, JUnit; failures carry their evidence."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

import pytest

from conformance.report.render import markdown, repro_of, svg_plot
from conformance.run.runner import run

CLAIMS = ["GR-1", "G-2", "LF-1"]


@pytest.fixture(scope="module")
def failing_report(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("wrong-sign")
    result = run(
        "tests.doubles:WrongSignNegBackend", claims=CLAIMS, report_dir=directory, quiet=True
    )
    assert result.exit_code == 1
    return directory


def _schema() -> dict:
    return json.loads(resources.files("conformance").joinpath("report_schema.json").read_text())


def test_the_json_report_validates_against_its_schema(failing_report):
    """results.json follows the documented, versioned schema."""
    jsonschema = pytest.importorskip("jsonschema")
    doc = json.loads((failing_report / "results.json").read_text())
    jsonschema.validate(doc, _schema())
    assert doc["schema_version"] == 2 and doc["backend"]["name"] == "wrong-sign-neg"


def test_the_schema_rejects_a_report_with_an_unknown_verdict(failing_report):
    """The schema is strict enough to catch a malformed report."""
    jsonschema = pytest.importorskip("jsonschema")
    doc = json.loads((failing_report / "results.json").read_text())
    doc["claims"][0]["tests"] = [dict(doc["claims"][4]["tests"][0], verdict="fine")]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, _schema())


def test_a_failure_carries_its_counterexample_and_snippet_in_every_report(failing_report):
    """The stage, ACTUAL vs EXPECTED and the reproduction appear in JSON, Markdown, HTML, JUnit."""
    doc = json.loads((failing_report / "results.json").read_text())
    gr1 = next(c for c in doc["claims"] if c["id"] == "GR-1")
    test = gr1["tests"][0]
    assert test["verdict"] == "failed"
    assert "stage: gradient of n" in test["message"] and "ACTUAL:   [4.]" in test["message"]
    assert "load_backend('tests.doubles:WrongSignNegBackend')" in test["repro"]
    for name in ("summary.md", "report.html"):
        text = (failing_report / name).read_text()
        assert "stage: gradient of n" in text, name
        assert "load_backend(" in text, name
    junit = ET.parse(failing_report / "junit.xml").getroot()
    failures = [f.get("message", "") + (f.text or "") for f in junit.iter("failure")]
    assert len(failures) == 2 and all("stage: gradient of n" in f for f in failures)


def test_nothing_is_written_outside_the_report_folder(tmp_path, monkeypatch):
    """A run leaves no cache or example database in the working directory."""
    monkeypatch.chdir(tmp_path)
    result = run("torch", claims=["GR-1"], report_dir=tmp_path / "out", quiet=True)
    assert result.exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_repro_of_extracts_the_indented_snippet():
    """The snippet ends where pytest's traceback begins."""
    message = "stage: x\nreproduce with:\n    import numpy\n    bk = 1\n\nTraceback\n"
    assert repro_of(message) == "import numpy\nbk = 1"
    assert repro_of("no snippet here") == ""


def test_svg_plot_draws_one_line_per_series_and_skips_non_finite_values():
    """Loss curves are drawn on a log scale; inf and nan points are left out."""
    svg = svg_plot("loss", {"backend": [4.0, 2.0, float("inf")], "theory": [4.0, 1.0, 0.5]})
    assert svg.count("<polyline") == 2
    assert "inf" not in svg.split("points=")[1].split('"')[1]
    # a standalone image even then (the curves/ files are these)
    empty = ET.fromstring(svg_plot("empty", {"a": [float("nan")]}))
    assert empty.tag == "{http://www.w3.org/2000/svg}svg"
    assert "no finite" in "".join(empty.itertext())


def test_markdown_marks_informational_claims(failing_report):
    """Informational claims are listed as such, never as passed."""
    doc = json.loads((failing_report / "results.json").read_text())
    assert "| DG-2 |" in markdown(doc) and "informational | informational" in markdown(doc)


def test_the_html_report_renders_in_headless_chromium(failing_report, tmp_path):
    """Chromium renders the page: the claim table and a loss plot are in the rendered DOM."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI"):  # CI installs it (.ci/run): its absence there is a failure
            pytest.fail("chromium is not installed, and CI is set: .ci/run should install it")
        pytest.skip("chromium is not installed (CI installs it with apt-get)")
    page = failing_report / "report.html"
    doc = json.loads((failing_report / "results.json").read_text())
    # give the page a curve to plot, as a convergence run would
    doc["claims"][0]["tests"] = [
        dict(doc["claims"][4]["tests"][0], curves=[{"name": "loss", "series": {"b": [3.0, 1.0]}}])
    ]
    from conformance.report.render import html_page

    page = tmp_path / "report.html"
    page.write_text(html_page(doc))
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    shot = tmp_path / "shot.png"
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    subprocess.run(
        [chromium, *flags, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert dom.count('<tr data-verdicts="') == len(doc["claims"])
    assert "<polyline" in dom and 'class="plot"' in dom
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_convergence_runs_write_their_loss_curves(tmp_path):
    """LR-4's trajectory (backend and theory) is written as data and as an SVG image."""
    result = run("torch", claims=["LR-4"], report_dir=tmp_path, quiet=True)
    assert result.exit_code == 0
    curves = json.loads((tmp_path / "curves" / "curves.json").read_text())
    assert {c["claim"] for c in curves} == {"LR-4"} and all(len(c["series"]) >= 2 for c in curves)
    assert "<polyline" in (tmp_path / "report.html").read_text()
    images = list((tmp_path / "curves").glob("LR-4-*.svg"))
    assert len(images) == len(curves)
    svg = "{http://www.w3.org/2000/svg}svg"
    assert all(ET.parse(image).getroot().tag == svg for image in images)
