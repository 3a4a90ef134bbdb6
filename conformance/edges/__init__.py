"""Where real gradient bugs live: the input tiers beyond the well-conditioned one, their
high-precision and IEEE references, and the judging of NF-1, KP-1 and SR-1.

* :mod:`~conformance.edges.tiers`: the ``edge`` and ``nonfinite`` input tiers, per op;
* :mod:`~conformance.edges.reference`: the mpmath reference (SR-1, KP-1) and the IEEE
  limit rules (NF-1), independent of every engine and of :mod:`conformance.oracles.first_order`;
* :mod:`~conformance.edges.judge`: comparisons that know non-finite values and
  subdifferentials.
"""
