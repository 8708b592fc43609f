"""The simulated market: reference prices, trading agents and the loop that runs them on an exchange.

- ``spotlab.sim.prices``: per-asset USD reference levels (correlated random walks with jumps, stablecoins
  pegged, or replayed bars); every market's reference is ``usd(base) / usd(quote)``.
- ``spotlab.sim.agents``: market makers, noise traders, momentum traders and whales, each with its own
  account, acting only through the ``Exchange`` facade.
- ``spotlab.sim.simulator``: ``SimConfig`` and ``Simulator`` (``setup``, ``step``, ``run``, ``stats``).
"""

from spotlab.sim.prices import AssetModel, Basis, LinkedPrices, ReferencePrices, ReplayPath
from spotlab.sim.simulator import (
    FULL_MIX,
    MAKERS_AND_NOISE,
    MAKERS_ONLY,
    AgentMix,
    Funding,
    MarketQuality,
    SimConfig,
    Simulator,
    market_quality,
)

__all__ = [
    "FULL_MIX",
    "MAKERS_AND_NOISE",
    "MAKERS_ONLY",
    "AgentMix",
    "AssetModel",
    "Basis",
    "LinkedPrices",
    "Funding",
    "MarketQuality",
    "ReferencePrices",
    "ReplayPath",
    "SimConfig",
    "Simulator",
    "market_quality",
]
