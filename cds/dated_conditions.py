"""A problem-list Condition with its dates, as the issue-15 rules need them.

`ConditionFact` (cds.patient) has no onset or abatement yet; until the facts builder adds them,
the new rules read this shape. The integrator can give `ConditionFact` the same four fields and
drop this module: every function here only reads the attributes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cds.patient import Code


@dataclass(frozen=True)
class DatedCondition:
    resource: str
    codes: frozenset[Code]
    clinical_status: str | None
    verification_status: str | None
    onset: datetime | None = None  # onsetDateTime, or onsetPeriod.start
    abatement: datetime | None = None  # abatementDateTime, or abatementPeriod.start
    abated: bool = False  # any abatement[x] at all (a date, a string, a boolean true)
    recorded: datetime | None = None  # recordedDate

    @property
    def when(self) -> datetime | None:
        """When it began, as far as the chart says: onset, else the recorded date."""
        return self.onset or self.recorded
