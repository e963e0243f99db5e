"""`python -m cds check FILE` over every chart fixture that has a sidecar.

Each `fhir-fixtures/charts/<name>.json` with a `<name>.expected.json` sidecar runs through the whole
service in-process (`check --expect`); the cards' (topic, indicator, finding code) multiset must
equal the sidecar's. `check --all FOLDER --expect` runs every saved case and names the changed
ones. One chart also runs in a real subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import responses

from cds.__main__ import main
from cds.checks import declared_findings, registry
from cds.fhir.bundle import request_from_bundle
from cds.findings import TOPICS
from tests.conftest import FIXTURES, ROOT, load_json

CHARTS = FIXTURES / "charts"
INDICATORS = {"info", "warning", "critical"}


def sidecar_of(chart: Path) -> Path:
    return chart.with_name(f"{chart.stem}.expected.json")


def charts_with_sidecars() -> list[Path]:
    return sorted(
        path
        for path in CHARTS.glob("*.json")
        if not path.name.endswith(".expected.json") and sidecar_of(path).exists()
    )


def produced_topics() -> set[str]:
    return {check.topic for check in registry()} | {"data-quality"}


def pairs(cards: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    topics = produced_topics()
    return Counter(
        (card["source"]["topic"]["code"], card["indicator"])
        for card in cards
        if card["source"]["topic"]["code"] in topics
    )


def expected_pairs(chart: Path) -> Counter[tuple[str, str]]:
    topics = produced_topics()
    listed = json.loads(sidecar_of(chart).read_text(encoding="utf-8"))["cards"]
    return Counter((card[0], card[1]) for card in listed if card[0] in topics)


def run_check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["check", *args])
    return code, capsys.readouterr().out


def test_every_dose_chart_and_the_reference_chart_have_a_sidecar() -> None:
    with_sidecars = {p.name for p in charts_with_sidecars()}
    dose_charts = {
        p.name for p in CHARTS.glob("dose-*.json") if not p.name.endswith(".expected.json")
    }
    assert len(dose_charts) >= 8
    assert dose_charts <= with_sidecars
    assert "adult-70kg-rr-cycle1-correct.json" in with_sidecars


@pytest.mark.parametrize("chart", charts_with_sidecars(), ids=lambda p: p.stem)
def test_sidecar_is_well_formed(chart: Path) -> None:
    listed = json.loads(sidecar_of(chart).read_text(encoding="utf-8"))
    assert set(listed) == {"cards"}
    declared = declared_findings(registry())
    for topic, indicator, code, summary in listed["cards"]:  # the summary: a change shows
        assert topic in TOPICS
        assert indicator in INDICATORS
        assert code in declared, code
        assert 0 < len(summary) <= 140


@pytest.mark.parametrize("chart", charts_with_sidecars(), ids=lambda p: p.stem)
def test_check_json_gives_the_cards_of_the_sidecar(
    capsys: pytest.CaptureFixture[str], chart: Path
) -> None:
    code, out = run_check(capsys, str(chart), "--json")
    assert code == 0
    body = json.loads(out)
    assert pairs(body["cards"]) == expected_pairs(chart), [c["summary"] for c in body["cards"]]


@pytest.mark.parametrize("chart", charts_with_sidecars(), ids=lambda p: p.stem)
def test_every_saved_case_matches_its_sidecar_with_finding_codes(
    capsys: pytest.CaptureFixture[str], chart: Path
) -> None:
    code, out = run_check(capsys, str(chart), "--expect", str(sidecar_of(chart)))
    assert code == 0, out
    assert out.startswith("unchanged")


def test_an_altered_expectation_fails_and_shows_the_difference(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Overdose chart: the sidecar is edited to expect a warning instead of the critical card."""
    chart = CHARTS / "dose-adult-rr-cycle1-starts-at-28.json"
    listed = json.loads(sidecar_of(chart).read_text(encoding="utf-8"))["cards"]
    critical = next(c for c in listed if c[0] == "dose")
    assert critical[1] == "critical"
    altered = [c for c in listed if c is not critical] + [["dose", "warning", critical[2]]]
    expected = tmp_path / "altered.expected.json"
    expected.write_text(json.dumps({"cards": altered}), encoding="utf-8")
    code, out = run_check(capsys, str(chart), "--expect", str(expected))
    assert code == 1
    assert f"  - expected, not produced: dose warning {critical[2]}" in out
    assert f"  + produced, not expected: dose critical {critical[2]}" in out


