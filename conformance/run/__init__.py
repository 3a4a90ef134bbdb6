"""Running the suite: the ``autograd-conformance`` command (:mod:`~conformance.run.cli`) and
its settings (:mod:`~conformance.run.settings`); the supervised run, whose owner never
runs engine code (:mod:`~conformance.run.supervisor`, over the throwaway
:mod:`~conformance.run.probe`, the :mod:`~conformance.run.controller` that knows the
engine by its :mod:`~conformance.run.card`, and :mod:`~conformance.run.reaper`); the
in-process runner and what a run comes to (:mod:`~conformance.run.outcome`); the pytest
plugin that loads the backend and applies expected failures (its run state in
:mod:`~conformance.run.state`), worker isolation and watchdogs, tamper evidence, time
limits, Hypothesis profiles and scope. The top layer: may import every other subpackage.
"""
