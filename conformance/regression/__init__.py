"""The seed's linear regression: the model and training loop run on any backend
(:mod:`~conformance.regression.model`), the closed-form float64 theory of its quadratic loss
and the float error bounds (:mod:`~conformance.regression.bounds`), and the convergence
checks built on them (:mod:`~conformance.regression.checks`). May import
:mod:`conformance.errors`, :mod:`conformance.engine`, :mod:`conformance.specs` and
:mod:`conformance.oracles`.
"""
