"""How many cards a correct order draws ("Quiet by design", issue 15).

    .venv/bin/python -m bench.quiet

Posts every correct-order scenario of `tests/checks/quiet_charts.py` (complete chart, inpatient,
prefetch mode) to the app's test client and prints the cards each draws, by indicator, and the
average number of cards per correct order. A correct order should draw no warning or critical card
and at most one information card.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from cds import create_app
from cds.cards import FINDING_CODE_EXTENSION
from cds.settings import Settings
from tests.checks.quiet_charts import QUIET

SIGNED = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # when the scenarios' orders are signed


def main() -> None:
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "feedback.sqlite3"
        app = create_app(
            Settings(dev_mode=True, database_url=f"sqlite:///{database}"), clock=lambda: SIGNED
        )
        counts: list[int] = []
        indicators: Counter[str] = Counter()
        with app.test_client() as client:
            for name, scenario in QUIET.items():
                response = client.post(
                    "/cds-services/blinatumomab-order-sign", json=scenario.request()
                )
                cards = response.get_json()["cards"]
                counts.append(len(cards))
                indicators.update(c["indicator"] for c in cards)
                said = ", ".join(
                    f"{c['indicator']} {c['extension'][FINDING_CODE_EXTENSION]}" for c in cards
                )
                print(f"{len(cards)} card(s)  {name}" + (f"  [{said}]" if said else ""))
    print(
        f"\n{len(counts)} correct orders: {sum(counts)} cards, "
        f"average {statistics.mean(counts):.2f} per order "
        f"(info {indicators['info']}, warning {indicators['warning']}, "
        f"critical {indicators['critical']})"
    )


if __name__ == "__main__":
    main()
