"""The withdrawal whitelist: the addresses a login may withdraw to, per asset.

Invariants
- An address belongs to one user and one asset; the same address for two assets is
  two entries. A user cannot add an address that is already on the list for that
  asset (``ADDRESS_EXISTS``) but may add it again after removing it.
- A new address becomes usable ``delay_seconds`` after it was added (``usable_from``,
  by this book's clock); ``require_usable`` refuses an address not on the list
  (``ADDRESS_NOT_WHITELISTED``) or not yet usable (``ADDRESS_NOT_YET_ACTIVE``,
  saying when it will be).
- Removal is soft (``removed_at``): a removed address is no longer listed or usable,
  and the row stays as the record of what was whitelisted when.
- Every query is scoped to the caller: another user's address is "not found",
  whether it exists or not.
- Addresses are checked loosely (no chain-specific format): 8 to 128 characters of
  ``A-Z a-z 0-9 : _ . -``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa

from spotlab.accounts.tables import metadata
from spotlab.accounts.tables import withdrawal_addresses as table
from spotlab.clock import Clock, ns_to_datetime
from spotlab.errors import ErrorCode, SpotlabError

ADDRESS_PATTERN = r"^[A-Za-z0-9:_.-]{8,128}$"
MAX_ADDRESSES_PER_USER = 100
_ADDRESS = re.compile(ADDRESS_PATTERN)
_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class WithdrawalAddress:
    id: int
    asset: str
    address: str
    label: str
    created_at_ns: int
    usable_from_ns: int

    @property
    def created_at(self):
        return ns_to_datetime(self.created_at_ns)

    @property
    def usable_from(self):
        return ns_to_datetime(self.usable_from_ns)

    def is_usable(self, now_ns: int) -> bool:
        return now_ns >= self.usable_from_ns


class AddressBook:
    """The whitelists of all users, in the ``withdrawal_addresses`` table of ``engine``."""

    def __init__(self, engine: sa.Engine, clock: Clock, delay_seconds: int) -> None:
        if delay_seconds < 0:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"delay_seconds must not be negative, got {delay_seconds}")
        metadata.create_all(engine)
        self._engine = engine
        self._clock = clock
        self._delay_ns = delay_seconds * _NS

    def add(self, username: str, asset: str, address: str, label: str) -> WithdrawalAddress:
        """Whitelist ``address`` for ``asset``; usable after the delay."""
        check_address(address)
        now = self._clock.now_ns()
        with self._engine.begin() as conn:
            if self._find(conn, username, asset, address) is not None:
                raise SpotlabError(
                    ErrorCode.ADDRESS_EXISTS,
                    f"{address} is already whitelisted for {asset}",
                    asset=asset,
                    address=address,
                )
            if self._count(conn, username) >= MAX_ADDRESSES_PER_USER:
                raise SpotlabError(
                    ErrorCode.VALIDATION_ERROR, f"at most {MAX_ADDRESSES_PER_USER} withdrawal addresses per user"
                )
            values = dict(
                username=username,
                asset=asset,
                address=address,
                label=label,
                created_at=now,
                usable_from=now + self._delay_ns,
                removed_at=None,
            )
            new_id = conn.execute(table.insert().values(**values)).inserted_primary_key[0]
        return WithdrawalAddress(new_id, asset, address, label, now, now + self._delay_ns)

    def list(self, username: str, asset: str | None = None) -> list[WithdrawalAddress]:
        """The user's whitelisted addresses (of ``asset`` if given), oldest first."""
        query = sa.select(table).where(table.c.username == username, table.c.removed_at.is_(None))
        if asset is not None:
            query = query.where(table.c.asset == asset)
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(table.c.id)).all()
        return [_entry(row) for row in rows]

    def remove(self, username: str, address_id: int) -> None:
        """Take an address off the user's whitelist; ``NOT_FOUND`` if it is not on it."""
        with self._engine.begin() as conn:
            done = conn.execute(
                table.update()
                .where(table.c.id == address_id, table.c.username == username, table.c.removed_at.is_(None))
                .values(removed_at=self._clock.now_ns())
            ).rowcount
        if not done:
            raise SpotlabError(
                ErrorCode.NOT_FOUND, f"no withdrawal address {address_id} on your whitelist", id=address_id
            )

    def require_usable(self, username: str, asset: str, address: str) -> WithdrawalAddress:
        """The whitelist entry a withdrawal of ``asset`` to ``address`` may use, or the refusal."""
        with self._engine.connect() as conn:
            row = self._find(conn, username, asset, address)
        if row is None:
            raise SpotlabError(
                ErrorCode.ADDRESS_NOT_WHITELISTED,
                f"{address[:128]} is not on your withdrawal whitelist for {asset}; add it with "
                "POST /v1/withdrawal-addresses (usable after the waiting period)",
                asset=asset,
            )
        entry = _entry(row)
        if not entry.is_usable(self._clock.now_ns()):
            when = _iso(entry.usable_from_ns)
            raise SpotlabError(
                ErrorCode.ADDRESS_NOT_YET_ACTIVE,
                f"{address} was whitelisted recently and becomes usable at {when}",
                asset=asset,
                usable_from=when,
            )
        return entry

    @staticmethod
    def _find(conn, username: str, asset: str, address: str):
        return conn.execute(
            sa.select(table).where(
                table.c.username == username,
                table.c.asset == asset,
                table.c.address == address,
                table.c.removed_at.is_(None),
            )
        ).first()

    @staticmethod
    def _count(conn, username: str) -> int:
        query = sa.select(sa.func.count()).where(table.c.username == username, table.c.removed_at.is_(None))
        return conn.execute(query).scalar_one()


def check_address(address: str) -> None:
    """Refuse an address that is not 8-128 characters of ``A-Za-z0-9:_.-`` (``VALIDATION_ERROR``)."""
    if not isinstance(address, str) or not _ADDRESS.match(address):
        raise SpotlabError(
            ErrorCode.VALIDATION_ERROR,
            "a withdrawal address has 8 to 128 characters: letters, digits, ':', '_', '.' or '-'",
            field="address",
        )


def _entry(row) -> WithdrawalAddress:
    return WithdrawalAddress(row.id, row.asset, row.address, row.label, row.created_at, row.usable_from)


def _iso(ns: int) -> str:
    return ns_to_datetime(ns).isoformat().replace("+00:00", "Z")
