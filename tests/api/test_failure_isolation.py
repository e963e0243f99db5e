"""One failing check never hides the others: a check that raises yields a "could not verify" card
for its topic and the other checks still answer."""

from __future__ import annotations

from typing import Any

from cds.checks import Check, CheckInput, registry
from cds.findings import Emission
from cds.knowledge import Knowledge
from cds.settings import Settings
from tests.conftest import SIGN, chart_request


def _broken(item: CheckInput, knowledge: Knowledge) -> list[Emission]:
    raise ZeroDivisionError("a bug in a check")


BROKEN = Check(
    topic="premedication",
    verifies="the premedication",
    requires=frozenset(),
    run=_broken,
)


def test_a_check_that_raises_says_so_and_the_others_still_answer(make_app: Any) -> None:
    checks = [c for c in registry() if c.topic != "premedication"] + [BROKEN]
    client = make_app(checks=checks).test_client()
    answer = client.post(SIGN, json=chart_request("dose-adult-rr-cycle1-starts-at-28"))
    assert answer.status_code == 200
    cards = answer.get_json()["cards"]
    topics = {(c["source"]["topic"]["code"], c["indicator"]) for c in cards}
    assert ("premedication", "warning") in topics
    assert ("dose", "critical") in topics
    [broken] = [c for c in cards if c["source"]["topic"]["code"] == "premedication"]
    assert broken["summary"].startswith("Could not verify the premedication")
    assert "failed unexpectedly" in broken["detail"]


def test_a_fhir_answer_over_the_size_limit_is_treated_as_a_failure(
    make_app: Any, tmp_path: Any
) -> None:
    import responses

    settings = Settings(
        dev_mode=True, database_url=f"sqlite:///{tmp_path / 'f.db'}", fhir_max_response_bytes=10_000
    )
    request = chart_request("dose-adult-rr-cycle1-starts-at-28") | {
        "fhirServer": "https://ehr.example.org/fhir"
    }
    del request["prefetch"]["observations"]
    huge = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {"resourceType": "Basic", "id": "x" * 50_000}}],
    }
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, "https://ehr.example.org/fhir/Observation", json=huge)
        answer = make_app(settings=settings).test_client().post(SIGN, json=request)
    assert answer.status_code == 200
    assert any("larger than" in c.get("detail", "") for c in answer.get_json()["cards"])
