"""Start-up: the app factory runs nothing at import and refuses to run open by accident."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from cds import StartupRefused, create_app
from cds.__main__ import main
from cds.settings import Settings
from tests.api.test_feedback import spec_example

ROOT = Path(__file__).resolve().parent.parent


def test_importing_the_package_starts_nothing() -> None:
    """Nor imports Flask or pydantic: `python -m cds` pauses the collector while they come in."""
    code = "import cds, sys; assert not {'cds.services', 'flask', 'pydantic'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


def test_serve_forks_its_workers_with_the_collector_on_and_the_start_up_heap_frozen() -> None:
    """`serve` keeps the collector off while it starts; the workers must get it back."""
    code = (
        "import gc; gc.disable()\n"
        "from cds.server import GC_THRESHOLDS, settle_heap\n"
        "settle_heap()\n"
        "assert gc.isenabled() and gc.get_threshold() == GC_THRESHOLDS, gc.get_threshold()\n"
        "assert gc.get_freeze_count() > 10_000, gc.get_freeze_count()"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


def test_the_app_is_built_without_what_only_a_fetch_or_postgresql_needs(tmp_path: Path) -> None:
    """`serve` answers its first call within 1 s of start (issue 17): requests, urllib3 and the
    egress adapter (~70 ms) wait for the first FHIR fetch, PostgreSQL's dialect (~27 ms) for a
    PostgreSQL database."""
    code = (
        "import sys, logging; logging.disable(logging.WARNING)\n"
        "from cds import create_app; from cds.settings import Settings\n"
        f"create_app(Settings(dev_mode=True, database_url='sqlite:///{tmp_path / 'db.sqlite3'}'))\n"
        "late = ('requests', 'urllib3', 'cds.fhir.egress', 'sqlalchemy.dialects.postgresql')\n"
        "print(*[name for name in late if name in sys.modules])"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60, capture_output=True
    )
    assert found.stdout.decode().split() == []


def test_check_never_imports_the_database_layer() -> None:
    """`check` is a dry run: SQLAlchemy (~0.25 s, a fifth of its start-up) is never imported,
    and its cards are the service's all the same."""
    chart = ROOT / "fhir-fixtures" / "charts" / "adult-70kg-rr-cycle1-correct.json"
    code = (
        "import sys\n"
        "from cds.__main__ import main\n"
        f"sys.argv = ['cds', 'check', {str(chart)!r}, '--json']\n"
        "status = main()\n"
        "print([name for name in sys.modules if name.split('.')[0] == 'sqlalchemy'])\n"
        "sys.exit(status)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60, capture_output=True
    )
    *answer, loaded = done.stdout.decode().strip().splitlines()
    assert loaded == "[]"
    assert [card["indicator"] for card in json.loads("\n".join(answer))["cards"]]


def test_a_dry_run_records_nothing_and_takes_no_feedback() -> None:
    app = create_app(Settings(dev_mode=True), dry_run=True)
    assert app.extensions["cds.feedback"] is None
    feedback = spec_example("ex20-example-overridden-guidance-without-overridereason.json")
    answer = app.test_client().post("/cds-services/blinatumomab-order-sign/feedback", json=feedback)
    assert answer.status_code == 503
    assert "dry run" in answer.get_json()["issue"][0]["diagnostics"]


def test_a_dry_run_is_for_open_development_mode_only() -> None:
    with pytest.raises(ValueError, match="development mode"):
        create_app(Settings(dev_mode=False), dry_run=True)


def test_without_dev_mode_the_app_refuses_to_start_and_says_why() -> None:
    with pytest.raises(StartupRefused, match="--dev"):
        create_app(Settings(dev_mode=False))


def test_serve_without_dev_exits_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0"]) == 2
    assert "refusing to start" in capsys.readouterr().err


def test_dev_mode_is_announced_loudly(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        create_app(settings)
    assert "OPEN DEVELOPMENT MODE" in caplog.text


def test_unknown_routes_and_methods_answer_json(client) -> None:  # type: ignore[no-untyped-def]
    missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.get_json()["resourceType"] == "OperationOutcome"
    wrong_method = client.put("/cds-services")
    assert wrong_method.status_code == 405
    assert wrong_method.get_json()["resourceType"] == "OperationOutcome"
