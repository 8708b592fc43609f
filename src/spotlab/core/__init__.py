"""The pure core: value types, orders, the order book, matching, the ledger, fees, events.

Nothing here does I/O, reads a clock or logs: time comes in as an argument.
"""
