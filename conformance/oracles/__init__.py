"""The truth a check compares against, and the comparison itself.

Owns the expression programs the checks draw and evaluate (:mod:`~conformance.oracles.expr`),
the float64 derivative rules and their conditioning domains (:mod:`~conformance.oracles.op_rules`,
:mod:`~conformance.oracles.conditioning`), the first- and second-order numpy oracles
(:mod:`~conformance.oracles.first_order`, :mod:`~conformance.oracles.second_order`), the
per-dtype tolerance policy (:mod:`~conformance.oracles.tolerances`), and how a check passes,
fails or is unsupported (:mod:`~conformance.oracles.verdicts`,
:mod:`~conformance.oracles.vjp_checks`). Nothing here shares code with an adapter. May
import :mod:`conformance.errors`, :mod:`conformance.engine` and :mod:`conformance.specs`.
"""
