"""The ledger: every account's available and locked balance per asset, moved only by postings.

Invariants
- A balance row is ``[available, locked, account, asset]``, amounts in the asset's
  minor units; neither amount is ever negative.
- Every movement is one of the postings below, and each posting is balanced: what
  leaves one cell enters another, except deposits and withdrawals, which cross the
  exchange's boundary and are totalled in ``deposited`` and ``withdrawn``.
  Hence conservation: for each asset, the sum of all rows (users and the fee
  account) equals ``deposited - withdrawn``, exactly, after every command.
- Funds are held (available -> locked) before the book sees an order and released
  (locked -> available) when the order no longer needs them.
- Fees go to the reserved account ``FEE_ACCOUNT``.

The engine keeps direct references to rows on orders, so settlement touches no
dictionary on the hot path; the postings take rows, not names.
"""

from __future__ import annotations

FEE_ACCOUNT = "@fees"

Row = list  # [available, locked, account, asset]: the owner rides along for BalanceChanged events


class Ledger:
    __slots__ = ("rows", "deposited", "withdrawn")

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Row]] = {FEE_ACCOUNT: {}}
        self.deposited: dict[str, int] = {}
        self.withdrawn: dict[str, int] = {}

    def open_account(self, account: str) -> dict[str, Row]:
        rows: dict[str, Row] = {}
        self.rows[account] = rows
        return rows

    def row(self, account: str, asset: str) -> Row:
        """The row of ``account`` in ``asset``, created empty on first use."""
        rows = self.rows[account]
        row = rows.get(asset)
        if row is None:
            row = rows[asset] = [0, 0, account, asset]
        return row

    # -- postings across the boundary -------------------------------------------

    def deposit(self, row: Row, asset: str, amount: int) -> None:
        row[0] += amount
        self.deposited[asset] = self.deposited.get(asset, 0) + amount

    def withdraw(self, row: Row, fee_row: Row, asset: str, amount: int, fee: int) -> None:
        """``amount`` leaves ``row``; ``fee`` of it goes to the fee account, the rest leaves the exchange."""
        row[0] -= amount
        fee_row[0] += fee
        self.withdrawn[asset] = self.withdrawn.get(asset, 0) + amount - fee

    # -- totals --------------------------------------------------------------------

    def totals(self) -> dict[str, int]:
        """Sum of every row (available + locked) per asset."""
        sums: dict[str, int] = {}
        for rows in self.rows.values():
            for asset, row in rows.items():
                sums[asset] = sums.get(asset, 0) + row[0] + row[1]
        return sums

    def check_conservation(self) -> None:
        """Raise ``AssertionError`` unless every asset is conserved and no row is negative."""
        for account, rows in self.rows.items():
            for asset, row in rows.items():
                assert row[0] >= 0 and row[1] >= 0, f"{account} {asset}: negative row {row[0]}/{row[1]}"
        totals = self.totals()
        for asset in set(totals) | set(self.deposited):
            expected = self.deposited.get(asset, 0) - self.withdrawn.get(asset, 0)
            assert totals.get(asset, 0) == expected, (
                f"{asset} not conserved: balances sum to {totals.get(asset, 0)}, deposits - withdrawals = {expected}"
            )


# -- postings inside the exchange ---------------------------------------------------


def hold(row: Row, amount: int) -> None:
    """available -> locked."""
    row[0] -= amount
    row[1] += amount


def release(row: Row, amount: int) -> None:
    """locked -> available."""
    row[1] -= amount
    row[0] += amount
