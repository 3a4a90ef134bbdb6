"""An engine whose error message is hostile: 10 MB long, full of terminal escape
sequences and bidi overrides. The reports must keep a short, escaped head of it."""

from __future__ import annotations

from typing import Any

from conformance.backends.torch_backend import TorchBackend

# clear the screen, retitle the window, hide what follows, then reverse it (U+202E)
NOISE = "\x1b[2J\x1b]0;owned\x07\x1b[8m\u202e"
MESSAGE_BYTES = 10 * 1024 * 1024


class EngineFault(RuntimeError):
    """What the noisy engine raises."""


class NoisyNegBackend(TorchBackend):
    """neg raises with a 10 MB message. GR-1's worked example uses neg."""

    name = "noisy-neg"

    def neg(self, a: Any) -> Any:
        line = NOISE + "x" * 1000 + "\n"
        raise EngineFault(line * (MESSAGE_BYTES // len(line.encode())))
