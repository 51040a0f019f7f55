"""Activation names (resolved once, computed natively)."""

from __future__ import annotations

from .reference.activations import ACTIVATIONS  # one list of names for both


def get(identifier) -> str:
    """Resolve an activation given by name (or ``None`` for linear) to its canonical name."""
    if identifier is None:
        return "linear"
    if isinstance(identifier, str):
        name = identifier.lower()
        if name in ACTIVATIONS:
            return name
    valid = ", ".join(repr(a) for a in ACTIVATIONS)
    raise ValueError(f"unknown activation {identifier!r}; expected one of {valid} (or None)")
