"""Alert rules, their firings and webhook deliveries, per account, in SQL tables beside the event log.

Tables (SQLAlchemy Core; SQLite by default, PostgreSQL through ``spotlab.store.sql.sql_engine``):
``alerts`` (one row per rule), ``alert_triggers`` (one row per firing, with the values behind it) and
``alert_deliveries`` (one row per webhook attempt and one per final outcome).

Invariants
- Isolation: every read and write of an alert is keyed by ``(account, id)``; another account's alert is
  "not found" (``NOT_FOUND``, never "forbidden"), so ids do not leak.
- At most ``MAX_ALERTS_PER_ACCOUNT`` alerts per account; the count and the insert run in one transaction.
- No usable webhook secret is stored: only a random ``secret_nonce``; the secret is derived from it and the
  server key (``AlertService``), shown once at creation.
- Deleting an alert deletes its triggers and deliveries.
- Times are integer nanoseconds UTC; values are JSON text of floats (analysis values, never money).
- A refusal changes nothing (each change is one transaction).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from spotlab.errors import ErrorCode, SpotlabError

__all__ = ["MAX_ALERTS_PER_ACCOUNT", "AlertRecord", "AlertStore", "DeliveryRecord", "TriggerRecord"]

MAX_ALERTS_PER_ACCOUNT = 100

metadata = sa.MetaData()

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account", sa.String(64), nullable=False, index=True),
    sa.Column("market", sa.String(32), nullable=False),  # engine symbol, BTC/USDT
    sa.Column("interval", sa.String(8), nullable=False),
    sa.Column("rule", sa.String(600), nullable=False),
    sa.Column("webhook_url", sa.String(600), nullable=True),
    sa.Column("secret_nonce", sa.String(64), nullable=False),
    sa.Column("note", sa.String(300), nullable=False, default=""),
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

alert_triggers = sa.Table(
    "alert_triggers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("candle_open_time", sa.BigInteger, nullable=False),
    sa.Column("fired_at", sa.BigInteger, nullable=False),
    sa.Column("values_json", sa.Text, nullable=False),
)

alert_deliveries = sa.Table(
    "alert_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "trigger_id", sa.Integer, sa.ForeignKey("alert_triggers.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("attempt", sa.Integer, nullable=False),  # 1.., or 0 for the final outcome row
    sa.Column("outcome", sa.String(16), nullable=False),  # delivered, failed (an attempt), gave_up, dropped, blocked
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("error", sa.String(300), nullable=True),
    sa.Column("at", sa.BigInteger, nullable=False),
)


@dataclass(frozen=True, slots=True)
class AlertRecord:
    id: int
    account: str
    market: str
    interval: str
    rule: str
    webhook_url: str | None
    secret_nonce: str
    note: str
    enabled: bool
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class TriggerRecord:
    id: int
    alert_id: int
    account: str
    candle_open_time: int
    fired_at: int
    values: dict[str, float | None]
    delivery: str | None  # the webhook's final outcome, if any yet


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    trigger_id: int
    attempt: int
    outcome: str
    status_code: int | None
    error: str | None
    at: int


_FIELDS = ("rule", "webhook_url", "note", "enabled")


def _alert(row: Any) -> AlertRecord:
    return AlertRecord(*(getattr(row, column.name) for column in alerts.columns))


def _not_found(alert_id: int) -> SpotlabError:
    return SpotlabError(ErrorCode.NOT_FOUND, f"no alert {alert_id} on this account", alert_id=alert_id)


class AlertStore:
    """The alert tables on one SQLAlchemy engine (created if missing).

    Cascading deletes need foreign keys on: ``sql_engine`` turns them on for SQLite; PostgreSQL enforces them.
    """

    def __init__(self, engine: sa.Engine, max_per_account: int = MAX_ALERTS_PER_ACCOUNT) -> None:
        self.engine = engine
        self.max_per_account = max_per_account
        metadata.create_all(engine)

    # -- alerts --------------------------------------------------------------------------------------

    def create(
        self,
        account: str,
        market: str,
        interval: str,
        rule: str,
        webhook_url: str | None,
        note: str,
        secret_nonce: str,
        now: int,
    ) -> AlertRecord:
        with self.engine.begin() as conn:
            count = conn.execute(sa.select(sa.func.count()).where(alerts.c.account == account)).scalar_one()
            if count >= self.max_per_account:
                raise SpotlabError(
                    ErrorCode.LIMIT_REACHED,
                    f"an account may keep at most {self.max_per_account} alerts; delete one first",
                    limit=self.max_per_account,
                )
            values = dict(
                account=account, market=market, interval=interval, rule=rule, webhook_url=webhook_url, note=note,
                secret_nonce=secret_nonce, enabled=True, created_at=now, updated_at=now,
            )  # fmt: skip
            new_id = conn.execute(alerts.insert().values(**values)).inserted_primary_key[0]
        return AlertRecord(id=int(new_id), **values)

    def get(self, account: str, alert_id: int) -> AlertRecord:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(alerts).where(alerts.c.id == alert_id, alerts.c.account == account)).first()
        if row is None:
            raise _not_found(alert_id)
        return _alert(row)

    def list(self, account: str) -> list[AlertRecord]:
        """The account's alerts, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(alerts).where(alerts.c.account == account).order_by(alerts.c.id.desc()))
            return [_alert(row) for row in rows]

    def all_enabled(self) -> list[AlertRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(alerts).where(alerts.c.enabled.is_(True)).order_by(alerts.c.id))
            return [_alert(row) for row in rows]

    def update(self, account: str, alert_id: int, now: int, **changes: Any) -> AlertRecord:
        """Change ``rule``, ``webhook_url``, ``note`` and/or ``enabled`` (the others are refused)."""
        unknown = set(changes) - set(_FIELDS)
        if unknown:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"cannot change {', '.join(sorted(unknown))}")
        with self.engine.begin() as conn:
            done = conn.execute(
                alerts.update()
                .where(alerts.c.id == alert_id, alerts.c.account == account)
                .values(**changes, updated_at=now)
            ).rowcount
        if not done:
            raise _not_found(alert_id)
        return self.get(account, alert_id)

    def delete(self, account: str, alert_id: int) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(alerts.delete().where(alerts.c.id == alert_id, alerts.c.account == account)).rowcount
        if not done:
            raise _not_found(alert_id)

    # -- triggers and deliveries ----------------------------------------------------------------------

    def record_trigger(
        self, alert_id: int, account: str, candle_open_time: int, fired_at: int, values: dict[str, float | None]
    ) -> int | None:
        """Record a firing; its id, or ``None`` if the alert was deleted meanwhile (nothing recorded)."""
        with self.engine.begin() as conn:
            exists = conn.execute(sa.select(alerts.c.id).where(alerts.c.id == alert_id)).first()
            if exists is None:
                return None
            row = dict(
                alert_id=alert_id, account=account, candle_open_time=candle_open_time, fired_at=fired_at,
                values_json=json.dumps(values, sort_keys=True),
            )  # fmt: skip
            return int(conn.execute(alert_triggers.insert().values(**row)).inserted_primary_key[0])

    def triggers(self, account: str, alert_id: int, limit: int = 100, before: int | None = None) -> list[TriggerRecord]:
        """The alert's firings, newest first (``before``: only ids below it)."""
        self.get(account, alert_id)  # NOT_FOUND for another account's alert
        final = (
            sa.select(alert_deliveries.c.outcome)
            .where(alert_deliveries.c.trigger_id == alert_triggers.c.id, alert_deliveries.c.attempt == 0)
            .limit(1)
            .scalar_subquery()
        )
        query = sa.select(alert_triggers, final.label("delivery")).where(
            alert_triggers.c.alert_id == alert_id, alert_triggers.c.account == account
        )
        if before is not None:
            query = query.where(alert_triggers.c.id < before)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(alert_triggers.c.id.desc()).limit(limit)).all()
        return [
            TriggerRecord(r.id, r.alert_id, r.account, r.candle_open_time, r.fired_at, json.loads(r.values_json),
                          r.delivery)
            for r in rows
        ]  # fmt: skip

    def record_delivery(
        self, trigger_id: int, attempt: int, outcome: str, status_code: int | None, error: str | None, at: int
    ) -> None:
        row = dict(
            trigger_id=trigger_id, attempt=attempt, outcome=outcome, status_code=status_code,
            error=None if error is None else error[:300], at=at,
        )  # fmt: skip
        with self.engine.begin() as conn:
            if conn.execute(sa.select(alert_triggers.c.id).where(alert_triggers.c.id == trigger_id)).first():
                conn.execute(alert_deliveries.insert().values(**row))

    def deliveries(self, trigger_id: int) -> list[DeliveryRecord]:
        """Every recorded attempt and the final outcome (attempt 0) of a firing, in order."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(alert_deliveries)
                .where(alert_deliveries.c.trigger_id == trigger_id)
                .order_by(alert_deliveries.c.id)
            ).all()
        return [DeliveryRecord(r.trigger_id, r.attempt, r.outcome, r.status_code, r.error, r.at) for r in rows]
