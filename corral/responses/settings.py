"""`responses:` configuration: how long stored responses are kept (docs/responses.md).

Imports nothing but pydantic: `Settings` composes it, and reading a configuration must not
load the Responses runtime.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DAY_S = 86_400


class ResponseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Stored responses (`store: true`, the default) are deleted this long after they were
    # created, as OpenAI keeps them 30 days; the hourly purge job does it.
    retention_s: int = Field(30 * DAY_S, ge=3600)
