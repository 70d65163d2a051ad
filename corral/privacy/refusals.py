"""What the privacy policy answers instead of a request, and how errors are kept from leaking.

Shared by the privacy stage (corral.privacy.stage) and its pass-through handling
(corral.privacy.forward): a ``block`` refusal and the scrubbing of values out of error messages.
"""

from __future__ import annotations

from corral.core.errors import AllProvidersFailed, CorralError, InvalidRequest
from corral.privacy.redact import Vault


class PIIDetected(InvalidRequest):
    """A block policy refused the request (the message names types, never values)."""

    code = "pii_detected"


def scrub_error(exc: CorralError, vault: Vault) -> CorralError:
    """Replace original values in the error's message (and nested provider errors) in place."""
    if vault.size == 0:
        return exc
    errors: list[CorralError] = [exc]
    if isinstance(exc, AllProvidersFailed):
        errors += exc.provider_errors.values()
    for err in errors:
        message = vault.scrub(err.message)
        if message != err.message:
            err.message = message
            err.args = (message, *err.args[1:])
    return exc


def block_message(counts: dict[str, int], model: str) -> str:
    types = ", ".join(sorted(counts))
    return (
        f"The request contains personal data ({types}) and the privacy policy for model '{model}' "
        "blocks such requests. Remove or anonymize it and send the request again, or ask an "
        "administrator about the route's privacy policy."
    )
