"""JWT replay cache: each (issuer, jti) is accepted once until the token expires.

Kept in the service's database so that every worker process (and every replica on one PostgreSQL)
sees the same set: a token replayed to another worker is still refused.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from sqlalchemy import Column, Float, MetaData, String, Table, delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from cds.errors import StoreUnavailable
from cds.feedback import create_tables, upsert_insert
from cds.own_connections import OwnConnections

log = logging.getLogger(__name__)

metadata = MetaData()

seen_tokens = Table(
    "seen_tokens",
    metadata,
    Column("issuer", String(512), primary_key=True),
    Column("jti", String(256), primary_key=True),
    Column("expires", Float, nullable=False, index=True),
)


class ReplayCache:
    """The primary key (issuer, jti) is the whole mechanism: of two processes inserting the same
    pair at once, the database lets exactly one row in, whichever replica or worker they are."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        create_tables(engine, metadata)
        self._next_purge = 0.0
        # The insert runs on a DBAPI connection (the thread's own on a SQLite file, the pool's
        # otherwise), compiled once for its dialect: through SQLAlchemy's Connection
        # (transaction, result, compiled-cache lookup) it cost ~135 µs of CPU, on the driver
        # ~60, and every order-sign call makes one (docs/performance.md).
        postgres = engine.dialect.name == "postgresql"
        insert = upsert_insert(engine.dialect.name, seen_tokens).on_conflict_do_nothing()
        statement = insert.returning(seen_tokens.c.jti) if postgres else insert
        self._returning = postgres
        compiled = statement.compile(dialect=engine.dialect)
        self._sql = str(compiled)
        self._order = compiled.positiontup if compiled.positional else None
        self._prelude = "SET LOCAL synchronous_commit TO OFF" if postgres else None
        self._dbapi: Any = engine.dialect.dbapi
        self._own = OwnConnections(engine)

    def first_use(self, issuer: str, jti: str, expires: float) -> bool:
        """Record the token; False if it was recorded before (a replay).

        A concurrent insert of the same pair waits for the other transaction and then inserts
        nothing: the loser gets no row back on PostgreSQL (RETURNING), a count of 0 on SQLite
        (`sqlite3_changes`, exact there; RETURNING would hold SQLite's write lock until the row
        is fetched). A database error is raised as StoreUnavailable: a token is never accepted
        unchecked.
        """
        row = {"issuer": _fitting(issuer, 512), "jti": _fitting(jti, 256), "expires": expires}
        params: Any = tuple(row[name] for name in self._order) if self._order else row
        try:
            inserted = self._insert(params)
        except self._dbapi.IntegrityError:
            return False
        except (self._dbapi.Error, SQLAlchemyError) as error:
            raise StoreUnavailable(f"replay cache: {error}") from error
        self._purge()
        return inserted

    def _insert(self, params: Any) -> bool:
        own = self._own.get()
        if own is not None:
            return bool(own.execute(self._sql, params).rowcount == 1)
        return self._insert_pooled(params)

    def _insert_pooled(self, params: Any) -> bool:
        """One transaction on a pooled connection (pre-pinged on PostgreSQL): commits without
        waiting for the disk, as `without_flush` does; rolled back on any error."""
        connection = self._engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                if self._prelude:
                    cursor.execute(self._prelude)
                cursor.execute(self._sql, params)
                if self._returning:
                    inserted = cursor.fetchone() is not None
                else:
                    inserted = cursor.rowcount == 1
            finally:
                cursor.close()
            connection.commit()
            return inserted
        except BaseException:
            connection.rollback()
            raise
        finally:
            connection.close()

    def _purge(self) -> None:
        """Forget expired tokens, at most once a minute per process, in its own transaction so that
        a purge can never fail or slow the check itself."""
        now = time.time()
        if now < self._next_purge:
            return
        self._next_purge = now + 60
        try:
            with self._engine.begin() as connection:
                connection.execute(delete(seen_tokens).where(seen_tokens.c.expires < now))
        except SQLAlchemyError:
            log.warning("could not purge expired tokens from the replay cache", exc_info=True)


def _fitting(value: str, limit: int) -> str:
    """`value` if it fits its column, else its SHA-256: cutting it made two long jtis that share
    their first 256 characters one token, and the second was refused as a replay."""
    if len(value) <= limit:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
