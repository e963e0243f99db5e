"""Durable feedback store (SQLAlchemy; SQLite in WAL mode by default, PostgreSQL by URL).

Feedback is committed before the EHR gets its 200, so an accepted feedback is never lost. Items are
idempotent on (service, card, outcome, outcomeTimestamp): an EHR may send the same one twice, and
the same instant sent with another UTC offset is the same item (timestamps are stored in UTC).
Issued cards are recorded too, so feedback can be tied to a topic and unknown cards flagged.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL, Connection, Dialect, Engine, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql

from cds.errors import InvalidRequest, NotYours, StoreUnavailable
from cds.hooks import Card, FeedbackItem
from cds.metrics import count_feedback
from cds.own_connections import OwnConnections, SqliteInsert
from cds.terminal import printable

log = logging.getLogger(__name__)

UNKNOWN_CARD = "(unknown card)"
FUTURE_SKEW = timedelta(minutes=5)  # clock skew allowed on an outcomeTimestamp


NO_TOPIC = "(no topic)"


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime in, an aware UTC datetime out, on every backend.

    SQLAlchemy's SQLite DATETIME silently drops the offset (it stores the wall-clock time), so
    values are converted to UTC first; that keeps the uniqueness of `outcome_timestamp` exact
    across offsets, processes and restarts. A naive value is taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

issued_cards = Table(
    "issued_cards",
    metadata,
    Column("uuid", String(64), primary_key=True),
    Column("service", String(100), nullable=False),
    Column("hook_instance", String(256), nullable=False),
    Column("topic", String(50), nullable=False),
    Column("indicator", String(10), nullable=False),
    Column("issued_at", UTCDateTime(), nullable=False),
    # who received the card (the JWT's iss and tenant; NULL in open development mode): only they
    # may give feedback on it. Nullable: added after the first release.
    Column("issuer", String(1024)),
    Column("tenant", String(1024)),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service", String(100), nullable=False),
    Column("card", String(256), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("outcome_timestamp", UTCDateTime(), nullable=False),
    Column("accepted_suggestions", Text, nullable=False),
    Column("override_code", String(256)),
    Column("override_comment", Text),
    Column("known_card", Boolean, nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    # added after the first release; nullable so that older databases gain them in place
    Column("override_system", String(1024)),
    Column("topic", String(50)),
    UniqueConstraint("service", "card", "outcome", "outcome_timestamp", name="feedback_once"),
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")  # first: the journal_mode switch may need a lock
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


PG_CONNECT_TIMEOUT_SECONDS = 5  # a PostgreSQL that does not answer is a 503, not a hung worker


def database_url(url: str) -> URL:
    """The URL as SQLAlchemy should open it: `postgresql://` and `postgres://` (the forms most
    platforms hand out) mean the psycopg 3 driver, the one the `postgres` extra installs."""
    parsed = make_url(
        "postgresql" + url.removeprefix("postgres") if url.startswith("postgres://") else url
    )
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


SCHEMA_LOCK_KEY = 0x636473  # PostgreSQL advisory lock id, the same in every process of the service


def create_tables(
    engine: Engine, tables: MetaData, upgrade: Callable[[Connection], None] | None = None
) -> None:
    """Create missing tables (then run `upgrade`), safe when several processes start together.

    `create_all` checks, then creates: replicas starting at once on an empty database would both
    create, and one would crash. On PostgreSQL they take turns under a transaction-scoped advisory
    lock (its DDL is transactional); SQLite serialises writers, and a process that lost the race
    looks again.
    """
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
            tables.create_all(connection)
            if upgrade is not None:
                upgrade(connection)
        return
    for attempt in range(3):
        try:
            with engine.begin() as connection:
                tables.create_all(connection)
                if upgrade is not None:
                    upgrade(connection)
            return
        except OperationalError:  # "table ... already exists": another process was first
            if attempt == 2:
                raise
            time.sleep(0.2)


def upsert_insert(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can say ON CONFLICT, for this database. PostgreSQL's dialect is imported
    only for PostgreSQL: with its asyncpg module it is ~27 ms of every start-up otherwise."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    return sqlite.insert(table)


def _sqlite_unflushed(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextmanager
def without_flush(engine: Engine) -> Iterator[Connection]:
    """A transaction whose commit does not wait for the disk (issued-card records; the replay
    cache commits the same way on the DBAPI connection, `cds.replay`), on
    `FeedbackStore.unflushed_engine`.

    With SQLite's synchronous=FULL every commit is an fsync on the request path (about 1 ms on an
    idle disk, far more on a busy one), and the write lock is held through it, so the workers
    queue behind each other's fsyncs. The commit is seen by every worker at once and survives a
    crash or kill of the service; only an OS crash or power loss may lose the last records.
    Feedback itself keeps synchronous=FULL (committed to disk before the 200), on
    `FeedbackStore.engine`. SQLite's connections of that engine are opened with
    synchronous=NORMAL (switching a pooled FULL connection to NORMAL and back cost four
    statements a transaction, ~70 µs); PostgreSQL's transaction says so itself.

    On a SQLite file that engine is also in autocommit mode: each statement is its own
    transaction, begun and committed inside one step of SQLite, with the GIL released. In a
    BEGIN ... COMMIT the write lock was held while the worker's thread waited for the GIL
    (up to the 5 ms switch interval), and the other worker's write met a locked database on
    ~5% of calls, where SQLite's busy handler sleeps 1 ms and more (docs/performance.md, round
    5). `record_issued` writes a call's cards there in one statement (`cds.own_connections`).
    """
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        yield connection


class FeedbackStore:
    """Issued cards and the feedback on them. Safe to share between threads; before a fork
    (gunicorn `preload_app`) the pool holds no connection, and a child never reuses the parent's."""

    def __init__(self, url: str) -> None:
        parsed = database_url(url)
        shown = parsed.render_as_string(hide_password=True)
        if parsed.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(f"the feedback store needs SQLite or PostgreSQL, not {shown!r}")
        memory = parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")
        if parsed.get_backend_name() == "sqlite" and not memory:
            Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
        connect_args: dict[str, Any] = {}
        if parsed.get_backend_name() == "postgresql":
            try:
                parsed.get_dialect().import_dbapi()
            except ImportError as error:
                raise ValueError(
                    f"{shown}: the PostgreSQL driver is not installed ({error}); install the "
                    "service with its `postgres` extra (psycopg) and use postgresql://..."
                ) from error
            if "connect_timeout" not in parsed.query:
                connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_SECONDS
        self.engine: Engine = create_engine(
            parsed,
            # a server connection may have died in the pool; a local SQLite file cannot, and the
            # ping was a round trip on every checkout (two per hook call: replay cache, cards)
            pool_pre_ping=parsed.get_backend_name() == "postgresql",
            connect_args=connect_args,
        )
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        create_tables(self.engine, metadata, self._add_missing_columns)
        # issued cards and the replay cache: the same database, commits not waiting for the disk
        # (`without_flush`); an in-memory SQLite database exists only on its one connection
        self.unflushed_engine: Engine = self.engine
        if self.engine.dialect.name == "sqlite" and not memory:
            self.unflushed_engine = create_engine(parsed, isolation_level="AUTOCOMMIT")
            event.listen(self.unflushed_engine, "connect", _sqlite_pragmas)
            event.listen(self.unflushed_engine, "connect", _sqlite_unflushed)
        self._issued_insert = self._insert(issued_cards)  # built once: compiled once
        # on a SQLite file, on the thread's own connection and the driver (`cds.own_connections`)
        self._own = OwnConnections(self.unflushed_engine)
        self._issued_on_driver = (
            SqliteInsert(self.unflushed_engine, issued_cards)
            if self.engine.dialect.name == "sqlite"
            else None
        )
        if not memory:  # an in-memory database lives only as long as its one connection
            self.engine.dispose()
            dispose = weakref.WeakMethod(self._after_fork)
            os.register_at_fork(after_in_child=lambda: (method := dispose()) and method())

    def _after_fork(self) -> None:
        self.engine.dispose(close=False)
        self.unflushed_engine.dispose(close=False)

    def _add_missing_columns(self, connection: Connection) -> None:
        """Additive schema upgrade: nullable columns added since a database was created."""
        for table in (issued_cards, feedback):
            present = {c["name"] for c in inspect(connection).get_columns(table.name)}
            missing = [c for c in table.columns if c.name not in present and c.nullable]
            for column in missing:
                kind = column.type.compile(dialect=self.engine.dialect)
                connection.execute(
                    text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')
                )

    def journal_mode(self) -> str | None:
        """SQLite's journal mode (`wal` expected); None on other databases."""
        if self.engine.dialect.name != "sqlite":
            return None
        with self.engine.connect() as connection:
            return str(connection.exec_driver_sql("PRAGMA journal_mode").scalar_one())

    def _insert(self, table: Table) -> Any:
        return upsert_insert(self.engine.dialect.name, table).on_conflict_do_nothing()

    def record_issued(
        self,
        service: str,
        hook_instance: str,
        cards: Iterable[Card],
        issuer: str | None = None,
        tenant: str | None = None,
    ) -> None:
        now = datetime.now(UTC)
        rows = [
            {
                "uuid": card.uuid,
                "service": service,
                "hook_instance": hook_instance,
                "topic": card.source.topic.code if card.source.topic else "",
                "indicator": card.indicator,
                "issued_at": now,
                "issuer": issuer,
                "tenant": tenant,
            }
            for card in cards
        ]
        if not rows:
            return
        try:
            own = self._own.get()
            if own is None or self._issued_on_driver is None:
                with without_flush(self.unflushed_engine) as connection:
                    connection.execute(self._issued_insert, rows)
                return
            own.execute(*self._issued_on_driver.statement(rows))
        except (SQLAlchemyError, sqlite3.Error) as error:
            raise StoreUnavailable(f"issued cards not recorded: {error}") from error

    def record_feedback(
        self,
        service: str,
        items: Iterable[FeedbackItem],
        issuer: str | None = None,
        tenant: str | None = None,
    ) -> list[dict[str, Any]]:
        """Store every item in one transaction, committed before this returns.

        Returns per item: the card, whether this service issued it (and its topic), and whether
        the item had been received before (a repeat is not stored twice). Refused whole when an
        item is on a card issued to another issuer or tenant (NotYours), or is dated in the
        future (InvalidRequest): it would otherwise stand as that card's latest outcome.
        """
        items = list(items)
        now = datetime.now(UTC)
        for item in items:
            if item.outcomeTimestamp > now + FUTURE_SKEW:
                raise InvalidRequest(f"outcomeTimestamp of card {item.card!r} is in the future")
        try:
            answers = self._insert_feedback(service, items, issuer, tenant, now)
        except SQLAlchemyError as error:
            raise StoreUnavailable(f"feedback not stored: {error}") from error
        count_feedback((i.outcome, a["duplicate"]) for i, a in zip(items, answers, strict=True))
        return answers

    def _insert_feedback(
        self,
        service: str,
        items: list[FeedbackItem],
        issuer: str | None,
        tenant: str | None,
        now: datetime,
    ) -> list[dict[str, Any]]:
        with self.engine.begin() as connection:
            # by any service: a card issued to another caller is theirs whichever service's
            # feedback endpoint names it
            issued = connection.execute(
                select(
                    issued_cards.c.uuid,
                    issued_cards.c.topic,
                    issued_cards.c.issuer,
                    issued_cards.c.tenant,
                    issued_cards.c.service,
                ).where(issued_cards.c.uuid.in_(sorted({item.card for item in items})))
            ).all()
            for card, _, owner, owner_tenant, _ in issued:
                if (owner, owner_tenant) != (issuer, tenant):
                    raise NotYours(f"card {card!r} was not issued to this caller")
            topics: dict[str, str] = {
                card: topic for card, topic, _, _, by in issued if by == service
            }
            answers = []
            for item in items:
                reason = item.overrideReason.reason if item.overrideReason else None
                row = {
                    "service": service,
                    "card": item.card,
                    "outcome": item.outcome,
                    "outcome_timestamp": item.outcomeTimestamp,
                    "accepted_suggestions": json.dumps(
                        [s.id for s in item.acceptedSuggestions or []]
                    ),
                    "override_system": reason.system if reason else None,
                    "override_code": reason.code if reason else None,
                    "override_comment": item.overrideReason.userComment
                    if item.overrideReason
                    else None,
                    "known_card": item.card in topics,
                    "topic": topics.get(item.card),
                    "received_at": now,
                }
                # RETURNING, not rowcount: with an implicit RETURNING of the serial id psycopg's
                # rowcount is -1, which made every repeat on PostgreSQL look new
                inserted = connection.execute(
                    self._insert(feedback).values(row).returning(feedback.c.id)
                ).first()
                answer: dict[str, Any] = {"card": item.card, "knownCard": item.card in topics}
                if item.card in topics:
                    answer["topic"] = topics[item.card]
                answers.append(answer | {"duplicate": inserted is None})
        return answers

    def ping(self) -> bool:
        """Whether the database answers (readiness); the reason it does not goes to the log."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1")).scalar_one()
        except SQLAlchemyError:
            log.warning("the database does not answer", exc_info=True)
            return False
        return True

    def count(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(feedback)).scalar_one())

    def items(self) -> list[dict[str, Any]]:
        """Every stored feedback row, oldest first (for audits and tests)."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(feedback).order_by(feedback.c.id)).mappings().all()
        return [dict(row) for row in rows]

    def summary(self) -> list[dict[str, Any]]:
        """Per card topic: cards issued, cards accepted / overridden and the override rate.

        A card reported more than once counts once, with its latest outcome. Feedback on cards
        this service never issued is reported under `(unknown card)`.
        """
        ranked = select(
            feedback.c.topic,
            feedback.c.known_card,
            feedback.c.outcome,
            feedback.c.override_code,
            func.row_number()
            .over(
                partition_by=(feedback.c.service, feedback.c.card),
                order_by=(feedback.c.outcome_timestamp.desc(), feedback.c.id.desc()),
            )
            .label("recency"),
        ).subquery()
        with self.engine.connect() as connection:
            issued = connection.execute(
                select(issued_cards.c.topic, func.count()).group_by(issued_cards.c.topic)
            ).all()
            latest = connection.execute(
                select(
                    ranked.c.topic,
                    ranked.c.known_card,
                    ranked.c.outcome,
                    ranked.c.override_code,
                    func.count(),
                )
                .where(ranked.c.recency == 1)
                .group_by(
                    ranked.c.topic, ranked.c.known_card, ranked.c.outcome, ranked.c.override_code
                )
            ).all()

        topics: dict[str, dict[str, Any]] = {}

        def entry(topic: str) -> dict[str, Any]:
            return topics.setdefault(
                topic,
                {
                    "topic": topic,
                    "issued": 0,
                    "accepted": 0,
                    "overridden": 0,
                    "override_reasons": {},
                },
            )

        for topic, count in issued:
            entry(topic or NO_TOPIC)["issued"] += count
        for topic, known, outcome, code, count in latest:
            row = entry((topic or NO_TOPIC) if known else UNKNOWN_CARD)
            row[outcome] += count
            if outcome == "overridden":
                reason = code or "(comment only)"
                row["override_reasons"][reason] = row["override_reasons"].get(reason, 0) + count
        for row in topics.values():
            answered = row["accepted"] + row["overridden"]
            row["no_feedback"] = (
                max(row["issued"] - answered, 0) if row["topic"] != UNKNOWN_CARD else 0
            )
            row["override_rate"] = round(row["overridden"] / answered, 3) if answered else None
            row["override_reasons"] = dict(
                sorted(row["override_reasons"].items(), key=lambda kv: (-kv[1], kv[0]))
            )
        return sorted(topics.values(), key=lambda r: (r["topic"] == UNKNOWN_CARD, r["topic"]))


