"""The registry's records as Python values, and their JSON views for the API and CLI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts on the registry: a key (``key_...``, with its name) or ``cli:<os user>``."""

    id: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class PromptVersion:
    name: str
    version: int
    text: str
    sha256: str
    author: str
    author_name: str | None
    note: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> PromptVersion:
        return cls(row["name"], row["version"], row["text"], row["sha256"], row["author"],
                   row["author_name"], row["note"], row["created_at"])

    def to_dict(self, *, text: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "object": "prompt.version", "name": self.name, "version": self.version, "sha256": self.sha256,
            "chars": len(self.text), "author": self.author, "author_name": self.author_name,
            "note": self.note, "created_at": self.created_at.isoformat()}
        if text:
            out["text"] = self.text
        return out


@dataclass(frozen=True, slots=True)
class Change:
    """A proposed move of a protected label: pending until a second owner approves or rejects it."""

    id: int
    name: str
    label: str
    from_version: int | None
    to_version: int
    note: str | None
    state: str  # pending | applied | rejected
    proposed_by: str
    proposed_by_name: str | None
    proposed_at: datetime
    decided_by: str | None
    decided_by_name: str | None
    decided_at: datetime | None
    reason: str | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Change:
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"object": "prompt.change"}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, datetime) else value
        return out


@dataclass(frozen=True, slots=True)
class Prompt:
    name: str
    description: str | None
    owners: tuple[str, ...]
    protected_labels: tuple[str, ...]
    created_by: str
    created_at: datetime
    labels: dict[str, int] = field(default_factory=dict)
    latest_version: int = 0

    @classmethod
    def from_row(cls, row: Mapping[Any, Any], labels: dict[str, int], latest: int) -> Prompt:
        return cls(row["name"], row["description"], tuple(orjson.loads(row["owners"])),
                   tuple(orjson.loads(row["protected_labels"])), row["created_by"], row["created_at"],
                   labels, latest)

    def is_owner(self, actor: Actor) -> bool:
        return actor.id in self.owners

    def to_dict(self) -> dict[str, Any]:
        return {"object": "prompt", "name": self.name, "description": self.description,
                "owners": list(self.owners), "protected_labels": list(self.protected_labels),
                "labels": dict(sorted(self.labels.items())), "latest_version": self.latest_version,
                "created_by": self.created_by, "created_at": self.created_at.isoformat()}


@dataclass(frozen=True, slots=True)
class LabelMove:
    """What asking to move a label did: moved at once (unprotected) or a pending change."""

    name: str
    label: str
    version: int
    applied: bool
    change: Change | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.change is not None and not self.applied:
            return self.change.to_dict()
        return {"object": "prompt.label", "name": self.name, "label": self.label, "version": self.version,
                "applied": True, "change_id": None if self.change is None else self.change.id}