def test_an_old_two_part_sidecar_still_compares_topic_and_indicator(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    chart = CHARTS / "vaccine-mmr-10-days-before-start.json"
    listed = json.loads(sidecar_of(chart).read_text(encoding="utf-8"))["cards"]
    (tmp_path / "case.json").write_text(chart.read_text(encoding="utf-8"), encoding="utf-8")
    old = {"cards": [c[:2] for c in listed]}
    (tmp_path / "case.expected.json").write_text(json.dumps(old), encoding="utf-8")
    assert run_check(capsys, str(tmp_path / "case.json"), "--expect")[0] == 0
    old["cards"] = [c for c in old["cards"] if c[0] != "live-vaccine"]
    (tmp_path / "case.expected.json").write_text(json.dumps(old), encoding="utf-8")
    code, out = run_check(capsys, str(tmp_path / "case.json"), "--expect")
    assert code == 1 and "+ produced, not expected: live-vaccine critical" in out


def test_check_all_names_the_changed_case_and_write_expected_accepts_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A rule change seen by its consequences: one of two saved cases changes."""
    for name in ("dose-adult-no-weight", "premed-adult-rr-cycle1-missing"):
        for path in (CHARTS / f"{name}.json", sidecar_of(CHARTS / f"{name}.json")):
            (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), "utf-8")
    changed = tmp_path / "premed-adult-rr-cycle1-missing.expected.json"
    changed.write_text(json.dumps({"cards": []}), encoding="utf-8")
    code, out = run_check(capsys, "--all", str(tmp_path), "--expect")
    assert code == 1
    assert f"unchanged  {tmp_path / 'dose-adult-no-weight.json'}" in out
    assert f"CHANGED    {tmp_path / 'premed-adult-rr-cycle1-missing.json'}" in out
    assert "+ produced, not expected: premedication warning" in out
    assert out.rstrip().endswith("2 cases: 1 unchanged, 1 changed")

    assert run_check(capsys, "--all", str(tmp_path), "--write-expected")[0] == 0
    assert json.loads(changed.read_text(encoding="utf-8"))["cards"] != []
    code, out = run_check(capsys, "--all", str(tmp_path), "--expect")
    assert code == 0 and out.rstrip().endswith("2 cases: 2 unchanged, 0 changed")


def test_check_needs_a_file_or_a_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["check"]) == 2
    assert "give one FILE, or --all FOLDER" in capsys.readouterr().err
    assert main(["check", "--all", str(tmp_path), "--expect"]) == 2
    assert "no saved cases" in capsys.readouterr().out


@pytest.mark.slow  # a whole Python process
def test_check_in_a_real_subprocess() -> None:
    chart = CHARTS / "dose-adult-rr-cycle1-day8-underdose.json"
    completed = subprocess.run(
        [sys.executable, "-m", "cds", "check", str(chart), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    body = json.loads(completed.stdout)
    assert pairs(body["cards"]) == expected_pairs(chart)
    dose = [c for c in body["cards"] if c["source"]["topic"]["code"] == "dose"]
    assert dose[0]["summary"].startswith("Blinatumomab dose low: 9 mcg/day ordered for days 8–28")


def test_human_readable_output_names_the_card_and_its_fix(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run_check(capsys, str(CHARTS / "dose-adult-rr-cycle1-starts-at-28.json"))
    assert code == 0
    assert "blinatumomab-order-sign as of 2026-03-02T08:00:00+00:00: HTTP 200" in out
    assert (
        "[CRITICAL] (dose) Blinatumomab overdose: 28 mcg/day ordered for days 1–7; "
        "at most 9 mcg/day allowed" in out
    )
    assert "suggestion: Correct the order: 9 mcg/day for 7 days, then 28 mcg/day for 21 days" in out
    assert "source: BLINCYTO USPI §2.2 Treatment of relapsed or refractory" in out


def test_human_readable_output_of_a_right_order_has_no_dose_card(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run_check(capsys, str(CHARTS / "dose-adult-rr-cycle1-day8-stepup-correct.json"))
    assert code == 0
    assert "blinatumomab-order-sign as of 2026-03-02T08:00:00+00:00: HTTP 200" in out
    assert [line for line in out.splitlines() if "(dose)" in line] == []


def test_a_cds_hooks_request_file_is_accepted_as_well_as_a_bundle(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    chart = CHARTS / "dose-child-38kg-ehr-bsa-adult-dose.json"
    request = request_from_bundle(load_json(chart))
    assert request["hook"] == "order-sign"
    path = tmp_path / "order-sign-request.json"
    path.write_text(json.dumps(request), encoding="utf-8")
    code, out = run_check(capsys, str(path), "--json")
    assert code == 0
    body = json.loads(out)
    assert pairs(body["cards"]) == expected_pairs(chart)
    overdose = next(c for c in body["cards"] if c["source"]["topic"]["code"] == "dose")
    assert "28 mcg/day ordered" in overdose["summary"]
    update = overdose["suggestions"][0]["actions"][0]
    assert update["type"] == "update"
    assert update["resource"]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"] == {
        "value": 18.9,  # 15 mcg/m²/day x the chart's 1.26 m²
        "unit": "ug/d",
        "system": "http://unitsofmeasure.org",
        "code": "ug/d",
    }


def test_an_order_select_request_file_runs_the_select_service(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    request = request_from_bundle(load_json(CHARTS / "adult-70kg-rr-cycle1-correct.json"))
    request["hook"] = "order-select"
    request["context"]["selections"] = ["MedicationRequest/blinatumomab-c1"]
    for dosage in request["context"]["draftOrders"]["entry"][0]["resource"]["dosageInstruction"]:
        dosage.pop("doseAndRate")  # selected, dose not yet entered
    path = tmp_path / "order-select-request.json"
    path.write_text(json.dumps(request), encoding="utf-8")
    code, out = run_check(capsys, str(path))
    assert code == 0
    assert "blinatumomab-order-select as of 2026-03-02T08:00:00+00:00: HTTP 200" in out
    assert "[INFO] (dose) Blinatumomab dose not yet entered" in out


def test_now_option_evaluates_the_chart_at_another_time(capsys: pytest.CaptureFixture[str]) -> None:
    """Six weeks after signing, the child's weight is older than the 30-day limit (a BSA-dosed
    patient: a newer weight could change the dose)."""
    chart = CHARTS / "dose-child-30kg-mrd-cycle1-per-m2-correct.json"
    code, out = run_check(capsys, str(chart), "--json", "--now", "2026-04-15T08:00:00")
    assert code == 0
    assert pairs(json.loads(out)["cards"])[("dose", "warning")] == 1


def test_an_unsupported_hook_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "patient-view.json"
    path.write_text(json.dumps({"hook": "patient-view", "context": {}}), encoding="utf-8")
    assert main(["check", str(path)]) == 2
    assert "unsupported hook 'patient-view'" in capsys.readouterr().err


def test_a_bundle_without_a_patient_is_refused_with_the_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    chart = load_json(CHARTS / "adult-70kg-rr-cycle1-correct.json")
    chart["entry"] = [e for e in chart["entry"] if e["resource"]["resourceType"] != "Patient"]
    path = tmp_path / "no-patient.json"
    path.write_text(json.dumps(chart), encoding="utf-8")
    assert main(["check", str(path)]) == 2
    assert "the Bundle holds no Patient" in capsys.readouterr().err


# --- hostile files: `check` runs on files under review, so they must not drive this machine ------


def test_check_never_fetches_the_fhir_server_a_file_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A request without prefetch naming a fhirServer (and a token): no request leaves, the file
    is answered on what it holds (a 412 here), and stderr says the server was ignored."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        # any request that tried would be recorded (and refused: nothing is registered)
        code = main(
            ["check", str(FIXTURES / "requests/order-sign-adult-rr-cycle1-no-prefetch.json")]
        )
        assert len(mock.calls) == 0
    captured = capsys.readouterr()
    assert code == 2 and "HTTP 412" in captured.out  # 2: the file could not be checked
    assert "fhirServer ignored" in captured.err


def test_a_fifo_a_device_and_json_too_deep_to_parse_are_refused_cleanly(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000, encoding="utf-8")
    for path, why in (
        (fifo, "not a regular file"),
        (zero, "not a regular file"),
        (deep, "RecursionError"),
    ):
        assert main(["check", str(path)]) == 2
        assert why in capsys.readouterr().err


def test_write_expected_never_writes_through_a_symlinked_sidecar(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A case whose sidecar is a link to another file (git can carry one in a change under
    review): refused, and the file it points to is untouched."""
    chart = CHARTS / "dose-adult-no-weight.json"
    (tmp_path / chart.name).write_text(chart.read_text(encoding="utf-8"), "utf-8")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", encoding="utf-8")
    (tmp_path / "dose-adult-no-weight.expected.json").symlink_to(victim)
    assert main(["check", "--all", str(tmp_path), "--write-expected"]) == 2
    assert "NOT RUN" in (out := capsys.readouterr().out) and "not a regular file" in out
    assert victim.read_text(encoding="utf-8") == "keep me"
