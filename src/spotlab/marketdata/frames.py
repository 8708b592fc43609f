"""The column layouts of historical market data: candles and trades as Arrow tables.

These schemas are the contract between the importers, the downloader, the Parquet data
catalogue and the backtester.

Invariants
- Prices and volumes are exact decimals (``decimal256(76, 36)``: 40 integer digits, 36 places),
  never binary floats. 36 places hold every float a data file realistically carries exactly
  (a float's shortest text has at most 17 significant digits: e.g. the computed trade cost
  ``0.0042425399999999995`` in freqtrade's XRP/ETH trades needs 19, more than 18 allowed).
  A value read from a float source (CCXT lists, freqtrade feather) enters as the
  shortest decimal that reads back as the same float (``Decimal(repr(x))``), so
  converting it back gives the same float, bit for bit.
- Times are UTC: a candle by the start of its period (``open_time``, milliseconds);
  a trade by its time (microseconds: exchange dumps carry them).
- Rows are sorted by time and a time appears once per market and interval (candles);
  the importers report and refuse, or fix only when told, anything else.
"""

from __future__ import annotations

import pyarrow as pa

DECIMAL = pa.decimal256(76, 36)

CANDLE_SCHEMA = pa.schema(
    [
        pa.field("open_time", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("open", DECIMAL, nullable=False),
        pa.field("high", DECIMAL, nullable=False),
        pa.field("low", DECIMAL, nullable=False),
        pa.field("close", DECIMAL, nullable=False),
        pa.field("volume", DECIMAL, nullable=False),  # base asset
        pa.field("quote_volume", DECIMAL, nullable=True),  # absent in some layouts (CCXT, freqtrade)
        pa.field("trade_count", pa.int64(), nullable=True),
    ]
)

TRADE_SCHEMA = pa.schema(
    [
        pa.field("time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("id", pa.string(), nullable=True),
        pa.field("side", pa.string(), nullable=True),  # "buy" / "sell": the taker's side, when known
        pa.field("price", DECIMAL, nullable=False),
        pa.field("amount", DECIMAL, nullable=False),  # base asset
        pa.field("cost", DECIMAL, nullable=True),  # quote asset
    ]
)

#: Extra, nullable candle columns the catalogue keeps when a source has them (Binance klines),
#: so that such a file exports back byte for byte. ``CANDLE_SCHEMA`` itself is unchanged:
#: tables without these columns are accepted everywhere and read back without them by default.
CANDLE_EXTRA_FIELDS = [
    pa.field("taker_buy_volume", DECIMAL, nullable=True),  # base asset bought by takers
    pa.field("taker_buy_quote_volume", DECIMAL, nullable=True),
]

#: ``CANDLE_SCHEMA`` followed by ``CANDLE_EXTRA_FIELDS``: the layout of the catalogue's candle files.
STORED_CANDLE_SCHEMA = pa.schema([*CANDLE_SCHEMA, *CANDLE_EXTRA_FIELDS])
