"""Signals and alerts over the indicators.

- ``rules``: the alert rule language, parsed safely (never ``eval``) into a typed tree;
- ``evaluate``: a rule at the last closed candle, vectorised or one candle at a time (same answers);
- ``engine``: edge-triggered firing (fires when a rule becomes true, re-arms when it becomes false);
- ``signals``: a market's bullish / bearish / neutral vote with its reasons;
- ``store`` and ``service``: alert rules per account, their firings and deliveries, in SQL;
- ``webhooks``: HMAC-signed webhook delivery with retries, from a bounded queue.
"""
