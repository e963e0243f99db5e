"""`python -m cds check` as a pharmacist uses it on exported charts (red team, 2026-12-03).

"No cards" had been printed for a file that held nothing to check (no draft order, or only an
active one), exactly as for an order checked and found right; several export formats gave Python
tracebacks or "unsupported hook None"; `--all` stopped at the first unreadable case; a chart above
the body limit got a bare 413. Exit codes: 0 checked, 1 cards changed (`--expect`), 2 not checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cds.__main__ import main
from tests.conftest import FIXTURES, load_json

CHARTS = FIXTURES / "charts"
CORRECT = CHARTS / "adult-70kg-rr-cycle1-correct.json"


def chart() -> dict[str, Any]:
    bundle: dict[str, Any] = load_json(CORRECT)
    return bundle


def written(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")
    return path


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["check", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def with_orders_as(status: str) -> dict[str, Any]:
    """The reference chart with its draft orders given another status (a chart export)."""
    bundle = chart()
    for entry in bundle["entry"]:
        if entry["resource"].get("status") == "draft":
            entry["resource"]["status"] = status
    return bundle


def with_only_other_drafts() -> dict[str, Any]:
    """The reference chart whose one draft order is ondansetron, not blinatumomab."""
    bundle = chart()
    bundle["entry"] = [
        e
        for e in bundle["entry"]
        if e["resource"].get("status") != "draft" or e["resource"].get("id") == "blinatumomab-c1"
    ]
    for entry in bundle["entry"]:
        if entry["resource"].get("status") == "draft":
            entry["resource"]["medicationCodeableConcept"] = {
                "coding": [
                    {
                        "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                        "code": "26225",
                        "display": "ondansetron",
                    }
                ],
                "text": "ondansetron 8 mg IV",
            }
            entry["resource"]["id"] = "ondansetron-1"
            for field in ("dosageInstruction", "extension", "reasonCode", "dispenseRequest"):
                entry["resource"].pop(field, None)
    return bundle


@pytest.mark.parametrize(
    ("content", "said"),
    [
        pytest.param(
            with_orders_as("active"),
            "NOTHING WAS CHECKED: the file holds no draft order",
            id="blinatumomab ordered but active, not draft -> nothing checked, said",
        ),
        pytest.param(
            with_only_other_drafts(),
            "NOTHING WAS CHECKED: no draft order is blinatumomab or a vaccine",
            id="the only draft is ondansetron -> nothing checked, said",
        ),
    ],
)
def test_a_file_with_nothing_to_check_says_so_not_just_no_cards(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: Any, said: str
) -> None:
    code, out, _ = check(capsys, str(written(tmp_path, "chart.json", content)))
    assert code == 0
    assert said in out
    assert "every check ran" not in out


def test_a_checked_order_without_cards_says_every_check_ran(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The reference chart (R/R cycle 1, correct step-up, dexamethasone) draws only an info
    reminder; without that card the silence is said to be a check, not an absence."""
    code, out, _ = check(capsys, str(CORRECT))
    assert code == 0 and "NOTHING WAS CHECKED" not in out


def test_the_output_names_the_patient_checked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bundle = chart()
    [patient] = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    ]
    code, out, _ = check(capsys, str(CORRECT))
    assert code == 0
    assert f"patient {patient['id']}" in out and f"born {patient['birthDate']}" in out


@pytest.mark.parametrize(
    ("content", "said"),
    [
        pytest.param(
            "<Bundle xmlns='http://hl7.org/fhir'/>", "FHIR XML is not read", id="FHIR XML"
        ),
        pytest.param(
            '{"resourceType": "Patient", "id": "a"}\n{"resourceType": "Patient", "id": "b"}\n',
            "several JSON documents (an NDJSON bulk export?)",
            id="NDJSON bulk export",
        ),
        pytest.param(
            {"resourceType": "Parameters", "parameter": [{"name": "return", "resource": {}}]},
            "a FHIR Parameters resource; give the Bundle it holds",
            id="Parameters wrapper",
        ),
        pytest.param(
            {"resourceType": "Patient", "id": "pt-1"},
            "a FHIR Patient, not a Bundle",
            id="a Patient alone",
        ),
        pytest.param({}, "not a FHIR Bundle nor a CDS Hooks request (no hook)", id="{}"),
    ],
)
def test_files_that_are_not_charts_are_named_for_what_they_are(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: Any, said: str
) -> None:
    code, out, err = check(capsys, str(written(tmp_path, "export.json", content)))
    assert code == 2
    assert said in err and "Traceback" not in err + out


