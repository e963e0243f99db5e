"""Where the data folders that live at the top of the repository are found at run time.

`cards/` (card wording) and `fhir-fixtures/charts/` (the sandbox page's sample charts) stay at the
top of the repository, where pharmacists review them. A built wheel carries copies of them inside
the package (`cds/_cards`, `cds/_charts`: the `package-dir` mapping in pyproject.toml), because an
installed package cannot reach the repository. A checkout or an editable install has no such
copies and reads the repository's folders directly.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(in_package: str, in_repository: str) -> Path:
    """The copy inside the installed package when there is one, else the repository's folder."""
    packaged = PACKAGE_DIR / in_package
    return packaged if packaged.is_dir() else PACKAGE_DIR.parent / in_repository


CARDS_DIR = data_dir("_cards", "cards")
SAMPLE_CHARTS_DIR = data_dir("_charts", "fhir-fixtures/charts")
