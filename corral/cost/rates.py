"""Per-token prices as a plain value, shared by the catalog and the `pricing:` settings.

Its own module, importing nothing from Corral, so the settings that build rates from
configuration and the catalog that loads them from `prices.json` both depend on it
rather than on each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per 1M tokens of each kind. None: not priced separately (see pricing.py).
    `units`: USD per unit for calls billed per image, character or audio second
    (corral.cost.units), by rate name."""

    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None  # cache reads; None: billed as input
    reasoning: Decimal | None = None  # None: reasoning is billed as output (the usual case)
    cache_write: Decimal | None = None  # Anthropic 5-minute cache writes; None: as input
    cache_write_1h: Decimal | None = None  # Anthropic 1-hour cache writes; None: as cache_write
    units: Mapping[str, Decimal] = field(default_factory=dict, hash=False)
