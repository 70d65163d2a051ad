"""Who sees a stored object: the caller's team (default), or only the key that created it.

Files, batches, stored responses and vector stores are written with the creating key's team
and key id. `ownership: team` (the default, as OpenAI scopes them to a project: every key of
the project sees them) reads them by team; `ownership: key` reads them by team and key, so
a key sees only what it created. Either way an object out of scope is answered exactly like a
missing one (404), so nobody learns that it exists. The SQL condition is
corral.store.ownership.owned_by (this module stays free of the database: configuration
imports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Ownership = Literal["team", "key"]


@dataclass(frozen=True, slots=True)
class Scope:
    """The objects a caller may see: its team's, and only its key's when `key_id` is set."""

    team: str
    key_id: str | None = None


Owner = str | Scope  # a team name (Corral's own reads: a batch's input, a job's response) or a Scope
