"""A chart's observations, each validated when a check first reads it.

Validating an observation and reducing it to a fact costs some 25 µs, and a chart of years holds
hundreds of weights and labs. A check reads a code list newest first and stops at what it needs
(the newest usable weight, the newest ALT of the last 7 days, the newest negative hCG), so an
observation is validated only when a check reaches it, and once per call. The checks see exactly
the facts, in exactly the order, they would see if every observation had been validated first; an
unreadable one that a check reaches is a data issue, as before.

An observation whose date cannot be read from the raw JSON is validated at once: where it stands
in the order is known only afterwards, and an unreadable one is always worth reporting.

A chart sent again is read again through `for_call()`: the facts validated so far are shared (a
snapshot memo keeps them, `cds.fhir.snapshot_memo`), the issues are each call's own, so a call
reports exactly the unreadable observations its own checks reached.
"""

from __future__ import annotations

import copy
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from cds.fhir import facts
from cds.fhir.parsing import validate
from cds.fhir.selection import code_pairs, concept_text, observation_when, status_of
from cds.patient import (
    Code,
    DataIssue,
    ObservationFact,
    is_usable_result,
    newest_first_key,
)

Raw = dict[str, Any]


# (sort key: newest first, undated last; position in the chart, so that ties keep its order;
# the raw resource; its codes). A plain tuple: a long chart makes hundreds of them per call.
_Entry = tuple[tuple[bool, float], int, Raw, frozenset[Code]]


class ChartObservations:
    """`cds.patient.ObservationSource` over the raw observations of one patient's chart."""

    def __init__(
        self,
        raws: Sequence[Raw],
        wanted: frozenset[Code],
        source: str,
        named: Callable[[str], frozenset[Code]] | None = None,
    ) -> None:
        """`raws`: this patient's Observations; only those with a code in `wanted` are kept, and
        those `named` gives codes from their name (code.text, coding displays), read with those
        codes: a test a site codes locally is read as the list it names."""
        self._source = source
        self._named: dict[int, frozenset[Code]] = {}  # position in the chart -> codes by name
        # shared by every call's view: position in the chart -> its fact (None: unreadable), and
        # the issue of each unreadable one; a race between two threads validates twice, no worse
        self._facts: dict[int, ObservationFact | None] = {}
        self._issue_at: dict[int, DataIssue] = {}
        self._reached: list[int] = []  # this view's: the unreadable ones it reached, in order
        entries: list[_Entry] = []
        for index, raw in enumerate(raws):
            codes = frozenset(code_pairs(raw.get("code")))
            if codes.isdisjoint(wanted):
                by_name = named(concept_text(raw.get("code"))) if named is not None else None
                if not by_name:
                    continue
                self._named[index] = by_name
                codes |= by_name
            when = observation_when(raw)
            if when is None:  # undated, or a date only validation can read
                fact = self._fact(index, raw)
                when = fact.when if fact is not None else None
            entries.append((newest_first_key(when), index, raw, codes))
        entries.sort(key=lambda entry: (entry[0], entry[1]))
        self._entries = entries
        self._keys = [entry[0] for entry in entries]  # for `taken_at`'s bisection
        self._always = tuple(self._reached)  # read at once: reported by every call

    def for_call(self) -> ChartObservations:
        """A view for another call over the same chart: the same facts, no issue reached yet but
        those every call reports."""
        view = copy.copy(self)
        view._reached = list(self._always)
        return view

    def _fact(self, index: int, raw: Raw) -> ObservationFact | None:
        if index not in self._facts:
            model, issue = validate(raw, self._source)
            if issue is not None:
                self._issue_at[index] = issue
            fact = facts.observation_fact(model) if model is not None else None
            if fact is not None and index in self._named:
                fact = replace(fact, codes=fact.codes | self._named[index])
            self._facts[index] = fact
        if index in self._issue_at and index not in self._reached:
            self._reached.append(index)
        return self._facts[index]

    def newest_first(self, codes: frozenset[Code]) -> Iterator[ObservationFact]:
        for _, index, raw, own_codes in self._entries:
            if own_codes.isdisjoint(codes) or not is_usable_result(status_of(raw)):
                continue  # an unusable status is skipped unread, as it would be once read
            fact = self._fact(index, raw)
            if fact is not None and fact.has_code(codes) and is_usable_result(fact.status):
                yield fact

    def taken_at(self, codes: frozenset[Code], when: datetime) -> Iterator[ObservationFact]:
        key = newest_first_key(when)
        first = bisect_left(self._keys, key)
        for _, index, raw, own_codes in self._entries[first : bisect_right(self._keys, key)]:
            if own_codes.isdisjoint(codes):
                continue
            fact = self._fact(index, raw) if is_usable_result(status_of(raw)) else None
            if (
                fact is not None
                and fact.when == when
                and fact.has_code(codes)
                and is_usable_result(fact.status)
            ):
                yield fact

    def issues(self) -> Sequence[DataIssue]:
        return tuple(self._issue_at[index] for index in self._reached)
