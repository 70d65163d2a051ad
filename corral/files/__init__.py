"""The Files API's store: files owned by teams, bytes in the shared database (docs/files.md).

`corral.files.store.FileStore` is the one entry point (the HTTP edge and the batch runner
use it) and `corral.files.purge.purge_expired` reclaims expired files; neither is
re-exported here, because they need the store and reading the `files:` settings (the
configuration imports `corral.files.settings`) must not load a database driver.
"""

from corral.files.batch_lines import BATCH_URLS, BatchLine, iter_batch_lines, parse_batch_line
from corral.files.errors import FileNotFound, FileQuotaExceeded, FileTooLarge, InvalidFile
from corral.files.settings import FileSettings
from corral.files.types import PURPOSES, UPLOAD_PURPOSES, FileObject, FilePage

__all__ = [
    "BATCH_URLS",
    "PURPOSES",
    "UPLOAD_PURPOSES",
    "BatchLine",
    "FileNotFound",
    "FileObject",
    "FilePage",
    "FileQuotaExceeded",
    "FileSettings",
    "FileTooLarge",
    "InvalidFile",
    "iter_batch_lines",
    "parse_batch_line",
]
