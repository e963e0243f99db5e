"""The patient snapshots of charts already seen, per worker process, keyed by their content.

order-select fires on every change of an order's details and order-sign follows: the same chart
arrives again and again with other draft orders. `build_snapshot` is a pure function of the patient
id, the prefetched data and the knowledge, so a chart whose content is exactly one seen before gets
that snapshot again instead of being selected, validated and reduced to facts anew (~0.6 ms for a
typical chart; its key costs ~20 µs from the prefetch's bytes, ~75 µs by `chart_key`). The checks
still run on every call: their draft orders and `now` are the call's own. (A call sent again
whole is answered earlier, by `cds.answer_memo`.)

The key is a SHA-256 digest of the patient id and every source (its data, where it came from, why it
could not be had), never an id alone: one resource changed anywhere is another chart. When every
source is the prefetch as sent, the digest of the prefetch's bytes stands for the sources
(`prefetch_digest`, worked out from the bytes the fast lane reads anyway): the sources are a
function of those bytes, and serialising them again for `chart_key` cost ~0.2 ms a call, paid
by every new chart (docs/performance.md, round 5). Only charts that came in the request are kept
(data fetched from the FHIR server costs a fetch anyway, and its JSON parser reads NaN, which
dumps as null).
Snapshots are read only; each call gets its own view of the lazily validated observations, so a
call reports exactly the unreadable observations its own checks reached. Bounded at `max_entries`,
least recently used out first, and a chart of more than `LARGEST_KEPT_RESOURCES` resources is not
kept: a snapshot holds its chart's raw JSON, ~2 MB per 1,000 resources, and 16 charts of 20,000
held ~900 MB of a worker (red team).
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
import orjson

from cds.fhir.observations import ChartObservations
from cds.fhir.prefetch import SourceData
from cds.patient import PatientSnapshot

AS_SENT = frozenset({"prefetch", "null"})  # origins read from the prefetch's bytes alone
LARGEST_KEPT_RESOURCES = 2_000


def prefetch_digest(members: Mapping[str, bytes | msgspec.Raw]) -> bytes | None:
    """The SHA-256 of the request's `prefetch` member as sent (`envelope_without_prefetch`'s
    members); None without one."""
    text = members.get("prefetch")
    return None if text is None else hashlib.sha256(memoryview(text)).digest()


def memo_key(
    patient_id: str, sources: Mapping[str, SourceData], prefetch: bytes | None
) -> bytes | None:
    """The chart's key: from the prefetch's digest when every source is the prefetch as sent,
    else `chart_key`."""
    if prefetch is not None and all(data.origin in AS_SENT for data in sources.values()):
        named = patient_id.encode("utf-8", "surrogatepass")
        parts = (b"prefetch as sent", len(named).to_bytes(8, "big"), named, prefetch)
        return hashlib.sha256(b"".join(parts)).digest()
    return chart_key(patient_id, sources)


def chart_key(patient_id: str, sources: Mapping[str, SourceData]) -> bytes | None:
    """The SHA-256 of everything `build_snapshot` reads, serialised as it came (a chart resent
    by an EHR serialises identically; the same data in another key order only misses). None for
    data read from the FHIR server: its JSON parser reads NaN, dumped as null like a real null."""
    if any(data.origin == "fhirServer" for data in sources.values()):
        return None
    try:
        serialised = orjson.dumps(
            [patient_id, [[key, *_source_parts(data)] for key, data in sorted(sources.items())]]
        )
    except (orjson.JSONEncodeError, TypeError):
        return None
    return hashlib.sha256(serialised).digest()


def _source_parts(data: SourceData) -> list[Any]:
    """A source's fullUrls name resources of its own list: by position, not dumped twice."""
    position = {id(resource): index for index, resource in enumerate(data.resources)}
    urls = [[url, position.get(id(resource), resource)] for url, resource in data.full_urls.items()]
    return [data.problem, data.origin, data.resources, urls]


class SnapshotMemo:
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, PatientSnapshot] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def snapshot(
        self,
        patient_id: str,
        sources: Mapping[str, SourceData],
        build: Callable[[], PatientSnapshot],
        prefetch: bytes | None = None,
    ) -> PatientSnapshot:
        """The snapshot of this chart: remembered, or `build()` (then remembered); a view of it
        that is this call's own. `prefetch`: the call's `prefetch_digest`, when known."""
        key = memo_key(patient_id, sources, prefetch) if self.max_entries > 0 else None
        if key is None:
            return build()
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self.hits += 1
                self._entries.move_to_end(key)
        if found is None:
            found = build()
            with self._lock:
                self.misses += 1
                if sum(len(data.resources) for data in sources.values()) <= LARGEST_KEPT_RESOURCES:
                    self._entries[key] = found
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return _own_view(found)


def _own_view(snapshot: PatientSnapshot) -> PatientSnapshot:
    source = snapshot.observation_source
    if isinstance(source, ChartObservations):
        return dataclasses.replace(snapshot, observation_source=source.for_call())
    return snapshot
