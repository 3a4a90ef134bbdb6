"""The claim specs: complete, well formed, and malformed files rejected clearly."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conformance import specs
from conformance.errors import ConfigError

from .conftest import ROOT, one_line_error

CLAIMS_MD = ROOT.parent / "shared" / "CLAIMS.md"


def test_every_claim_of_claims_md_is_in_the_specs():
    """Each seed claim listed in shared/CLAIMS.md has a spec entry, and no seed spec is
    invented; the ids CLAIMS.md reserves for the suite's own claims are origin "suite"."""
    if not CLAIMS_MD.exists():
        pytest.skip(f"{CLAIMS_MD} is not beside this checkout")
    seed_part, _, reserved_part = CLAIMS_MD.read_text(encoding="utf-8").partition(
        "## Claims the suite adds"
    )
    ids = set(re.findall(r"^- ([A-Z]+-\d+) ", seed_part, re.M))
    reserved = set(re.findall(r"^- ([A-Z]+-\d+) ", reserved_part, re.M))
    claims = specs.load(ROOT / "specs")
    seed_ids = {c.id for c in claims.values() if c.origin == "seed"}
    assert ids and ids == seed_ids
    assert all(claims[c].origin == "suite" for c in reserved & set(claims))


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


DERIVATIVES, REGRESSION, SEED10 = "03_derivatives.toml", "04_regression.toml", "data/seed10.toml"
GR1_PARAMS = "[claim.params]\nm = 2.0\nn = 3.0\n"  # the first claim of 03_derivatives.toml

# (file to break, text in it, replacement, how the one-line error begins)
MALFORMED = [
    pytest.param(
        DERIVATIVES,
        'id = "GR-1"\nsection',
        'id = "GR-1"\nsectio',
        "03_derivatives.toml: claim 'GR-1' is missing field 'section'",
        id="missing-field",
    ),
    pytest.param(
        DERIVATIVES,
        'kind = "checked"',
        'kind = "maybe"',
        "03_derivatives.toml: claim GR-1: field 'kind' must be one of",
        id="unknown-kind",
    ),
    pytest.param(
        DERIVATIVES,
        'requires = ["backward", "is_leaf"]',
        'requires = ["telepathy"]',
        "03_derivatives.toml: claim LF-1: field 'requires' must list capabilities",
        id="unknown-capability",
    ),
    pytest.param(
        DERIVATIVES,
        'origin = "suite"',
        "origin = 1",
        "03_derivatives.toml: claim OP-1: field 'origin' must be a string",
        id="origin-not-a-string",
    ),
    pytest.param(
        DERIVATIVES,
        "[claim.params]",
        "[claim.params",
        "03_derivatives.toml: not valid TOML",
        id="invalid-toml",
    ),
    pytest.param(
        DERIVATIVES,
        "# Seed §2.2",
        "# Seed §2.2".encode("latin-1"),
        "03_derivatives.toml: not UTF-8 text (byte ",
        id="not-utf8",
    ),
    pytest.param(
        DERIVATIVES,
        'id = "NS-1"',
        'id = "GR-1"',
        "03_derivatives.toml: claim GR-1 is also defined in 03_derivatives.toml",
        id="duplicate-id",
    ),
    pytest.param(
        DERIVATIVES,
        GR1_PARAMS,
        "params = [2.0, 3.0]\n",
        "03_derivatives.toml: claim GR-1: field 'params' must be a table ([claim.params]),"
        " not [2.0, 3.0]",
        id="params-not-a-table",
    ),
    pytest.param(
        DERIVATIVES,
        GR1_PARAMS,
        GR1_PARAMS.replace("2.0", '"two"'),
        "03_derivatives.toml: claim GR-1: params.m must be a number, not 'two'",
        id="param-of-wrong-type",
    ),
    pytest.param(
        DERIVATIVES,
        "max_rank = 3",
        "max_rank = 3.5",
        "03_derivatives.toml: claim GR-2: params.max_rank must be an integer, not 3.5",
        id="float-where-an-integer-is-needed",
    ),
    pytest.param(
        DERIVATIVES,
        "n_grad = -6.0\n",
        "",
        "03_derivatives.toml: claim GR-1: expected.n_grad is missing; add it (a number)",
        id="missing-expected-key",
    ),
    pytest.param(
        REGRESSION,
        'data_file = "seed10.toml"',
        'data_file = "seed11.toml"',
        "04_regression.toml: claim LR-4: data_file 'seed11.toml': cannot read ",
        id="missing-data-file",
    ),
    pytest.param(
        SEED10,
        "noise = [",
        "noises = [",
        "04_regression.toml: claim LR-4: data_file 'seed10.toml': noise is missing",
        id="data-file-missing-key",
    ),
]


def _broken_copy(tmp_path: Path, name: str, old: str, new: str | bytes) -> Path:
    """A copy of the shipped specs with ``old`` replaced by ``new`` once in file ``name``."""
    target = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", target)
    path = target / name
    data = path.read_bytes()
    assert old.encode() in data
    path.write_bytes(data.replace(old.encode(), new if isinstance(new, bytes) else new.encode(), 1))
    return target


@pytest.mark.parametrize(("name", "old", "new", "message"), MALFORMED)
def test_a_malformed_spec_is_an_error_naming_file_claim_and_field(
    tmp_path, name, old, new, message
):
    """Every malformation is a one-line ConfigError naming the file, claim and field."""
    with pytest.raises(ConfigError) as info:
        specs.load(_broken_copy(tmp_path, name, old, new))
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


@pytest.mark.parametrize(("name", "old", "new", "message"), MALFORMED)
def test_a_malformed_spec_makes_the_command_exit_2_with_one_line(
    cli, tmp_path, name, old, new, message
):
    """The command reports each malformed spec in one stderr line, exit 2, no traceback."""
    directory = _broken_copy(tmp_path, name, old, new)
    proc = cli("--claims", "GR-1", env={specs.SPECS_ENV: str(directory)})
    assert proc.returncode == 2
    assert one_line_error(proc).startswith(f"autograd-conformance: error: {message}")


def test_the_schema_and_the_shipped_specs_name_the_same_keys():
    """Each key a shipped spec states has a schema entry, and each schema entry a shipped key."""
    claims = specs.load(ROOT / "specs")
    assert set(specs.SCHEMA) <= set(claims)
    for claim in claims.values():
        params, expected = specs.SCHEMA.get(claim.id, ({}, {}))
        stated = {"data_file" if key == "data" else key for key in claim.params}
        assert (stated, set(claim.expected)) == (set(params), set(expected)), claim.id


def test_the_installed_package_ships_the_same_specs():
    """The specs the package loads by default are the ones in this checkout."""
    shipped = specs.load(specs.default_dir())
    assert shipped.keys() == specs.load(ROOT / "specs").keys()
