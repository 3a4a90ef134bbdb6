"""The conformance checks: generic pytest tests that load claims from specs/, one module
per family of claims, and :mod:`~conformance.suite.vacuity`, which counts whether each
example exercised its subject. May import every subpackage below the run and the report
(engine, oracles, generation, edges, regression).
"""
