"""Package discovery that cannot miss a subpackage: every package under conformance/ is
found, plus the claims in specs/, installed as ``conformance.spec_data`` (the rest of the
configuration is in pyproject.toml)."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["conformance", "conformance.*"]), "conformance.spec_data"],
    package_dir={"conformance.spec_data": "specs"},
)
