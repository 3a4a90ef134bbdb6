"""autograd-conformance: a property-based conformance suite for autodiff engines."""

from conformance.backend import Backend, Unsupported
from conformance.errors import ConfigError

__all__ = ["Backend", "ConfigError", "Unsupported"]
__version__ = "0.1.0"
