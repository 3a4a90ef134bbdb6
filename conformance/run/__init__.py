"""Running the suite: the ``autograd-conformance`` command (:mod:`~conformance.run.cli`) and
its settings (:mod:`~conformance.run.settings`), the in-process runner, the pytest plugin
that loads the backend and applies expected failures (its run state in
:mod:`~conformance.run.state`), worker isolation and watchdogs,
time limits, Hypothesis profiles and scope. The top layer: may import every other
subpackage.
"""
