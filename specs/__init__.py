"""The claim data, shipped inside the package as ``conformance.spec_data``."""
