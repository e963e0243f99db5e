"""One connection per process to a SQLite file, shared by its threads, for the writes every hook
call makes (the JWT replay cache, the issued-card records).

A pool checkout and return cost ~40 µs of CPU a call under load, as much as the insert itself
(docs/performance.md, round 5), so a process takes one connection out of the pool once and keeps
it. Its threads take turns on it (`_Serialised`): SQLite lets one writer at a time into a file
anyway, so a connection per thread only had the threads' writes wait on each other inside
SQLite's busy handler instead (whether that costs measurable CPU is not settled:
docs/performance.md, round 7). Only a connection in autocommit mode qualifies
(`FeedbackStore.unflushed_engine` on a SQLite file): there no transaction can outlive a statement,
so a kept connection never holds a lock between calls. Anything else (PostgreSQL, an in-memory
SQLite database shared with the feedback store) stays on the pool. A forked process opens its
own: a SQLite connection must not cross a fork.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Engine


class OwnConnections:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._pooled = engine.dialect.name != "sqlite"
        self._inherited: list[Any] = []  # a parent process's connections, never closed here
        self._shared: tuple[int, Any] | None = None
        self._making = threading.Lock()

    def get(self) -> Any | None:
        """This process's own DBAPI connection; None when the pool must be used."""
        if self._pooled:
            return None
        held = self._shared
        if held is not None and held[0] == os.getpid():
            return held[1]
        with self._making:
            held = self._shared
            if held is not None and held[0] == os.getpid():
                return held[1]
            if held is not None:  # a parent's: closing it here could disturb its database
                self._inherited.append(held)
            pooled = self._engine.raw_connection()
            driver = pooled.driver_connection
            if driver is None or driver.isolation_level is not None:  # not in autocommit mode
                pooled.close()
                self._pooled = True
                return None
            pooled.detach()
            shared = _Serialised(driver)
            self._shared = (os.getpid(), shared)
            return shared


class _Serialised:
    """A DBAPI connection whose statements run one at a time (pysqlite connections from
    SQLAlchemy's file pool may be used from any thread)."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._lock = threading.Lock()

    def execute(self, *args: Any) -> Any:
        with self._lock:
            return self._connection.execute(*args)


class SqliteInsert:
    """`INSERT ... ON CONFLICT DO NOTHING` of any number of rows into `table` as one statement
    (one transaction, one commit), compiled for SQLite once per row count, with each value
    converted as SQLAlchemy converts it (the columns' bind processors)."""

    def __init__(self, engine: Engine, table: Table) -> None:
        self._dialect = engine.dialect
        self._table = table
        processors = {
            c.key: c.type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
            for c in table.columns
        }
        self._processors = {name: p for name, p in processors.items() if p is not None}
        self._compiled: dict[int, tuple[str, list[tuple[int, str]]]] = {}

    def statement(self, rows: Sequence[Mapping[str, Any]]) -> tuple[str, tuple[Any, ...]]:
        """The SQL for this many rows and its parameters, in order."""
        if len(rows) not in self._compiled:
            columns = [c.key for c in self._table.columns]
            values: list[dict[str, Any]] = [
                {c: bindparam(f"{c}_{i}") for c in columns} for i in range(len(rows))
            ]
            compiled = (
                sqlite.insert(self._table)
                .values(values)
                .on_conflict_do_nothing()
                .compile(dialect=self._dialect)
            )
            place = {f"{c}_{i}": (i, c) for i in range(len(rows)) for c in columns}
            self._compiled[len(rows)] = (
                str(compiled),
                [place[name] for name in compiled.positiontup or ()],
            )
        sql, order = self._compiled[len(rows)]
        convert = self._processors
        return sql, tuple(
            convert[column](rows[i][column]) if column in convert else rows[i][column]
            for i, column in order
        )