def format_summary(rows: list[dict[str, Any]]) -> str:
    """The summary as a table a pharmacist can read at a terminal (stored values made
    printable: override codes come from EHR requests)."""
    return printable(_format_summary(rows))


def _format_summary(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "No cards issued and no feedback received yet."
    header = ("topic", "issued", "accepted", "overridden", "no feedback", "override rate")
    table = [header]
    for row in rows:
        rate = "-" if row["override_rate"] is None else f"{row['override_rate']:.0%}"
        issued = "-" if row["topic"] == UNKNOWN_CARD else str(row["issued"])
        no_feedback = "-" if row["topic"] == UNKNOWN_CARD else str(row["no_feedback"])
        table.append(
            (row["topic"], issued, str(row["accepted"]), str(row["overridden"]), no_feedback, rate)
        )
    totals = {key: sum(r[key] for r in rows) for key in ("accepted", "overridden")}
    answered = totals["accepted"] + totals["overridden"]
    table.append(
        (
            "all cards",
            str(sum(r["issued"] for r in rows)),
            str(totals["accepted"]),
            str(totals["overridden"]),
            str(sum(r["no_feedback"] for r in rows)),
            f"{totals['overridden'] / answered:.0%}" if answered else "-",
        )
    )
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    rule = "-" * len(line(header))
    lines = [line(header), rule, *(line(cells) for cells in table[1:-1]), rule, line(table[-1])]
    reasons = [
        f"  {row['topic']}: "
        + ", ".join(f"{code} ({count})" for code, count in row["override_reasons"].items())
        for row in rows
        if row["override_reasons"]
    ]
    if reasons:
        lines += ["", "Override reasons (latest outcome per card):", *reasons]
    lines += [
        "",
        "Counts are cards: a card reported more than once counts once, with its latest outcome.",
        "Override rate = overridden / (accepted + overridden).",
        "No feedback = issued but never reported (clients do not report ignored cards).",
    ]
    return "\n".join(lines)
