"""The answers of calls answered a moment ago, per worker process, keyed by their content.

An EHR sends the same call again and again: order-select fires each time the order screen is
drawn, a clinician signs twice, a load test resends one chart. The findings are a pure function of
the call's content, the knowledge and `now`; so a call whose content is exactly that of one
answered at a `now` less than `seconds` away gets that call's cards again, as new cards (new
uuids, `cds.cards.renewed`, recorded for feedback like any card). The cards are kept rendered:
rendering them again cost as much as the rest of a resent call's answer. The checks' windows are
hours and days: seconds later they read the same.

The key is a SHA-256 digest of the service id and the request's top-level members as sent, but for
`hookInstance` (new on every call) and `fhirAuthorization` (a token, new on every call at some EHRs,
read only to fetch): one resource, one order detail or one context field changed is another call.
Only calls answered from the request alone are kept: a call that asked its FHIR server for anything
(or would have, had there been one) may get another answer from it the next time. Bounded at
`max_entries`, least recently kept out first; what is kept is read only.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from typing import Generic, TypeVar

import msgspec

Answer = TypeVar("Answer")

NOT_IN_KEY = frozenset({"hookInstance", "fhirAuthorization"})
# An answer of more cards is not kept: a typical one has up to ~10 (10-15 KB); 200 draft orders
# give ~800 cards, 1.4 MB, and 64 of them would hold ~90 MB of a worker for calls seldom resent.
LARGEST_KEPT_CARDS = 40


def call_key(service_id: str, members: Mapping[str, bytes | msgspec.Raw]) -> bytes:
    """The digest of everything that makes an answer: the service id and each top-level member's
    JSON text as sent (`cds.web.bodies.envelope_without_prefetch`), in the order sent; an EHR
    resending a call sends the same bytes, and the same data written otherwise only misses."""
    digest = hashlib.sha256(service_id.encode())
    for name, text in members.items():
        if name not in NOT_IN_KEY:
            for part in (name.encode("utf-8", "surrogatepass"), memoryview(text)):
                digest.update(len(part).to_bytes(8, "big"))
                digest.update(part)
    return digest.digest()


class AnswerMemo(Generic[Answer]):
    """One per engine, shared by its threads."""

    def __init__(self, max_entries: int, seconds: float) -> None:
        self.max_entries = max_entries
        self.seconds = seconds
        self._entries: OrderedDict[bytes, tuple[datetime, Answer]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.seconds > 0

    def recall(self, key: bytes | None, now: datetime) -> Answer | None:
        """The answer of a call of this content answered at less than `seconds` from `now`
        (the engine's clock: `check --now` and tests set it)."""
        if key is None or not self.enabled:
            return None
        with self._lock:
            found = self._entries.get(key)
            if found is None or abs((now - found[0]).total_seconds()) >= self.seconds:
                return None
            self.hits += 1
            return found[1]

    def keep(self, key: bytes | None, now: datetime, answer: Answer) -> None:
        if key is None or not self.enabled:
            return
        with self._lock:
            self.misses += 1  # answered anew
            self._entries[key] = (now, answer)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
