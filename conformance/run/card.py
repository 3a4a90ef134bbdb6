"""The engine card: what a supervised run's controller knows of the engine.

The probe (:mod:`conformance.run.probe`) loads the adapter in a throwaway process and
writes its card; the controller reads the card and never imports the adapter, so no
engine code runs where the verdicts are gathered and the reports written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class EngineCard:
    """The adapter's facts the reports and reproduction commands read: plain data."""

    name: str
    conformance_ref: str
    dtypes: tuple[str, ...]
    capabilities: frozenset[str] = frozenset()
    version_map: dict[str, str] = field(default_factory=dict)

    def versions(self) -> dict[str, str]:
        return dict(self.version_map)

    @classmethod
    def of(cls, backend: Any) -> EngineCard:
        """The card of a loaded (and validated) adapter."""
        versions = backend.versions() if callable(getattr(backend, "versions", None)) else {}
        return cls(
            name=str(backend.name),
            conformance_ref=str(getattr(backend, "conformance_ref", backend.name)),
            dtypes=tuple(backend.dtypes),
            capabilities=frozenset(getattr(backend, "capabilities", ())),
            version_map={str(k): str(v) for k, v in dict(versions).items()},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "conformance_ref": self.conformance_ref,
            "dtypes": list(self.dtypes),
            "capabilities": sorted(self.capabilities),
            "versions": self.version_map,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> EngineCard:
        return cls(
            name=str(doc["name"]),
            conformance_ref=str(doc["conformance_ref"]),
            dtypes=tuple(doc["dtypes"]),
            capabilities=frozenset(doc["capabilities"]),
            version_map=dict(doc["versions"]),
        )


def read(path: Path) -> EngineCard:
    return EngineCard.from_dict(json.loads(path.read_text(encoding="utf-8"))["card"])
