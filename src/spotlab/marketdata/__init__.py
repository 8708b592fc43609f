"""Market data derived from trades: rolling 24 h statistics (``ticker``)."""

from spotlab.marketdata.ticker import MarketTickers, RollingWindow, WindowStats

__all__ = ["MarketTickers", "RollingWindow", "WindowStats"]
