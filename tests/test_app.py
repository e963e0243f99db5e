"""Start-up: the app factory runs nothing at import and refuses to run open by accident."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from cds import StartupRefused, create_app
from cds.__main__ import main
from cds.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_importing_the_package_starts_nothing() -> None:
    code = (
        "import cds, sys; assert 'cds.services' not in sys.modules; assert 'flask' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


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
