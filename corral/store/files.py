"""Private state on disk: directories 0700, files 0600, whatever the process umask.

Why: the database and the record spool hold request records (key ids, teams, costs, and
the content itself when capture is on); under the usual 022 umask they were readable by
every local user. Modes are set explicitly after creation, so a permissive umask cannot
widen them. Only what Corral creates is changed: an existing directory (``/srv``, the
directory of a configured ``sqlite:///`` path) keeps the mode its owner gave it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> None:
    """Create ``path`` and its missing parents, each 0700; existing directories are untouched."""
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue  # made a moment ago by another process: not ours to change
        directory.chmod(PRIVATE_DIR)


def create_private_file(path: Path) -> bool:
    """Create ``path`` empty with mode 0600; False (and nothing changed) if it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
    return True


def private_opener(path: str, flags: int) -> int:
    """For ``open(path, mode, opener=private_opener)``: a file it creates is 0600."""
    fd = os.open(path, flags, PRIVATE_FILE)
    if os.fstat(fd).st_size == 0:
        os.fchmod(fd, PRIVATE_FILE)
    return fd


def replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` over ``path`` atomically (a private temporary file, fsync'd, renamed)."""
    tmp = path.with_name(f".rewrite-{secrets.token_hex(6)}.tmp")  # not a spool segment, journal or lock
    try:
        with open(tmp, "wb", opener=private_opener) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
