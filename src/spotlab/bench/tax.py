"""``spotlab bench tax``: a tax report over a million fills (target: <= 10 s).

The history is synthetic and seeded (same ``fills`` and ``seed``, same history): one account trading
BTC/USD, ETH/USD and ETH/BTC (``crypto_share`` of the fills, so crypto-to-crypto disposals and their fee
disposals are in it) about once a minute from 2024-01-01 (a million fills span about two years, so the
report year has short- and long-term lines), plus one crypto deposit per ``deposit_every`` fills. It is
valid: nothing is ever sold that is not held. Prices are random walks in whole cents (BTC/USD, ETH/USD)
and whole 1e-5 BTC (ETH/BTC); fees are 0.1 % of the notional, rounded down to the quote's unit.

Measured (``time.perf_counter``, best of ``repeats``), for each method: ``tax_report`` from the records to
the year's lines (events with valuation, matching the whole history, filtering the year) and, apart, the
year's Form 8949-style CSV. The valuation callable is a table (the BTC/USD walk, per minute), as the
exchange's price history would be. Generating the history is not timed.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from spotlab.risk.records import FillRecord, TransferRecord
from spotlab.tax.report import tax_report

TARGET_SECONDS = 10.0
START_NS = 1_704_067_200 * 1_000_000_000  # 2024-01-01 00:00 UTC
MINUTE_NS = 60 * 1_000_000_000


@dataclass(frozen=True)
class Options:
    fills: int = 1_000_000
    repeats: int = 1
    seed: int = 42
    crypto_share: float = 0.1  # a ratio, not money
    deposit_every: int = 1_000
    methods: tuple[str, ...] = ("fifo", "lifo", "hifo", "uk")
    year: int = 2025


def synthetic_history(options: Options) -> tuple[list[FillRecord], list[TransferRecord], list[Decimal]]:
    """``(fills, transfers, btc_usd_per_minute)``, oldest first."""
    rng = random.Random(options.seed)
    cent, satoshi5, lot = Decimal("0.01"), Decimal("0.00001"), Decimal("0.0001")
    btc_ticks, eth_ticks, cross_ticks = 4_000_000, 200_000, 5_000  # cents, cents, 1e-5 BTC
    held = {"BTC": 0, "ETH": 0}  # in lots of 1e-4
    fills: list[FillRecord] = []
    transfers: list[TransferRecord] = []
    btc_usd: list[Decimal] = []
    for index in range(options.fills):
        ts = START_NS + index * MINUTE_NS
        btc_ticks = max(100_000, btc_ticks + rng.randint(-2_000, 2_000))
        eth_ticks = max(10_000, eth_ticks + rng.randint(-200, 200))
        cross_ticks = max(500, cross_ticks + rng.randint(-3, 3))
        btc_usd.append(btc_ticks * cent)
        if index % options.deposit_every == 0:
            transfers.append(TransferRecord("deposit", "BTC", Decimal(1), Decimal(0), ts, index))
            held["BTC"] += 10_000
        if rng.random() < options.crypto_share:
            market, base, quote, price = "ETH/BTC", "ETH", "BTC", cross_ticks * satoshi5
        elif rng.random() < 0.5:
            market, base, quote, price = "BTC/USD", "BTC", "USD", btc_ticks * cent
        else:
            market, base, quote, price = "ETH/USD", "ETH", "USD", eth_ticks * cent
        lots = rng.randint(1, 5_000)
        side = "buy" if rng.random() < 0.5 or held[base] < lots else "sell"
        quantity = lots * lot
        notional = price * quantity
        unit = satoshi5 * Decimal("0.001") if quote == "BTC" else cent
        fee = (notional / 1000).quantize(unit, rounding="ROUND_DOWN")
        if side == "buy" and quote == "BTC":
            needed = int(((notional + fee) / lot).to_integral_value(rounding="ROUND_CEILING"))
            if held["BTC"] < needed:
                market, base, quote, price = "BTC/USD", "BTC", "USD", btc_ticks * cent
                notional = price * quantity
                fee = (notional / 1000).quantize(cent, rounding="ROUND_DOWN")
            else:
                held["BTC"] -= needed  # keeps the dust the account cannot see: never oversold
        elif side == "sell" and quote == "BTC":
            held["BTC"] += int(((notional - fee) / lot).to_integral_value(rounding="ROUND_FLOOR"))
        held[base] += lots if side == "buy" else -lots
        fills.append(FillRecord(index, market, side, price, quantity, fee, ts, index))
    return fills, transfers, btc_usd


def run(options: Options) -> dict[str, Any]:
    fills, transfers, btc_usd = synthetic_history(options)
    eth_btc_fills = sum(1 for fill in fills if fill.market == "ETH/BTC")

    def value(asset: str, amount: Decimal, time_ns: int) -> Decimal:
        if asset != "BTC":
            raise ValueError(f"the benchmark values only BTC, not {asset}")
        return amount * btc_usd[(time_ns - START_NS) // MINUTE_NS]

    methods = []
    for method in options.methods:
        best_seconds, report = float("inf"), None
        for _ in range(options.repeats):
            started = time.perf_counter()
            report = tax_report(fills, transfers, value, year=options.year, method=method, currency="USD")
            best_seconds = min(best_seconds, time.perf_counter() - started)
        started = time.perf_counter()
        form = report.form_8949_csv()
        csv_seconds = time.perf_counter() - started
        methods.append(
            {
                "method": method,
                "seconds": round(best_seconds, 3),
                "fills_per_second": round(len(fills) / best_seconds),
                "lines_in_year": len(report.lines),
                "open_lots": len(report.open_lots),
                "gain": str(report.gain),
                "proceeds": str(sum(line.proceeds - (line.fees if method == "uk" else 0) for line in report.lines)),
                "csv_seconds": round(csv_seconds, 3),
                "csv_bytes": len(form),
                "met": best_seconds <= TARGET_SECONDS,
            }
        )
    return {
        "fills": len(fills),
        "eth_btc_fills": eth_btc_fills,
        "deposits": len(transfers),
        "year": options.year,
        "repeats": options.repeats,
        "target_seconds": TARGET_SECONDS,
        "methods": methods,
    }


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    fills = int(args[0]) if args else Options.fills
    results = run(Options(fills=fills))
    print(f"tax report over {results['fills']:,} fills ({results['eth_btc_fills']:,} ETH/BTC, "
          f"{results['deposits']:,} deposits), year {results['year']}, target <= {TARGET_SECONDS} s")  # fmt: skip
    for row in results["methods"]:
        print(f"  {row['method']:>5}: {row['seconds']:7.3f} s  {row['fills_per_second']:>10,} fills/s  "
              f"{row['lines_in_year']:>9,} lines  8949 CSV {row['csv_seconds']:.3f} s  "
              f"{'met' if row['met'] else 'MISSED'}")  # fmt: skip


if __name__ == "__main__":
    main()
