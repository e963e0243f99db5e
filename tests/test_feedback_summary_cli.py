"""`python -m cds feedback-summary [--json]`: how often each kind of card is overridden.

The summary reads the store named by `CDS_DATABASE_URL`, here filled through the real service:
overdose cards issued for two orders, one overridden by the prescriber and one accepted, plus
feedback from an EHR about a card this service never issued.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds.__main__ import main
from cds.settings import Settings
from tests.api.test_feedback import FEEDBACK, dose_card

OVERRIDE_COMMENT = "Deliberate: protocol dose confirmed with the attending haematologist."


@pytest.fixture
def summary_of(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., str]:
    """Run the CLI in-process against the test's database and return what it printed."""
    monkeypatch.setenv("CDS_DATABASE_URL", settings.database_url)

    def run(*flags: str) -> str:
        capsys.readouterr()
        assert main(["feedback-summary", *flags]) == 0
        return capsys.readouterr().out

    return run


@pytest.fixture
def two_overdoses_one_overridden(app: Flask) -> dict[str, Any]:
    client = app.test_client()
    overridden, accepted = dose_card(client), dose_card(client)
    reason = overridden["overrideReasons"][0]
    feedback = [
        {
            "card": overridden["uuid"],
            "outcome": "overridden",
            "overrideReason": {"reason": reason, "userComment": OVERRIDE_COMMENT},
            "outcomeTimestamp": "2026-03-02T08:02:00Z",
        },
        {
            "card": accepted["uuid"],
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": accepted["suggestions"][0]["uuid"]}],
            "outcomeTimestamp": "2026-03-02T08:03:00Z",
        },
        {
            "card": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
            "outcome": "overridden",
            "overrideReason": {"userComment": "not sure which card this was"},
            "outcomeTimestamp": "2026-03-02T08:04:00Z",
        },
    ]
    answer = client.post(FEEDBACK, json={"feedback": feedback})
    assert answer.status_code == 200, answer.get_json()
    return {"reason": reason["code"]}


def table(out: str) -> dict[str, list[str]]:
    """The summary's table rows by topic (columns are separated by two or more spaces)."""
    rows = [re.split(r"\s{2,}", line.strip()) for line in out.splitlines()]
    return {row[0]: row[1:] for row in rows if len(row) == 6}


def test_text_summary_shows_issued_accepted_overridden_and_rate_per_topic(
    two_overdoses_one_overridden: dict[str, Any], summary_of: Callable[..., str]
) -> None:
    out = summary_of()
    rows = table(out)
    assert rows["topic"] == ["issued", "accepted", "overridden", "no feedback", "override rate"]
    assert rows["dose"] == ["2", "1", "1", "0", "50%"]
    assert rows["(unknown card)"] == ["-", "0", "1", "-", "100%"]
    assert rows["all cards"][1:3] == ["1", "2"]  # accepted, overridden: both rows together
    assert rows["all cards"][-1] == "67%"
    reason = two_overdoses_one_overridden["reason"]
    assert f"dose: {reason} (1)" in out
    assert "(unknown card): (comment only) (1)" in out


def test_json_summary_gives_the_same_numbers_to_a_program(
    two_overdoses_one_overridden: dict[str, Any], summary_of: Callable[..., str]
) -> None:
    rows = {row["topic"]: row for row in json.loads(summary_of("--json"))}
    assert rows["dose"] == {
        "topic": "dose",
        "issued": 2,
        "accepted": 1,
        "overridden": 1,
        "no_feedback": 0,
        "override_rate": 0.5,
        "override_reasons": {two_overdoses_one_overridden["reason"]: 1},
    }
    assert (rows["(unknown card)"]["overridden"], rows["(unknown card)"]["issued"]) == (1, 0)


def test_a_card_without_feedback_counts_as_issued_with_no_rate(
    app: Flask, summary_of: Callable[..., str]
) -> None:
    dose_card(app.test_client())
    (row,) = [r for r in json.loads(summary_of("--json")) if r["topic"] == "dose"]
    assert (row["issued"], row["no_feedback"], row["override_rate"]) == (1, 1, None)
    assert table(summary_of())["dose"] == ["1", "0", "0", "1", "-"]


def test_an_empty_store_says_so(app: Flask, summary_of: Callable[..., str]) -> None:
    """The service's store (created by the app) before any card was issued."""
    assert summary_of().strip() == "No cards issued and no feedback received yet."
    assert json.loads(summary_of("--json")) == []


def test_no_store_is_said_and_none_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pharmacist red team: run from another folder, it created an empty `instance/` store and
    said "no cards issued yet"; a bad URL gave a traceback."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CDS_DATABASE_URL", raising=False)
    assert main(["feedback-summary"]) == 2
    assert "no feedback store at" in capsys.readouterr().err
    assert not (tmp_path / "instance").exists()
    monkeypatch.setenv("CDS_DATABASE_URL", "bogus://x")
    assert main(["feedback-summary"]) == 2
    err = capsys.readouterr().err
    assert "cannot read the feedback store" in err and "Traceback" not in err
