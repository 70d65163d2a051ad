"""`files:` configuration: how much one file and one team may store (docs/files.md).

Why these defaults: 200 MB per file is OpenAI's limit for a batch input file, the largest
file any Corral feature reads today. Per team, 10,000 files and 20 GiB bound what one key
can put into the shared database (every byte lives in PostgreSQL or the SQLite file, so a
runaway uploader fills the disk every replica depends on); raise them for heavy batch use,
or set either to null to lift it. Batch input and output files expire after 30 days unless
the upload says otherwise, as OpenAI's do; other purposes are kept until deleted.

This module imports nothing but pydantic: `Settings` composes it as the `files:` key.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MB = 1_000_000
GIB = 1024**3
DAY_S = 86_400


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileSettings(_Strict):
    max_file_bytes: int = Field(200 * MB, ge=1)  # one file; a larger upload gets 413
    max_files_per_team: int | None = Field(10_000, ge=1)  # stored files per team (null: no limit)
    max_team_bytes: int | None = Field(20 * GIB, ge=1)  # stored bytes per team (null: no limit)
    # Expiry when the upload sets no expires_after, per purpose (seconds; absent: never).
    default_expiry_s: dict[str, int] = Field(
        default_factory=lambda: {"batch": 30 * DAY_S, "batch_output": 30 * DAY_S})
    max_batch_lines: int = Field(50_000, ge=1)  # requests in one batch input file (OpenAI's limit)
    max_batch_line_bytes: int = Field(8 * 1024 * 1024, ge=1024)  # one batch input line
    # An upload still unfinished after this long was abandoned (its process died): purged.
    abandoned_upload_s: int = Field(DAY_S, ge=60)
