"""Each thread's own connection to a SQLite file, for the writes every hook call makes (the JWT
replay cache, the issued-card records).

A pool checkout and return cost ~40 µs of CPU a call under load, as much as the insert itself
(docs/performance.md, round 5), so a thread takes one connection out of the pool once and keeps
it. Only a connection in autocommit mode qualifies (`FeedbackStore.unflushed_engine` on a SQLite
file): there no transaction can outlive a statement, so a kept connection never holds a lock
between calls. Anything else (PostgreSQL, an in-memory SQLite database shared with the feedback
store) stays on the pool. A forked process opens its own: a SQLite connection must not cross a
fork.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Engine


class OwnConnections:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()
        self._pooled = engine.dialect.name != "sqlite"
        self._inherited: list[Any] = []  # a parent process's connections, never closed here

    def get(self) -> Any | None:
        """This thread's own DBAPI connection; None when the pool must be used."""
        if self._pooled:
            return None
        held = getattr(self._local, "held", None)
        if held is not None and held[0] == os.getpid():
            return held[1]
        if held is not None:
            self._inherited.append(held)  # closing it here could disturb the parent's database
        pooled = self._engine.raw_connection()
        driver = pooled.driver_connection
        if driver is None or driver.isolation_level is not None:  # not in autocommit mode
            pooled.close()
            self._pooled = True
            return None
        pooled.detach()
        self._local.held = (os.getpid(), driver)
        return driver


class SqliteInsert:
    """`INSERT ... ON CONFLICT DO NOTHING` into `table`, compiled once for SQLite, with each row's
    values converted as SQLAlchemy converts them (the columns' bind processors)."""

    def __init__(self, engine: Engine, table: Table) -> None:
        compiled = sqlite.insert(table).on_conflict_do_nothing().compile(dialect=engine.dialect)
        self.sql = str(compiled)
        self._names = list(compiled.positiontup or ())
        processors = {c.key: c.type.bind_processor(engine.dialect) for c in table.columns}
        self._processors = {name: p for name, p in processors.items() if p is not None}

    def params(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        convert = self._processors
        return tuple(
            convert[name](row[name]) if name in convert else row[name] for name in self._names
        )
