"""Engine releases as ranges: expected-failure entries and conventions by version."""

from __future__ import annotations

import pytest

from conformance.engine import xfails
from conformance.engine.versions import for_release, in_range, versioned
from conformance.errors import ConfigError


def test_a_local_build_or_a_nightly_counts_as_its_release() -> None:
    """2.13.0+cpu is 2.13.0; a 2.15 nightly is in '>=2.14'; 2.13 is not."""
    assert in_range("2.13.0+cpu", ">=2.11")
    assert in_range("2.15.0.dev20261201+cu130", ">=2.14")
    assert not in_range("2.13.0", ">=2.14")


def test_a_convention_takes_the_value_of_the_range_holding_the_release() -> None:
    """clamp's bound gradient: 1 before 2.14, 0 from it on; no range, no convention."""
    table = {"clip_at_bound": {"<2.14": 1.0, ">=2.14": 0.0}}
    assert versioned("2.13.0+cpu", table) == {"clip_at_bound": 1.0}
    assert versioned("2.14.1", table) == {"clip_at_bound": 0.0}
    assert versioned("3.0", {"clip_at_bound": {"<2.14": 1.0}}) == {}


def test_overlapping_ranges_and_bad_ranges_are_configuration_errors() -> None:
    """A release in two ranges, or a range that is not PEP 440, is a one-line error."""
    with pytest.raises(ConfigError, match="more than one range"):
        for_release("2.14", {">=2.0": 1.0, ">=2.14": 0.0})
    with pytest.raises(ConfigError, match="not a version range"):
        in_range("2.14", "newer than 2")


def test_an_entry_names_only_packages_the_backend_reports(tmp_path) -> None:
    """versions = { jax = ... } on a backend reporting torch only is a usage error."""
    path = tmp_path / "x.toml"
    path.write_text(
        '[[expected_failure]]\nclaim = "GR-1"\nreason = "r"\nversions = { jax = ">=0.4" }\n',
        encoding="utf-8",
    )

    class Engine:
        expected_failures = str(path)

        def versions(self) -> dict[str, str]:
            return {"torch": "2.13.0"}

    with pytest.raises(ConfigError, match="names package 'jax'"):
        xfails.for_backend(Engine())


def test_a_malformed_versions_field_names_the_entry(tmp_path) -> None:
    """versions must be a table of package = range."""
    path = tmp_path / "x.toml"
    path.write_text(
        '[[expected_failure]]\nclaim = "GR-1"\nreason = "r"\nversions = ">=2"\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="x.toml, entry 1: field 'versions'"):
        xfails.load(path)
