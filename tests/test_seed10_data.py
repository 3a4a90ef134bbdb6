"""The stored seed-10 data (specs/data/seed10.toml) are torch's draws, exactly."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from conformance.specs import claim

from .conftest import ROOT

DATA_FILE = ROOT / "specs" / "data" / "seed10.toml"


def _stored() -> dict:
    return tomllib.loads(DATA_FILE.read_text(encoding="utf-8"))


def test_the_lr4_claim_loads_the_stored_data():
    """LR-4 names the file, and the loader puts its tables in params['data']."""
    data = claim("LR-4").params["data"]
    assert data == _stored()
    assert len(data["x"]) == len(data["noise"]) == 20
    assert all(0.0 <= v < 10.0 for v in data["x"])
    assert (data["seed"], data["slope"], data["intercept"], data["b0"]) == (10, 2.0, 5.0, 0.0)


def test_every_stored_value_is_a_float32_written_exactly():
    """Each number reads back as a float32 with nothing lost or added."""
    data = _stored()
    for v in [*data["x"], *data["noise"], data["w0"]]:
        assert float(np.float32(v)) == v


def test_the_stored_values_are_a_fresh_torch_draw_in_the_seeds_order():
    """manual_seed(10); x = rand(20, 1) * 10; noise = randn(20, 1); w0 = randn(1)."""
    torch = pytest.importorskip("torch", reason="checking the stored draws needs torch")
    torch.manual_seed(10)
    x = torch.rand(20, 1) * 10
    noise = torch.randn(20, 1)
    w0 = torch.randn(1)
    data = _stored()
    assert np.array_equal(np.asarray(data["x"], np.float32), x.numpy().ravel())
    assert np.array_equal(np.asarray(data["noise"], np.float32), noise.numpy().ravel())
    assert np.float32(data["w0"]) == w0.item()


def test_the_generator_script_reports_the_file_up_to_date():
    """scripts/make_seed10_data.py --check agrees with the committed file."""
    pytest.importorskip("torch", reason="the generator script needs torch")
    import subprocess
    import sys

    script = ROOT / "scripts" / "make_seed10_data.py"
    done = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
