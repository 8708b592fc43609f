"""The validation report of an imported file: what was found, and what was done about it.

Checks (candles): gaps (missing periods, as ranges with counts), duplicate times (identical or
conflicting), rows out of time order, times not on a period boundary, high < low, open or close
outside [low, high], non-positive prices, negative volume. Trades: duplicate ids (identical or
conflicting), rows out of order, non-positive price or amount, negative cost.

Invariants
- Nothing is dropped or reordered silently. Errors refuse the import; only two kinds can be
  fixed, and only when asked: out-of-order rows (``sort``: a stable sort by time) and identical
  duplicates (``drop_duplicates``: the first copy stays). Every fix is listed in ``fixed``.
- Gaps are warnings: the data is imported as it is (never zero-filled).
- Line numbers are the file's (``first_line`` is the line of the first row).
- Counts are always complete; the rows listed are the first ``limit`` of each kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spotlab.marketdata.datastore import ms_to_datetime
from spotlab.marketdata.intervals import interval_ms, period_starts


@dataclass
class Issue:
    """One kind of finding: how many rows, and the first few described."""

    kind: str
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, text: str, limit: int) -> None:
        self.count += 1
        if len(self.examples) < limit:
            self.examples.append(text)


@dataclass
class ValidationReport:
    rows: int
    errors: dict[str, Issue] = field(default_factory=dict)  # refuse the import unless fixed
    warnings: dict[str, Issue] = field(default_factory=dict)  # reported, imported anyway
    fixed: list[str] = field(default_factory=list)
    fixed_count: int = 0
    limit: int = 10

    def error(self, kind: str, text: str) -> None:
        self.errors.setdefault(kind, Issue(kind)).add(text, self.limit)

    def warning(self, kind: str, text: str) -> None:
        self.warnings.setdefault(kind, Issue(kind)).add(text, self.limit)

    @property
    def ok(self) -> bool:
        return not self.errors

    def lines(self) -> list[str]:
        """The report as text, one finding per line."""
        out = [f"{self.rows} row(s) checked"]
        if not self.errors and not self.warnings:
            out.append("no problems found")
        for label, issues in (("error", self.errors), ("warning", self.warnings)):
            for issue in issues.values():
                more = issue.count - len(issue.examples)
                out.append(f"{label}: {issue.kind}: {issue.count}")
                out += [f"  {text}" for text in issue.examples]
                if more > 0:
                    out.append(f"  ... and {more} more")
        if self.fixed_count:
            out.append(f"fixed: {self.fixed_count} row(s)")
            out += [f"  {text}" for text in self.fixed]
            if self.fixed_count > len(self.fixed):
                out.append(f"  ... and {self.fixed_count - len(self.fixed)} more")
        return out


def check_candles(
    table: pa.Table,
    interval: str,
    *,
    first_line: int = 1,
    sort: bool = False,
    drop_duplicates: bool = False,
    limit: int = 10,
) -> tuple[pa.Table, ValidationReport]:
    """Validate candles in file order; return the table with the fixes asked for, and the report."""
    report = ValidationReport(table.num_rows, limit=limit)
    lines = np.arange(first_line, first_line + table.num_rows)
    times = table.column("open_time").cast(pa.int64()).to_numpy()
    length = interval_ms(interval)
    for i in np.flatnonzero(period_starts(interval, times) != times):
        report.error("time not on a UTC period boundary", f"line {lines[i]}: {_t(times[i])} is not a {interval} start")
    _check_prices(table, lines, report)
    table, lines, times = _order(table, lines, times, 1, report, sort)
    table, lines, times = _duplicates(table, lines, times, report, drop_duplicates)
    _gaps(times, length, interval, report)
    return table, report


def check_trades(
    table: pa.Table, *, first_line: int = 1, sort: bool = False, drop_duplicates: bool = False, limit: int = 10
) -> tuple[pa.Table, ValidationReport]:
    """Validate trades in file order (duplicates by id); return the fixed table and the report."""
    report = ValidationReport(table.num_rows, limit=limit)
    lines = np.arange(first_line, first_line + table.num_rows)
    rules = (("price", pc.less_equal, "<= 0"), ("amount", pc.less_equal, "<= 0"), ("cost", pc.less, "< 0"))
    for name, op, what in rules:
        values = table.column(name)
        bad = pc.fill_null(op(values, pa.scalar(0, values.type)), False).to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(bad):
            report.error(f"{name} {what}", f"line {lines[i]}: {name} {_plain(values[int(i)].as_py())}")
    times = table.column("time").cast(pa.int64()).to_numpy()
    table, lines, times = _order(table, lines, times, 1000, report, sort)
    ids = table.column("id").to_pylist()
    if any(value is not None for value in ids):
        keys = np.array([f"i:{v}" if v is not None else f"row:{n}" for n, v in enumerate(ids)], dtype=object)
        table, lines, times = _duplicates(table, lines, keys, report, drop_duplicates, what="trade id")
    return table, report


def _check_prices(table: pa.Table, lines: np.ndarray, report: ValidationReport) -> None:
    o, h, lo, c, v = (table.column(name) for name in ("open", "high", "low", "close", "volume"))
    zero = pa.scalar(0, o.type)
    checks = [
        ("high < low", pc.less(h, lo), lambda i: f"high {_p(h, i)} < low {_p(lo, i)}"),
        ("open outside [low, high]", pc.or_(pc.less(o, lo), pc.greater(o, h)), lambda i: f"open {_p(o, i)}"),
        ("close outside [low, high]", pc.or_(pc.less(c, lo), pc.greater(c, h)), lambda i: f"close {_p(c, i)}"),
        (
            "price <= 0",
            pc.less_equal(pc.min_element_wise(o, h, lo, c), zero),
            lambda i: f"open {_p(o, i)} high {_p(h, i)} low {_p(lo, i)} close {_p(c, i)}",
        ),
        ("volume < 0", pc.less(v, zero), lambda i: f"volume {_p(v, i)}"),
    ]  # fmt: skip
    times = table.column("open_time").cast(pa.int64()).to_numpy()
    for kind, mask, describe in checks:
        for i in np.flatnonzero(mask.to_numpy(zero_copy_only=False)):
            i = int(i)
            report.error(kind, f"line {lines[i]} ({_t(times[i])}): {describe(i)}")


def _order(table, lines, times, per_ms: int, report: ValidationReport, sort: bool):
    backwards = np.flatnonzero(np.diff(times) < 0) + 1
    if not backwards.size:
        return table, lines, times
    running_max = np.maximum.accumulate(times)
    kind = "row out of time order"
    for i in backwards:
        text = f"line {lines[i]}: {_t(times[i] // per_ms)} comes after {_t(running_max[i - 1] // per_ms)}"
        if sort:
            report.fixed_count += 1
            if len(report.fixed) < report.limit:
                report.fixed.append(f"moved {text}")
        else:
            report.error(kind, text)
    if not sort:
        return table, lines, times
    order = np.argsort(times, kind="stable")
    return table.take(pa.array(order)), lines[order], times[order]


def _duplicates(table, lines, keys, report: ValidationReport, drop: bool, what: str = "time"):
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    repeat = np.flatnonzero(sorted_keys[1:] == sorted_keys[:-1]) + 1
    if not repeat.size:
        return table, lines, keys
    rows = table.to_pylist()
    keep = np.ones(table.num_rows, dtype=bool)
    first_of = {}
    for position in range(len(order)):
        if position == 0 or sorted_keys[position] != sorted_keys[position - 1]:
            first_of[sorted_keys[position]] = int(order[position])
    for position in repeat:
        i = int(order[position])
        original = first_of[sorted_keys[position]]
        label = _t(keys[i]) if what == "time" else str(keys[i])[2:]
        if rows[i] != rows[original]:
            report.error(
                f"conflicting duplicate {what}",
                f"line {lines[i]}: {what} {label} also on line {lines[original]} with other values",
            )
            continue
        text = f"line {lines[i]}: {what} {label} repeats line {lines[original]} exactly"
        if drop:
            keep[i] = False
            report.fixed_count += 1
            if len(report.fixed) < report.limit:
                report.fixed.append(f"dropped {text}")
        else:
            report.error(f"identical duplicate {what}", text)
    if not drop or keep.all():
        return table, lines, keys
    return table.filter(pa.array(keep)), lines[keep], keys[keep]


def _gaps(times: np.ndarray, length: int, interval: str, report: ValidationReport) -> None:
    unique = np.unique(times)
    steps = np.diff(unique)
    if steps.size and steps.min() > length:
        report.warning(
            "interval", f"no two candles are one {interval} apart (the smallest step is {steps.min() // 1000} s): "
            "is --interval right?",
        )  # fmt: skip
    where = np.flatnonzero(steps > length)
    if not where.size:
        return
    total = int((steps[where] // length - 1).sum())
    kind = f"gap ranges ({total} missing {interval} period(s))"
    for i in where:
        missing = int(steps[i] // length) - 1
        start, end = unique[i] + length, unique[i + 1] - length
        span = _t(start) if missing == 1 else f"{_t(start)} .. {_t(end)}"
        report.warning(kind, f"{span}: {missing} missing")
    report.warnings[kind].count = int(where.size)


def _t(ms) -> str:
    return f"{ms_to_datetime(int(ms)):%Y-%m-%d %H:%M:%S}"


def _p(column, i: int) -> str:
    return _plain(column[i].as_py())


def _plain(value) -> str:
    return "null" if value is None else format(value.normalize(), "f")
