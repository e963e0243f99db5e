"""Response validation run on every 200 answer in the API tests (cds-hooks-notes.md C1-C6)."""

from __future__ import annotations

import re
from typing import Any

TOPIC_SYSTEM = "https://cds.example.org/fhir/CodeSystem/card-topic"
TOPICS = {
    "dose", "premedication", "pregnancy-status", "live-vaccine", "lab-monitoring",
    "hospitalization", "neonate-formulation", "cycle-limits", "data-quality",
}  # fmt: skip
HTML_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")


def _no_empty(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            assert item is not None and item not in ("", [], {}), f"{where}.{key} is null or empty"
            _no_empty(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _no_empty(item, f"{where}[{index}]")


def assert_valid_cds_response(body: dict[str, Any]) -> None:
    assert isinstance(body.get("cards"), list)
    for index, card in enumerate(body["cards"]):
        _no_empty(card, f"cards[{index}]")
        assert card["uuid"]
        assert 0 < len(card["summary"]) <= 140
        assert card["indicator"] in ("info", "warning", "critical")
        source = card["source"]
        assert source["label"] and source["url"].startswith("https://")
        assert source["topic"]["system"] == TOPIC_SYSTEM and source["topic"]["code"] in TOPICS
        assert not HTML_TAG.search(card.get("detail", "")), "no raw HTML in detail"
        if card.get("suggestions"):
            assert card["selectionBehavior"] in ("at-most-one", "any")
            assert sum(bool(s.get("isRecommended")) for s in card["suggestions"]) <= 1
            for suggestion in card["suggestions"]:
                assert suggestion["uuid"] and suggestion["label"]
                for action in suggestion.get("actions", []):
                    assert (
                        action["type"] in ("create", "update", "delete") and action["description"]
                    )
                    if action["type"] in ("create", "update"):
                        assert action["resource"]["resourceType"]
                    else:
                        assert action["resourceId"]
        for reason in card.get("overrideReasons", []):
            assert reason["system"] and reason["code"] and reason["display"]
        for link in card.get("links", []):
            assert link["type"] in ("absolute", "smart")
            assert link["url"].startswith("https://")
            assert "appContext" not in link or link["type"] == "smart"
