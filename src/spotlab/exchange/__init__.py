"""The exchange service: commands through hold -> match -> settle, the event log, recovery."""

from spotlab.exchange.aio import AsyncExchange
from spotlab.exchange.service import Exchange

__all__ = ["AsyncExchange", "Exchange"]
