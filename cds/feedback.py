"""Durable feedback store (SQLAlchemy; SQLite in WAL mode by default, PostgreSQL by URL).

Feedback is committed before the EHR gets its 200, so an accepted feedback is never lost. Items are
idempotent on (service, card, outcome, outcomeTimestamp): an EHR may send the same one twice.
Issued cards are recorded too, so feedback can be tied to a topic and unknown cards flagged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from cds.hooks import Card, FeedbackItem

metadata = MetaData()

issued_cards = Table(
    "issued_cards",
    metadata,
    Column("uuid", String(64), primary_key=True),
    Column("service", String(100), nullable=False),
    Column("hook_instance", String(256), nullable=False),
    Column("topic", String(50), nullable=False),
    Column("indicator", String(10), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service", String(100), nullable=False),
    Column("card", String(256), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("outcome_timestamp", DateTime(timezone=True), nullable=False),
    Column("accepted_suggestions", Text, nullable=False),
    Column("override_code", String(100)),
    Column("override_comment", Text),
    Column("known_card", Boolean, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("service", "card", "outcome", "outcome_timestamp", name="feedback_once"),
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class FeedbackStore:
    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)

    def _insert(self, table: Table) -> Any:
        dialect = self.engine.dialect.name
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
        return insert.on_conflict_do_nothing()

    def record_issued(self, service: str, hook_instance: str, cards: Iterable[Card]) -> None:
        rows = [
            {
                "uuid": card.uuid,
                "service": service,
                "hook_instance": hook_instance,
                "topic": card.source.topic.code if card.source.topic else "",
                "indicator": card.indicator,
                "issued_at": datetime.now(UTC),
            }
            for card in cards
        ]
        if rows:
            with self.engine.begin() as connection:
                connection.execute(self._insert(issued_cards), rows)

    def record_feedback(self, service: str, items: Iterable[FeedbackItem]) -> list[dict[str, Any]]:
        """Store every item in one transaction; returns per item whether the card was ours."""
        items = list(items)
        now = datetime.now(UTC)
        with self.engine.begin() as connection:
            known = set(
                connection.execute(
                    select(issued_cards.c.uuid).where(issued_cards.c.uuid.in_([i.card for i in items]))
                ).scalars()
            )
            rows = [
                {
                    "service": service,
                    "card": item.card,
                    "outcome": item.outcome,
                    "outcome_timestamp": item.outcomeTimestamp,
                    "accepted_suggestions": json.dumps([s.id for s in item.acceptedSuggestions or []]),
                    "override_code": item.overrideReason.reason.code
                    if item.overrideReason and item.overrideReason.reason
                    else None,
                    "override_comment": item.overrideReason.userComment if item.overrideReason else None,
                    "known_card": item.card in known,
                    "received_at": now,
                }
                for item in items
            ]
            connection.execute(self._insert(feedback), rows)
        return [{"card": row["card"], "knownCard": row["known_card"]} for row in rows]

    def count(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(feedback)).scalar_one())

    def summary(self) -> list[dict[str, Any]]:
        """Per card topic: cards issued, feedback received, overrides, and the override rate."""
        with self.engine.connect() as connection:
            issued = dict(
                connection.execute(
                    select(issued_cards.c.topic, func.count()).group_by(issued_cards.c.topic)
                ).all()
            )
            rows = connection.execute(
                select(
                    func.coalesce(issued_cards.c.topic, "(unknown card)"),
                    feedback.c.outcome,
                    func.count(),
                )
                .select_from(feedback.outerjoin(issued_cards, feedback.c.card == issued_cards.c.uuid))
                .group_by(func.coalesce(issued_cards.c.topic, "(unknown card)"), feedback.c.outcome)
            ).all()
        topics: dict[str, dict[str, Any]] = {
            topic: {"topic": topic, "issued": count, "accepted": 0, "overridden": 0}
            for topic, count in issued.items()
        }
        for topic, outcome, count in rows:
            entry = topics.setdefault(topic, {"topic": topic, "issued": 0, "accepted": 0, "overridden": 0})
            entry[outcome] = count
        for entry in topics.values():
            answered = entry["accepted"] + entry["overridden"]
            entry["override_rate"] = round(entry["overridden"] / answered, 3) if answered else None
        return sorted(topics.values(), key=lambda e: e["topic"])
