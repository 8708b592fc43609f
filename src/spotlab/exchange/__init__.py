"""The exchange service: commands through hold -> match -> settle, the event log, recovery."""

from spotlab.exchange.service import AsyncExchange, Exchange

__all__ = ["AsyncExchange", "Exchange"]
