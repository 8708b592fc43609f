"""Everything a request handler may use, built once per app (``app.state.ctx``).

Invariants
- Handlers reach services only through this object (typed dependency ``CtxDep``),
  so tests build an app around an in-memory exchange and a simulated clock.
- The clock of the exchange, the account service and signature checks is one clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spotlab.accounts import AccountService
from spotlab.clock import Clock
from spotlab.exchange import Exchange
from spotlab.settings import Settings


@dataclass
class ApiContext:
    settings: Settings
    exchange: Exchange
    accounts: AccountService
    clock: Clock
    replay: Any  # accounts.replay.InProcessReplayCache or RedisReplayCache
    history: Any = None  # store.history.History
    hub: Any = None  # api.channels.Streams: the WebSocket fan-out
    metrics: Any = None  # api.metrics.Metrics
    extras: dict[str, Any] = field(default_factory=dict)
