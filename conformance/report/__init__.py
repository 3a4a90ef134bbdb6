"""What a run says: verdicts per claim and dtype, ``results.json``, JUnit, Markdown and
HTML (:mod:`~conformance.report.results`, :mod:`~conformance.report.render`), OP-1's op
table, and the README matrix (:mod:`~conformance.report.matrix`, which runs backends
through the command). May import :mod:`conformance.errors`, :mod:`conformance.engine`,
:mod:`conformance.specs` and :mod:`conformance.oracles`; never the suite or the run.
"""
