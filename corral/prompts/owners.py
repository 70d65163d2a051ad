"""Owners: who they may be, and who the command line acts as.

An owner is a key id (``key_...``; the key's roles must still grant ``prompts.write`` or
``prompts.approve`` for it to act through the API) or ``cli:<os user>`` for people who run
``corral prompts`` on a host with the database's credentials. Owners are checked when a
prompt is created: a key id must name an existing, unrevoked key, so a typo cannot create an
owner nobody can act as (which would leave a protected label stuck).

What the two-person rule cannot see: two keys, or a key and an OS account, held by one
person. Name owners who are different people; the audit log shows who did what.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from corral.auth.service import AmbiguousKeyError, KeyNotFoundError, KeyService
from corral.core.errors import InvalidRequest
from corral.governance.audit import cli_actor
from corral.prompts.names import MAX_OWNERS, check_owner


def cli_owner() -> str:
    """``cli:<os user>`` from the process's user id (the password database), not from $USER or
    $LOGNAME: changing an environment variable must not make one person look like another."""
    try:
        import pwd  # POSIX only

        return f"cli:{pwd.getpwuid(os.getuid()).pw_name}"
    except (ImportError, KeyError, AttributeError):  # no passwd entry (containers), or Windows
        return cli_actor()


async def check_owners(keys: KeyService, owners: Iterable[object], param: str = "owners") -> list[str]:
    """The owners, checked: formats, and key ids that name live keys."""
    checked = list(dict.fromkeys(check_owner(o, param) for o in owners))
    if len(checked) > MAX_OWNERS:
        raise InvalidRequest(f"'{param}' may name at most {MAX_OWNERS} owners.", param=param)
    for owner in checked:
        if not owner.startswith("key_"):
            continue
        try:
            info = await keys.get(owner)
        except (KeyNotFoundError, AmbiguousKeyError):
            info = None
        if info is None or info.id != owner or info.revoked:
            raise InvalidRequest(f"'{param}' names {owner}, which is not a live key id (see GET /admin/keys "
                                 "or 'corral keys list').", param=param)
    return checked
