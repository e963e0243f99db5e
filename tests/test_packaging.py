"""The package installs and runs without the checkout.

`cards/` and `fhir-fixtures/charts/` stay at the top of the repository and ship inside the wheel
(`cds/bundled_data.py`). The slow test builds the wheel from exactly what the Docker image's build
stage copies, installs it (not editable) into a fresh virtual environment and runs
`python -m cds check` from another directory: the cards must be those the checkout prints.

Offline: the wheel is built without build isolation, and the fresh environment gets the service's
dependencies from this environment's site-packages through a `.pth` line (such a line adds a path
but runs none of that folder's own `.pth` files, so this checkout's editable install stays out).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import TypedDict, cast

import pytest
from flask.testing import FlaskClient

from cds.__main__ import main
from cds.bundled_data import CARDS_DIR, SAMPLE_CHARTS_DIR
from tests.conftest import FIXTURES, ROOT

DOCKERFILE = ROOT / "docker" / "Dockerfile"
CHARTS_DIR = FIXTURES / "charts"
# a chart with no card at all, one with a corrected order offered, one that cannot be fully checked
CHARTS = [
    "adult-70kg-rr-cycle1-correct",
    "dose-adult-rr-cycle1-day8-underdose",
    "dose-adult-no-weight",
]


# the parts of pyproject.toml's [tool.setuptools] the tests read
SetuptoolsConfig = TypedDict(
    "SetuptoolsConfig",
    {"packages": list[str], "package-data": dict[str, list[str]], "package-dir": dict[str, str]},
)


def setuptools_config() -> SetuptoolsConfig:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return cast(SetuptoolsConfig, config["tool"]["setuptools"])


def test_every_folder_of_the_package_is_listed_for_the_wheel() -> None:
    """pyproject.toml lists the packages by hand (it maps two repository folders into the
    package); a new folder of Python code under cds/ that is not listed would be missing from the
    wheel, and so would a data folder (e.g. cds/knowledge/schema) its parent's package-data
    patterns do not name."""
    config = setuptools_config()
    listed = set(config["packages"])
    folders = [
        p
        for p in [ROOT / "cds", *(ROOT / "cds").rglob("*")]
        if p.is_dir() and p.name != "__pycache__"
    ]
    code = {".".join(p.relative_to(ROOT).parts) for p in folders if any(p.glob("*.py"))}
    assert code <= listed, f"add {sorted(code - listed)} to [tool.setuptools] packages"
    data = config["package-data"]
    for folder in folders:
        if ".".join(folder.relative_to(ROOT).parts) in listed:
            continue
        parent = ".".join(folder.parent.relative_to(ROOT).parts)
        files = [f.relative_to(folder.parent).as_posix() for f in folder.iterdir() if f.is_file()]
        patterns = data.get(parent, [])
        unshipped = [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in patterns)]
        assert not unshipped, f"{folder}: {unshipped} match no package-data pattern of {parent}"


def test_the_data_folders_mapped_into_the_wheel_are_the_ones_the_service_reads() -> None:
    mapped = setuptools_config()["package-dir"]
    assert mapped == {"cds._cards": "cards", "cds._charts": "fhir-fixtures/charts"}
    # in a checkout (or an editable install) the service reads the repository's own folders, the
    # ones pharmacists edit, never a stale copy inside cds/
    assert CARDS_DIR == ROOT / "cards"
    assert SAMPLE_CHARTS_DIR == CHARTS_DIR


def build_stage_copies() -> list[tuple[str, str]]:
    """(source, destination) of each COPY of the Dockerfile's first stage, the one that builds the
    wheel."""
    stages = re.split(r"(?m)^FROM ", DOCKERFILE.read_text(encoding="utf-8"))
    copies = []
    for line in stages[1].splitlines():
        if line.startswith("COPY "):
            *sources, destination = line.split()[1:]
            copies += [(source, destination) for source in sources]
    return copies


def copy_build_context(target: Path) -> None:
    for source, destination in build_stage_copies():
        to = target / destination / Path(source).name if destination.endswith("/") else None
        to = to or target / destination
        to.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, to, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / source, to)


def run(*command: str | Path, cwd: Path) -> str:
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The python of a fresh virtual environment holding the wheel built from the Docker image's
    build context."""
    work = tmp_path_factory.mktemp("wheel")
    source, dist, venv = work / "src", work / "dist", work / "venv"
    copy_build_context(source)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    build = ["wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist), "."]
    run(*pip, *build, cwd=source)
    wheel = next(dist.glob("blinatumomab_cds-*.whl"))
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=work)
    python = venv / "bin" / "python"
    run(*pip, "--python", python, "install", "-q", "--no-index", "--no-deps", wheel, cwd=work)
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(run(python, "-c", purelib, cwd=work).strip())
    (site / "checkout-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    yield python


@pytest.mark.slow
def test_the_installed_package_is_the_wheel_not_the_checkout(
    installed: Path, tmp_path: Path
) -> None:
    where = run(installed, "-c", "import cds; print(cds.__file__)", cwd=tmp_path).strip()
    assert Path(where).is_relative_to(installed.parent.parent), where
    assert not Path(where).is_relative_to(ROOT)


@pytest.mark.slow
@pytest.mark.parametrize("chart", CHARTS)
def test_check_from_another_directory_prints_the_checkouts_cards(
    installed: Path, chart: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = CHARTS_DIR / f"{chart}.json"
    capsys.readouterr()
    assert main(["check", str(path)]) == 0
    in_checkout = capsys.readouterr().out
    assert "HTTP 200" in in_checkout
    assert run(installed, "-m", "cds", "check", path, cwd=tmp_path) == in_checkout


@pytest.mark.slow
def test_the_installed_sandbox_page_offers_the_checkouts_sample_charts(
    installed: Path, tmp_path: Path, client: FlaskClient
) -> None:
    listing = """
import json, logging
logging.disable(logging.CRITICAL)
from cds import create_app
from cds.settings import Settings
app = create_app(Settings(dev_mode=True, database_url="sqlite://"))
print(json.dumps(app.test_client().get("/sandbox/patients").get_json()))
"""
    in_checkout = client.get("/sandbox/patients").get_json()
    assert len(in_checkout["patients"]) == len(list(CHARTS_DIR.glob("*.expected.json")))
    assert json.loads(run(installed, "-c", listing, cwd=tmp_path)) == in_checkout
