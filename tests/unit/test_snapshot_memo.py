"""The per-worker memo of patient snapshots (`cds.fhir.snapshot_memo`): a chart resent with other
draft orders is not read again; keyed by the whole chart's content, never by the patient id; each
call reports only the unreadable observations its own checks reached; bounded; the same cards with
and without it."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from cds import create_app
from cds.dosing import latest_measurement
from cds.fhir import snapshot, snapshot_memo
from cds.fhir.prefetch import SourceData
from cds.fhir.snapshot_memo import SnapshotMemo, chart_key, memo_key, prefetch_digest
from cds.knowledge import load_knowledge
from cds.patient import PatientSnapshot
from cds.settings import Settings
from tests.conftest import NOW, cards_of, chart_request, fixture_charts
from tests.fixtures_util import weight

KNOWLEDGE = load_knowledge()
PID = "pt-memo"


def _sources(*kgs: float) -> dict[str, SourceData]:
    weights = [
        weight(PID, kg, when=f"2026-02-{20 + i:02d}T09:00:00+00:00", oid=f"wt-{i}")
        for i, kg in enumerate(kgs)
    ]
    return {"observations": SourceData(weights)}


def _read(memo: SnapshotMemo, sources: dict[str, SourceData]) -> PatientSnapshot:
    return memo.snapshot(PID, sources, lambda: snapshot.build_snapshot(PID, sources, KNOWLEDGE))


def _newest_kg(chart: PatientSnapshot) -> Decimal | None:
    found = latest_measurement(chart, KNOWLEDGE, "body_weight", "kg", NOW)
    return found.value if found is not None else None


def test_a_chart_resent_is_read_once_and_a_changed_weight_is_another_chart() -> None:
    memo = SnapshotMemo(8)
    assert _newest_kg(_read(memo, _sources(70, 72))) == 72
    assert _newest_kg(_read(memo, copy.deepcopy(_sources(70, 72)))) == 72  # equal content
    assert (memo.hits, memo.misses) == (1, 1)
    assert _newest_kg(_read(memo, _sources(70, 81))) == 81  # one value changed, same ids
    assert (memo.hits, memo.misses) == (1, 2)


def test_the_same_chart_under_another_patient_id_is_another_key() -> None:
    sources = _sources(70)
    assert chart_key(PID, sources) != chart_key("pt-other", sources)


def test_a_source_that_could_not_be_had_is_part_of_the_key() -> None:
    had = {"conditions": SourceData([])}
    not_had = {"conditions": SourceData(problem="the EHR reported an error: timeout")}
    assert chart_key(PID, had) != chart_key(PID, not_had)


def test_data_read_from_the_fhir_server_is_never_kept() -> None:
    fetched = {
        "observations": SourceData(_sources(70)["observations"].resources, origin="fhirServer")
    }
    memo = SnapshotMemo(8)
    assert chart_key(PID, fetched) is None
    _read(memo, fetched)
    _read(memo, fetched)
    assert (len(memo), memo.hits) == (0, 0)


def test_a_prefetch_resent_byte_for_byte_is_found_by_its_digest_without_serialising_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sources = _sources(70, 72)
    digest = prefetch_digest({"prefetch": orjson.dumps({"observations": "as sent"})})
    memo = SnapshotMemo(8)
    build = lambda: snapshot.build_snapshot(PID, sources, KNOWLEDGE)  # noqa: E731
    memo.snapshot(PID, sources, build, digest)

    def not_called(*args: object) -> None:
        raise AssertionError("the chart was serialised again")

    monkeypatch.setattr(snapshot_memo, "chart_key", not_called)
    assert _newest_kg(memo.snapshot(PID, copy.deepcopy(sources), build, digest)) == 72
    assert (memo.hits, memo.misses) == (1, 1)


def test_the_digest_key_names_the_patient_and_only_stands_for_sources_read_from_the_prefetch() -> (
    None
):
    digest = hashlib.sha256(b'{"observations": {}}').digest()
    sent = _sources(70)
    assert memo_key(PID, sent, digest) != memo_key("pt-other", sent, digest)
    assert memo_key(PID, sent, digest) != chart_key(PID, sent)
    assert memo_key(PID, sent, None) == chart_key(PID, sent)  # no bytes at hand
    fetched = {"observations": SourceData(sent["observations"].resources, origin="fhirServer")}
    assert memo_key(PID, fetched, digest) is None  # never kept, as without the digest
    missing = {"conditions": SourceData(problem="not prefetched, and no fhirServer", origin="none")}
    assert memo_key(PID, missing, digest) == chart_key(PID, missing)


def test_order_select_then_order_sign_with_other_orders_reads_the_chart_once_by_its_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the digest is for: the same chart under changing draft orders, through the lane."""
    serialised: list[object] = []
    real_chart_key = snapshot_memo.chart_key

    def serialising(patient_id: str, sources: Mapping[str, SourceData]) -> bytes | None:
        serialised.append((patient_id, sources))
        return real_chart_key(patient_id, sources)

    monkeypatch.setattr(snapshot_memo, "chart_key", serialising)
    settings = Settings(dev_mode=True, database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    app = create_app(settings, clock=lambda: NOW)
    client = app.test_client()
    request = chart_request("adult-70kg-rr-cycle1-correct")
    cards_of(client, request)
    order = request["context"]["draftOrders"]["entry"][0]["resource"]
    order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = 28
    changed = cards_of(client, request)
    memo = app.extensions["cds.engine"].snapshots
    assert (memo.hits, memo.misses, serialised) == (1, 1, [])
    assert any(indicator == "critical" for indicator, _, _ in changed)  # the new dose was read


def test_each_call_reports_only_the_unreadable_observations_its_own_checks_reached() -> None:
    sources = _sources(70, 72)
    bad = sources["observations"].resources[1]
    bad["valueQuantity"]["value"] = "heavy"  # invalid FHIR: the newest weight is unreadable
    memo = SnapshotMemo(8)
    first = _read(memo, sources)
    assert _newest_kg(first) == 70
    assert [i.resource for i in first.data_issues()] == ["Observation/wt-1"]
    second = _read(memo, sources)
    assert second.data_issues() == ()  # nothing read yet in this call
    assert _newest_kg(second) == 70
    assert [i.resource for i in second.data_issues()] == ["Observation/wt-1"]
    assert memo.hits == 1


def test_the_memo_holds_at_most_its_bound_least_recently_used_out_first() -> None:
    memo = SnapshotMemo(2)
    for kg in (60, 61, 62):
        _read(memo, _sources(kg))
    assert len(memo) == 2
    _read(memo, _sources(62))
    _read(memo, _sources(60))  # evicted: read again
    assert (memo.hits, memo.misses) == (1, 4)


def test_zero_entries_turns_it_off() -> None:
    memo = SnapshotMemo(0)
    _read(memo, _sources(70))
    _read(memo, _sources(70))
    assert (len(memo), memo.hits, memo.misses) == (0, 0, 0)


def test_every_fixture_chart_gets_the_same_cards_with_and_without_the_memo(
    tmp_path: Path,
) -> None:
    charts = fixture_charts()
    answers = {}
    for entries in (0, 64):
        settings = Settings(
            dev_mode=True,
            database_url=f"sqlite:///{tmp_path / f'{entries}.db'}",
            snapshot_cache_entries=entries,
            answer_memo_entries=0,  # the same calls resent: the answer memo would answer them
        )
        app = create_app(settings, clock=lambda: NOW)
        client = app.test_client()
        memo = app.extensions["cds.engine"].snapshots
        first = [cards_of(client, chart_request(c)) for c in charts]
        misses = memo.misses
        again = [cards_of(client, chart_request(c)) for c in charts]  # with the memo: from it
        answers[entries] = [first, again]
        if entries:
            assert misses > 20 and memo.misses == misses and memo.hits >= misses
        else:
            assert (len(memo), memo.hits, memo.misses) == (0, 0, 0)
    assert answers[0][0] == answers[0][1] == answers[64][0] == answers[64][1]


def test_a_chart_larger_than_the_bound_is_read_but_not_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A snapshot holds its chart's JSON: 16 charts of 20,000 resources held ~900 MB a worker."""
    monkeypatch.setattr(snapshot_memo, "LARGEST_KEPT_RESOURCES", 2)
    memo = SnapshotMemo(8)
    assert _newest_kg(_read(memo, _sources(70, 72, 74))) == 74
    assert len(memo) == 0
    assert _newest_kg(_read(memo, _sources(70, 72))) == 72
    assert len(memo) == 1
