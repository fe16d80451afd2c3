"""A table of parts by kind: what :mod:`engine.optimizers` and :mod:`engine.schedules` share.

Each part is a class with a ``kind()`` (its config's tag), a ``config`` class and a ``title``.
The registry is a plain ``dict`` from kind to part, in the order the window lists them, with
the three readings every part table needs: the part of a kind (a KeyError naming the known
kinds), the config schema's tagged union, and the panel's chooser titles.

Light: imports pydantic, never torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, TypeVar, Union

from pydantic import Field

__all__ = ["PartRegistry"]

P = TypeVar("P")


class PartRegistry(dict[str, P]):
    """Parts by kind (``what`` names the family in errors: "optimizer", "schedule")."""

    def __init__(self, what: str, parts: Iterable[P]) -> None:
        super().__init__((part.kind(), part) for part in parts)  # type: ignore[attr-defined]
        self.what = what

    def part_for(self, kind: str) -> P:
        """The part registered for ``kind`` (KeyError names the known kinds)."""
        try:
            return self[kind]
        except KeyError:
            raise KeyError(f"unknown {self.what} kind {kind!r}; registered: {', '.join(self)}") from None

    def union(self) -> Any:
        """The config schema's entry: the parts' config classes, tagged by ``kind``."""
        classes = tuple(part.config for part in self.values())  # type: ignore[attr-defined]
        return Annotated[Union[classes], Field(discriminator="kind")]  # noqa: UP007 - built at run time

    def titles(self) -> dict[str, str]:
        """The panel's chooser entries: each part's title by kind."""
        return {kind: part.title for kind, part in self.items()}  # type: ignore[attr-defined]
