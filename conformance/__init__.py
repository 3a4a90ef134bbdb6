"""autograd-conformance: a property-based conformance suite for autodiff engines.

The package is layered; a subpackage may import only those before it:

1. :mod:`conformance.errors`: the one configuration error (no imports);
2. :mod:`conformance.engine`: the backend protocol, capabilities, registry, op probe,
   scalar helper, expected-failure files (what an adapter implements and declares);
3. :mod:`conformance.specs`: the claims, as data;
4. :mod:`conformance.oracles`: expression programs, float64 oracles, tolerances, verdicts;
5. :mod:`conformance.generation`: Hypothesis strategies and OP-1's cases;
6. :mod:`conformance.edges`: the edge and non-finite tiers, their references and judging;
7. :mod:`conformance.regression`: the seed's regression and its closed-form theory;
8. :mod:`conformance.suite`: the claims' checks (pytest tests);
9. :mod:`conformance.report`: results, renderings, the op table, the matrix;
10. :mod:`conformance.run`: the command, settings, runner, plugin, isolation.

:mod:`conformance.backends` (the shipped adapters) sits beside the layers and imports
only :mod:`conformance.engine` and :mod:`conformance.errors`. ``tests/test_layers.py``
enforces the order. The older module paths the README once showed
(``conformance.backend``, ``conformance.scalar``, ``conformance.structure``,
``conformance.vacuity``) still import, as aliases of their new homes.
"""

import sys

from conformance import engine
from conformance.engine import Backend, Unsupported
from conformance.engine import scalar as _scalar
from conformance.engine import structure as _structure
from conformance.errors import ConfigError
from conformance.suite import vacuity as _vacuity

# older public paths, for adapters written against them
for _old, _module in {
    "backend": engine,
    "scalar": _scalar,
    "structure": _structure,
    "vacuity": _vacuity,
}.items():
    sys.modules[f"{__name__}.{_old}"] = _module
    globals()[_old] = _module
del _old, _module

ScalarBackend = _scalar.ScalarBackend

__all__ = ["Backend", "ConfigError", "ScalarBackend", "Unsupported"]
__version__ = "0.1.0"
