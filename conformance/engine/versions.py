"""Engine releases as ranges: which known deviation or convention applies to which release.

A range is a PEP 440 specifier set (``">=2.11"``, ``">=0.4.26,<0.8"``). Local labels
(``2.13.0+cpu``) and pre-releases count as their release: a nightly of 2.15 is in
``">=2.14"``. A range stays open at the top while a deviation is unfixed; the release
that fixes it turns its expected failure into *xpassed* (the run fails, saying the entry
is out of date), which is the signal to close the range.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from conformance.errors import ConfigError

T = TypeVar("T")


def specifier(text: str, where: str) -> SpecifierSet:
    """``text`` as a specifier set; :class:`ConfigError` naming ``where`` if malformed."""
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise ConfigError(f"{where}: {text!r} is not a version range (e.g. '>=2.11')") from None


def in_range(version: str, spec: str, where: str = "version range") -> bool:
    """Whether the release ``version`` lies in ``spec``."""
    try:
        release = Version(version)
    except InvalidVersion:
        raise ConfigError(f"{where}: cannot read the engine version {version!r}") from None
    # a local build (+cpu, +cu130) or a pre-release is judged as the release it precedes
    return specifier(spec, where).contains(Version(release.base_version), prereleases=True)


def for_release(version: str, values: Mapping[str, T], where: str = "convention") -> T | None:
    """The value whose range holds ``version`` (ranges must not overlap), or None."""
    hits = [value for spec, value in values.items() if in_range(version, spec, where)]
    if len(hits) > 1:
        raise ConfigError(f"{where}: version {version} lies in more than one range")
    return hits[0] if hits else None


def versioned(
    version: str, table: Mapping[str, Mapping[str, T]], engine: str = "engine"
) -> dict[str, T]:
    """Conventions by release: ``{key: {range: value}}`` -> ``{key: value}`` for the
    ranges holding ``version``. A key with no range holding it is left out, so the suite
    judges that kink by subdifferential membership alone."""
    out = {}
    for key, ranges in table.items():
        value = for_release(version, ranges, f"{engine} convention {key}")
        if value is not None:
            out[key] = value
    return out
