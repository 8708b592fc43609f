"""The journal's annotations, in the side database ``journal`` (``spotlab.store.sql.sql_engine(url, "journal")``).

One row per (account, kind, target): ``kind`` is ``"round_trip"`` (target: the trip's id,
``BTC-USDT-77``) or ``"fill"`` (target: the fill's id, same form). The round trips themselves are
not stored: they are computed from the event log's fills every time, so they can never disagree
with it; only what the trader wrote is kept here.

Invariants
- Isolation: every read and write is keyed by the account passed in; no query spans accounts.
- A write is one transaction (update, else insert); a refused annotation is checked before the
  transaction starts and changes nothing.
- Screenshot links are stored as a JSON list; text as text; confidence as an integer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from spotlab.journal.annotations import Annotation, apply_changes

KINDS = ("round_trip", "fill")

metadata = sa.MetaData()
journal_annotations = sa.Table(
    "journal_annotations",
    metadata,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("target", sa.String(64), primary_key=True),
    sa.Column("strategy", sa.String(64)),
    sa.Column("setup", sa.String(200)),
    sa.Column("notes", sa.Text),
    sa.Column("emotion", sa.String(64)),
    sa.Column("confidence", sa.Integer),
    sa.Column("screenshots_json", sa.Text, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)


def _annotation(row: Any) -> Annotation:
    return Annotation(
        strategy=row.strategy,
        setup=row.setup,
        notes=row.notes,
        emotion=row.emotion,
        confidence=row.confidence,
        screenshots=tuple(json.loads(row.screenshots_json)),
        updated_ns=row.updated_at,
    )


class JournalStore:
    """Annotations per account; ``engine`` is the side database's SQLAlchemy engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._write_lock = threading.Lock()
        metadata.create_all(engine)

    def close(self) -> None:
        self._engine.dispose()

    def annotations(self, account: str) -> dict[tuple[str, str], Annotation]:
        """``{(kind, target): Annotation}`` of ``account``."""
        table = journal_annotations
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(table).where(table.c.account == account)).all()
        return {(row.kind, row.target): _annotation(row) for row in rows}

    def annotation(self, account: str, kind: str, target: str) -> Annotation | None:
        table = journal_annotations
        query = sa.select(table).where(table.c.account == account, table.c.kind == kind, table.c.target == target)
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _annotation(row)

    def annotate(self, account: str, kind: str, target: str, changes: Mapping[str, Any], now_ns: int) -> Annotation:
        """Apply ``changes`` (checked first: ``spotlab.journal.annotations``) and store the result durably."""
        if kind not in KINDS:
            raise ValueError(f"kind is one of {KINDS}, got {kind!r}")
        table = journal_annotations
        with self._write_lock:
            new = apply_changes(self.annotation(account, kind, target), changes, now_ns)
            values = {
                "strategy": new.strategy, "setup": new.setup, "notes": new.notes, "emotion": new.emotion,
                "confidence": new.confidence, "screenshots_json": json.dumps(list(new.screenshots)),
                "updated_at": new.updated_ns,
            }  # fmt: skip
            where = (table.c.account == account, table.c.kind == kind, table.c.target == target)
            with self._engine.begin() as conn:
                if not conn.execute(table.update().where(*where).values(**values)).rowcount:
                    conn.execute(table.insert().values(account=account, kind=kind, target=target, **values))
        return new
