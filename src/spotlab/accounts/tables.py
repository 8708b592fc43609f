"""The account tables (SQLAlchemy Core), beside the event log.

Invariants
- No secret is stored in a form that can be used: passwords are argon2 hashes;
  API-key secrets and 2FA seeds are derived from the server secret and a random
  per-key (per-enrolment) nonce, and only a SHA-256 of the API-key secret is kept.
- ``username`` is the exchange account id and never changes.
- Times are integer nanoseconds UTC.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("failed_logins", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", sa.BigInteger, nullable=False, default=0),
    sa.Column("token_epoch", sa.Integer, nullable=False, default=0),  # raise to revoke every login token
    sa.Column("totp_nonce", sa.String(64), nullable=True),  # set while 2FA is enabled or being enrolled
    sa.Column("totp_enabled", sa.Boolean, nullable=False, default=False),
    sa.Column("totp_last_step", sa.BigInteger, nullable=False, default=0),  # a code is accepted once
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(64), sa.ForeignKey("users.username"), nullable=False, index=True),
    sa.Column("label", sa.String(100), nullable=False),
    sa.Column("scopes", sa.String(64), nullable=False),  # space-separated, sorted
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
)

withdrawal_addresses = sa.Table(
    "withdrawal_addresses",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), sa.ForeignKey("users.username"), nullable=False, index=True),
    sa.Column("asset", sa.String(16), nullable=False),
    sa.Column("address", sa.String(128), nullable=False),
    sa.Column("label", sa.String(100), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("usable_from", sa.BigInteger, nullable=False),
    sa.Column("removed_at", sa.BigInteger, nullable=True),
)
sa.Index(
    "ix_withdrawal_address_unique",
    withdrawal_addresses.c.username,
    withdrawal_addresses.c.asset,
    withdrawal_addresses.c.address,
    withdrawal_addresses.c.removed_at,
)
