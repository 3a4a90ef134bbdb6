"""The conformance checks: generic tests that load claims from specs/."""
