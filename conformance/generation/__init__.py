"""What the checks run on: Hypothesis strategies for expression graphs, inputs, dtypes
and learning rates (:mod:`~conformance.generation.strategies`), and OP-1's deterministic
op-by-op cases (:mod:`~conformance.generation.op_cases`). May import :mod:`conformance.errors`,
:mod:`conformance.engine`, :mod:`conformance.specs` and :mod:`conformance.oracles`.
"""
