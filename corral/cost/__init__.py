"""Cost per request: a dated price catalog, configured overrides, self-hosted pricing, totals.

An operator must be able to trust every figure: costs are computed exactly from dated,
sourced prices; a model without a price is reported *unpriced* (cost None), never $0;
a call the provider did not bill costs $0. See docs/cost.md.

Totals over stored records live in `corral.cost.totals` and are not re-exported here: they
need the store, and importing any `corral.cost` module (the configuration imports
`cost.settings`) must not load a database driver.
"""

from corral.cost.catalog import ModelPrice, PriceCatalog, PriceTier, normalize_model
from corral.cost.pricing import CostBreakdown, CostLine, Pricer, cost_of, default_pricer, is_billed
from corral.cost.rates import Rates
from corral.cost.settings import DeploymentPriceSettings, ModelPriceSettings, PricingSettings, TierSettings

__all__ = [
    "CostBreakdown",
    "CostLine",
    "DeploymentPriceSettings",
    "ModelPrice",
    "ModelPriceSettings",
    "PriceCatalog",
    "PriceTier",
    "Pricer",
    "PricingSettings",
    "Rates",
    "TierSettings",
    "cost_of",
    "default_pricer",
    "is_billed",
    "normalize_model",
]