def test_a_chart_saved_with_a_byte_order_mark_is_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = written(tmp_path, "bom.json", b"\xef\xbb\xbf" + CORRECT.read_bytes())
    code, out, err = check(capsys, str(path))
    assert code == 0, err
    assert "HTTP 200" in out


def test_a_missing_file_and_a_folder_are_told_apart(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert check(capsys, str(tmp_path / "nope.json"))[2].strip().endswith("no such file")
    code, _, err = check(capsys, str(tmp_path))
    assert code == 2 and f"a folder (use --all {tmp_path}" in err


@pytest.mark.parametrize("value", ["garbage", "2026-02-30", "yesterday"])
def test_a_bad_now_is_a_usage_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str], value: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["check", str(CORRECT), "--now", value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "is not a date or time: write e.g. 2026-03-02T09:00Z" in err
    assert "Traceback" not in err


def test_a_date_only_now_is_read_as_utc_midnight(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = check(capsys, str(CORRECT), "--now", "2026-03-02")
    assert code == 0 and "as of 2026-03-02T00:00:00+00:00" in out


def test_a_chart_above_the_body_limit_says_how_to_raise_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDS_MAX_BODY_BYTES", "2000")
    code, out, _ = check(capsys, str(CORRECT))
    assert code == 2
    assert "HTTP 413" in out and "set CDS_MAX_BODY_BYTES to check a larger chart" in out


def test_check_all_runs_every_case_past_an_unreadable_one_and_names_the_rest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Before: the first unreadable case stopped the run (exit 2, nothing said of the others);
    charts without a sidecar were left out in silence."""
    good = CHARTS / "dose-adult-no-weight.json"
    written(tmp_path, good.name, good.read_text("utf-8"))
    written(
        tmp_path,
        "dose-adult-no-weight.expected.json",
        (CHARTS / "dose-adult-no-weight.expected.json").read_text("utf-8"),
    )
    written(tmp_path, "a-broken.json", "{not json")
    written(tmp_path, "a-broken.expected.json", {"cards": []})
    written(tmp_path, "z-unsaved.json", chart())
    code, out, _ = check(capsys, "--all", str(tmp_path), "--expect")
    assert code == 2
    assert f"NOT RUN    cannot read {tmp_path / 'a-broken.json'}: not JSON" in out
    assert f"unchanged  {tmp_path / good.name}" in out
    assert f"1 JSON file(s) without a NAME.expected.json: {tmp_path / 'z-unsaved.json'}" in out
    assert out.rstrip().endswith("2 cases: 1 unchanged, 0 changed, 1 could not be run")


def with_outcome(severity: str, diagnostics: str, drop: str | None = None) -> dict[str, Any]:
    """The reference chart as a searchset export whose search outcome reports a problem (and,
    with `drop`, without the resources of that type: the search that failed returned none)."""
    bundle = chart()
    bundle["type"] = "searchset"
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != drop]
    bundle["entry"].append(
        {
            "resource": {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": severity, "code": "exception", "diagnostics": diagnostics}],
            },
            "search": {"mode": "outcome"},
        }
    )
    return bundle


def cards_of(capsys: pytest.CaptureFixture[str], tmp_path: Path, bundle: Any) -> list[Any]:
    code, out, _ = check(capsys, str(written(tmp_path, "export.json", bundle)), "--json")
    assert code == 0
    return [
        (c["source"]["topic"]["code"], c["indicator"], c["summary"])
        for c in json.loads(out)["cards"]
    ]


def test_an_export_whose_observation_search_failed_is_not_read_as_no_labs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Red team: "Observation search failed" in the export's search outcome, and the labs were
    said to be absent ("No recent liver tests on file"). Now the observations are an error:
    the checks that need them say they could not verify."""
    failed = with_outcome("error", "Observation search failed: lab system timeout", "Observation")
    cards = cards_of(capsys, tmp_path, failed)
    assert (
        "lab-monitoring",
        "warning",
        "Could not verify the liver tests and neutrophil count: data unavailable",
    ) in cards
    assert not [c for c in cards if c[2].startswith("No recent liver tests")]
    assert [c for c in cards if c[0] == "dose" and c[2].startswith("Could not verify")]


def test_an_outcome_naming_no_type_makes_the_empty_keys_unknown_not_empty(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An error that names no resource type: what the chart holds is still read, but a key with
    nothing in it may be the search that failed, so it is not taken for "none on file"."""
    cards = cards_of(capsys, tmp_path, with_outcome("fatal", "search timed out", "Immunization"))
    assert [c for c in cards if c[0] == "live-vaccine" and c[1] == "warning"], cards
    assert not [c for c in cards if c[0] == "dose" and c[2].startswith("Could not verify")]


def test_an_informational_search_outcome_changes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plain = cards_of(capsys, tmp_path, chart())
    noted = cards_of(capsys, tmp_path, with_outcome("information", "Observation: 10 results"))
    assert noted == plain


def test_a_card_whose_wording_changed_is_reworded_not_unchanged(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Red team: with the R/R premedication changed to 40 mg, `--expect` said "unchanged": only
    topic, indicator and finding code were compared. The sidecar keeps each card's summary now,
    so a changed dose or date in the wording shows."""
    case = written(tmp_path, "case.json", chart())
    assert check(capsys, str(case), "--write-expected")[0] == 0
    sidecar = tmp_path / "case.expected.json"
    saved = json.loads(sidecar.read_text("utf-8"))
    [card] = saved["cards"]
    was = card[3]
    card[3] = was.replace("dexamethasone 20 mg", "dexamethasone 40 mg")
    assert card[3] != was
    sidecar.write_text(json.dumps(saved), "utf-8")
    code, out, _ = check(capsys, str(case), "--expect")
    assert code == 1
    assert f"  ~ reworded: {' '.join(card[:3])}" in out
    assert f"      was: {card[3]}" in out and f"      now: {was}" in out


def test_a_three_part_sidecar_compares_without_the_wording(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """What the sandbox page saves: [topic, indicator, finding code]."""
    case = written(tmp_path, "case.json", chart())
    assert check(capsys, str(case), "--write-expected")[0] == 0
    sidecar = tmp_path / "case.expected.json"
    saved = json.loads(sidecar.read_text("utf-8"))
    sidecar.write_text(json.dumps({"cards": [c[:3] for c in saved["cards"]]}), "utf-8")
    assert check(capsys, str(case), "--expect")[0] == 0


def test_a_case_saved_with_now_and_patient_runs_so_again(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Red team: a case saved with `--now 2025-01-01T00:00:00Z --write-expected` came back
    CHANGED on its next run, evaluated as of its orders' signing time instead."""
    case = written(tmp_path, "case.json", chart())
    saved = check(capsys, str(case), "--now", "2026-03-20T00:00:00Z", "--write-expected")
    assert saved[0] == 0
    sidecar = json.loads((tmp_path / "case.expected.json").read_text("utf-8"))
    assert sidecar["now"] == "2026-03-20T00:00:00+00:00" and "patient" not in sidecar
    assert check(capsys, str(case), "--expect")[:2] == (0, f"unchanged  {case}\n")
    assert check(capsys, "--all", str(tmp_path), "--expect")[0] == 0


def test_a_now_after_the_signing_is_said(capsys: pytest.CaptureFixture[str]) -> None:
    """Red team: with --now weeks after the order's start nothing said so, and a card still
    asked to premedicate on a date already past."""
    code, out, _ = check(capsys, str(CORRECT), "--now", "2026-03-20T00:00:00Z")
    assert code == 0
    assert "note: as of --now, after these orders were signed (2026-03-02T08:00:00+00:00)" in out
    assert "note:" not in check(capsys, str(CORRECT))[1]
