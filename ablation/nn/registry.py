"""Lookup by name in the core's registries (activations, initialisers, optimisers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def lookup(registry: Mapping[str, T], kind: str, name: str) -> T:
    """``registry[name]``; an unknown or unhashable name raises ``ValueError`` with the choices."""
    try:
        return registry[name]
    except (KeyError, TypeError):
        choices = ", ".join(registry)
        raise ValueError(f"unknown {kind} {name!r}; choose one of: {choices}") from None
