"""JWT replay cache: each (issuer, jti) is accepted once until the token expires.

Kept in the service's database so that every worker process (and every replica on one PostgreSQL)
sees the same set: a token replayed to another worker is still refused.
"""

from __future__ import annotations

import time

from sqlalchemy import Column, Float, MetaData, String, Table, delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

metadata = MetaData()

seen_tokens = Table(
    "seen_tokens",
    metadata,
    Column("issuer", String(512), primary_key=True),
    Column("jti", String(256), primary_key=True),
    Column("expires", Float, nullable=False, index=True),
)


class ReplayCache:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        metadata.create_all(engine)
        self._next_purge = 0.0

    def first_use(self, issuer: str, jti: str, expires: float) -> bool:
        """Record the token; False if it was recorded before (a replay)."""
        now = time.time()
        try:
            with self._engine.begin() as connection:
                if now >= self._next_purge:
                    connection.execute(delete(seen_tokens).where(seen_tokens.c.expires < now))
                    self._next_purge = now + 60
                connection.execute(
                    seen_tokens.insert().values(issuer=issuer[:512], jti=jti[:256], expires=expires)
                )
        except IntegrityError:
            return False
        return True
