"""The claim specs: complete, well formed, and malformed files rejected clearly."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conformance import specs
from conformance.errors import ConfigError

from .conftest import ROOT

CLAIMS_MD = ROOT.parent / "shared" / "CLAIMS.md"


def test_every_claim_of_claims_md_is_in_the_specs():
    """Each id listed in shared/CLAIMS.md has a spec entry, and no seed spec is invented."""
    if not CLAIMS_MD.exists():
        pytest.skip(f"{CLAIMS_MD} is not beside this checkout")
    ids = set(re.findall(r"^- ([A-Z]+-\d+) ", CLAIMS_MD.read_text(encoding="utf-8"), re.M))
    claims = specs.load(ROOT / "specs")
    seed_ids = {c.id for c in claims.values() if c.origin == "seed"}
    assert ids and ids == seed_ids


def test_informational_claims_carry_a_reason():
    """DG-2 and LR-6 are informational, each with the reason it cannot be tested."""
    claims = specs.load(ROOT / "specs")
    informational = {c.id for c in claims.values() if c.informational}
    assert informational == {"DG-2", "LR-6"}
    assert all(claims[c].reason for c in informational)


def test_the_worked_example_values_are_the_seeds():
    """The spec states the seed's numbers: gradients 4 and -6, retained -1 and 5."""
    claims = specs.load(ROOT / "specs")
    assert (claims["GR-1"].expected["m_grad"], claims["GR-1"].expected["n_grad"]) == (4, -6)
    assert (claims["NL-2"].expected["a_grad"], claims["NL-2"].expected["b_grad"]) == (-1, 5)


def _broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    target = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", target)
    path = target / "03_derivatives.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('id = "GR-1"\nsection', 'id = "GR-1"\nsectio', "missing field 'section'"),
        ('kind = "checked"', 'kind = "maybe"', "field 'kind' must be one of"),
        ('requires = ["backward", "is_leaf"]', 'requires = ["telepathy"]', "field 'requires'"),
        ("[claim.params]", "[claim.params", "not valid TOML"),
        ('id = "NS-1"', 'id = "GR-1"', "also defined"),
    ],
)
def test_a_malformed_spec_is_an_error_naming_file_and_field(tmp_path, old, new, message):
    """Every malformation is reported with the file's name and what is wrong."""
    directory = _broken_copy(tmp_path, old, new)
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        specs.load(directory)
    assert str(info.value).startswith("03_derivatives.toml")


def test_a_malformed_spec_makes_the_command_exit_2_with_one_line(cli, tmp_path):
    """The command reports a spec with a missing field in one line, exit 2."""
    directory = _broken_copy(tmp_path, 'id = "GR-1"\nsection', 'id = "GR-1"\nsectio')
    proc = cli("--backend", "torch", env={"AUTOGRAD_CONFORMANCE_SPECS": str(directory)})
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "autograd-conformance: error: 03_derivatives.toml: claim 'GR-1' is missing field 'section'"
    )


def test_the_installed_package_ships_the_same_specs():
    """The specs the package loads by default are the ones in this checkout."""
    shipped = specs.load(specs.default_dir())
    assert shipped.keys() == specs.load(ROOT / "specs").keys()
