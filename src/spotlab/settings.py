"""Deployment settings: one class, read from flags and ``SPOTLAB_*`` environment variables.

Invariants
- Unknown ``SPOTLAB_*`` keys passed to the class are refused (``extra="forbid"``);
  every field has a documented default except the secret, which ``spotlab serve``
  creates once in the data directory (``secret.key``, mode 0600) when not given.
- Money settings are ``Decimal`` (strings in the environment), never floats.
- ``store_url`` is derived from ``data_dir`` unless given: the embedded default is
  ``sqlite:///<data_dir>/exchange.sqlite``.
"""

from __future__ import annotations

import os
import secrets
from decimal import Decimal
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Smallest deposit per asset (paper money still follows an exchange's rules); others: one minor unit.
DEFAULT_MIN_DEPOSITS = {
    "USDT": Decimal("10"),
    "USDC": Decimal("10"),
    "USD": Decimal("10"),
    "BTC": Decimal("0.0001"),
    "ETH": Decimal("0.001"),
    "SOL": Decimal("0.01"),
    "ADA": Decimal("1"),
    "DOT": Decimal("0.1"),
}


class Settings(BaseSettings):
    """How one spotlab server runs. Environment: ``SPOTLAB_<FIELD>`` (e.g. ``SPOTLAB_PORT=9000``)."""

    model_config = SettingsConfigDict(env_prefix="SPOTLAB_", extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Interface to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0: any free port).")
    data_dir: Path = Field(Path("spotlab-data"), description="Where the embedded store and the secret live.")
    store: str | None = Field(None, description="Store URL; default sqlite:///<data_dir>/exchange.sqlite.")
    secret_key: SecretStr | None = Field(
        None, description="Signs login tokens and derives API-key and 2FA secrets. Changing it revokes them all."
    )
    redis_url: str | None = Field(None, description="Share rate limits between API processes through Redis.")
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS; empty: CORS off.")
    tls_cert: Path | None = Field(None, description="PEM certificate; with tls_key serves HTTPS and sends HSTS.")
    tls_key: Path | None = Field(None, description="PEM private key for tls_cert.")
    log_level: str = Field("info", description="Log level of the JSON logs.")
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="Larger request bodies get 413.")
    history_linger_ms: int = Field(
        20,
        ge=0,
        le=1000,
        description="How long the history gathers events while no reader waits, so a busy exchange writes them in "
        "few transactions (0: one each). Reads never wait for it; candle and ticker news may lag by it.",
    )
    webhook_allow_private: bool = Field(
        False, description="Let alert webhooks go to private, loopback and link-local addresses (off: public only)."
    )

    token_ttl_seconds: int = Field(900, ge=10, description="Lifetime of a login (bearer) token.")
    login_max_failures: int = Field(5, ge=1, description="Failed logins in a row before the account locks.")
    login_lockout_seconds: int = Field(900, ge=1, description="How long a locked account stays locked.")
    password_memory_kib: int = Field(
        65536, ge=8, description="argon2id memory cost per password hash (KiB); lower only for tests."
    )
    password_time_cost: int = Field(3, ge=1, description="argon2id passes per password hash.")
    signature_window_ms: int = Field(5000, ge=100, description="Accepted clock skew of signed API-key requests.")
    withdrawal_address_delay_seconds: int = Field(
        86_400, ge=0, description="A newly whitelisted withdrawal address is usable after this delay."
    )
    min_deposits: dict[str, Decimal] = Field(
        default_factory=lambda: dict(DEFAULT_MIN_DEPOSITS), description="Smallest deposit per asset."
    )

    rate_limit_per_minute: int = Field(1200, ge=1, description="Request weight per minute per API key or login.")
    rate_limit_ip_per_minute: int = Field(600, ge=1, description="Request weight per minute per client IP.")

    def resolved_store(self) -> str:
        return self.store or f"sqlite:///{self.data_dir.resolve()}/exchange.sqlite"

    def resolved_secret(self) -> bytes:
        """The secret key; created once in ``data_dir/secret.key`` (mode 0600) when not configured."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()
