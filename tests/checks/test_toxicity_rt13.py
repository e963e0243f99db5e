"""Restart after a seizure: red team rt13/c (label §2.4).

Label §2.4: neurological toxicity grade 3 -> restart at 9 mcg/day; grade 4, MORE THAN ONE
SEIZURE, or a grade 3 that occurred at 9 mcg/day -> discontinue permanently. Findings:
- H1: a seizure count beside an ICANS or neurotoxicity name ("ICANS grade 2, seizures x2") is
  more than one seizure, whatever else the Condition names.
- H3: an order signed before the seizure (started after it) never asked about it.
- H4: a reduced restart order (9 mcg/day) asks nothing about the grade: unless it completed its
  reduced days, it does not count as having asked.
- H2: count words (ordinals, repeats, any number, "x6", "2x", "episodes x2"); a negation ends at
  a separator (';', '.', a new line).
- N2: "Seizure; cluster headaches" is one seizure.

The chart is the restart chart of test_restart_after_toxicity (an adult on R/R cycle 2 at 28
mcg/day from 2026-02-19, stopped 02-24 18:00, one seizure 02-24 15:00, resumed 03-03 10:00).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.checks.test_restart_after_toxicity import SIX_DAYS_LATER, P, adult, cycle_2, restart
from tests.checks.test_toxicity_seizure_grade_and_count import (
    DISCONTINUE,
    GRADE_UNKNOWN,
    REDUCED_RESTART,
    STRAIGHT_28,
    chart,
    codes,
    dose_cards,
    named,
    seizure,
)
from tests.fixtures_util import Step, blinatumomab_administration, blinatumomab_order, bundle

Cases = dict[str, tuple[dict[str, Any], list[tuple[str, str]]]]

# --- H1: a seizure count beside an ICANS / neurotoxicity name ---------------------------------
ICANS = "Immune effector cell-associated neurotoxicity syndrome"
BESIDE_ICANS: Cases = {
    "G92.02 'ICANS grade 2, seizures x2', resumed at 28 -> discontinue": (
        chart(seizure("G92.02", f"{ICANS}, grade 2", text="ICANS grade 2, seizures x2")),
        [DISCONTINUE],
    ),
    "G92.03 'ICANS grade 3, seizures x2', reduced restart -> discontinue": (
        chart(
            seizure("G92.03", f"{ICANS}, grade 3", text="ICANS grade 3, seizures x2"),
            steps=REDUCED_RESTART,
        ),
        [DISCONTINUE],
    ),
    "G92.03 'ICANS grade 3 with recurrent seizures', reduced restart -> discontinue": (
        chart(
            seizure("G92.03", f"{ICANS}, grade 3", text="ICANS grade 3 with recurrent seizures"),
            steps=REDUCED_RESTART,
        ),
        [DISCONTINUE],
    ),
    "G92.8 'Neurotoxicity with seizures x2', reduced restart -> discontinue": (
        chart(
            seizure("G92.8", "Other toxic encephalopathy", text="Neurotoxicity with seizures x2"),
            steps=REDUCED_RESTART,
        ),
        [DISCONTINUE],
    ),
    "named 'ICANS grade 2, seizures x2' (local code), resumed at 28 -> discontinue": (
        chart(named("ICANS grade 2, seizures x2")),
        [DISCONTINUE],
    ),
    "control: G92.03 'ICANS grade 3 with seizure', reduced restart -> no card": (
        chart(
            seizure("G92.03", f"{ICANS}, grade 3", text="ICANS grade 3 with seizure"),
            steps=REDUCED_RESTART,
        ),
        [],
    ),
}


@pytest.mark.parametrize(
    ("chart_bundle", "expected"), BESIDE_ICANS.values(), ids=BESIDE_ICANS.keys()
)
def test_a_seizure_count_beside_an_icans_name(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    cards = dose_cards(client, chart_bundle)
    assert codes(cards) == sorted(expected), [c["summary"] for c in cards]


# --- H3/H4: which earlier order asked about the seizure ---------------------------------------
R1_START = datetime(2026, 2, 27, 10, tzinfo=UTC)


def with_restart_on_file(
    steps: tuple[Step, ...],
    *,
    status: str = "stopped",
    authored: str = "2026-02-26T08:00:00+00:00",
    ran_days: int | None = None,
    draft: tuple[Step, ...] = STRAIGHT_28,
) -> dict[str, Any]:
    """The seizure chart with an earlier restart order (from 02-27 10:00) on file, with `ran_days`
    days of MAR under it (None: no MAR), and the order to sign from 03-03 10:00."""
    r1 = blinatumomab_order(
        P,
        steps,
        oid="blin-r1",
        cycle=2,
        start=R1_START.isoformat(),
        status=status,
        authored=authored,
    )
    given = (
        [
            blinatumomab_administration(
                P,
                "mar-r1",
                R1_START,
                R1_START + timedelta(days=ran_days),
                rate=float(steps[0].dose or 0),
                request="MedicationRequest/blin-r1",
            )
        ]
        if ran_days
        else []
    )
    return bundle(
        [*adult(), *cycle_2(), seizure(), r1, *given, restart(*draft, start=SIX_DAYS_LATER)]
    )


RESTART_ON_FILE: Cases = {
    "an order at 28 signed before the seizure (02-24 08:00), ran 1 day after it -> confirm "
    "the grade": (
        with_restart_on_file(STRAIGHT_28, authored="2026-02-24T08:00:00+00:00", ran_days=1),
        [GRADE_UNKNOWN],
    ),
    "control: an order at 28 signed after the seizure, ran 1 day -> no card": (
        with_restart_on_file(STRAIGHT_28, ran_days=1),
        [],
    ),
    "a reduced restart on hold, never begun, then 28 -> confirm the grade": (
        with_restart_on_file(REDUCED_RESTART, status="on-hold"),
        [GRADE_UNKNOWN],
    ),
    "a reduced restart stopped, never begun, then 28 -> confirm the grade": (
        with_restart_on_file(REDUCED_RESTART),
        [GRADE_UNKNOWN],
    ),
    "a reduced restart ran 1 of its 7 days at 9, then 28 -> confirm the grade": (
        with_restart_on_file(REDUCED_RESTART, ran_days=1),
        [GRADE_UNKNOWN],
    ),
    "control: an order at 28 signed after the seizure, stopped, never begun -> no card": (
        with_restart_on_file(STRAIGHT_28),
        [],
    ),
}


@pytest.mark.parametrize(
    ("chart_bundle", "expected"), RESTART_ON_FILE.values(), ids=RESTART_ON_FILE.keys()
)
def test_which_earlier_order_asked_about_the_seizure(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    cards = dose_cards(client, chart_bundle)
    assert codes(cards) == sorted(expected), [c["summary"] for c in cards]


# --- H2/N2: count words -----------------------------------------------------------------------
def in_words(text: str) -> dict[str, Any]:
    return seizure(cid="sz-words", text=text)


MANY = (
    "2nd seizure",
    "Second seizure",
    "Another seizure",
    "Repeat seizure",
    "Seizure again",
    "Seizure recurred",
    "Seizures, recurrent",
    "Tonic clonic seizures, recurrent, intractable",
    "Recurring seizures",
    "Frequent seizures",
    "6 seizures",
    "Six seizures",
    "Seizures x6",
    "Seizures x 10",
    "Seizures 2x",
    "Seizure episodes x2",
    "Seizure activity x2",
    "Seizures (2 episodes)",
    "No prior history; seizures x2",
    "No prior history. Seizures x2",
    "No prior history\nseizures x2",
)
ONE = (
    "Seizures",
    "Day 2 seizures",
    "Seizure; cluster headaches",
    "Seizure x1",
    "Seizure on day 2",
    "R56.9 seizures",
    "24/02/2026 seizures",
    "Seizures 2026",
)
COUNT_WORDS: Cases = {
    **{
        f"R56.9 {text!r}, reduced restart -> discontinue": (
            chart(in_words(text), steps=REDUCED_RESTART),
            [DISCONTINUE],
        )
        for text in MANY
    },
    **{
        f"control: R56.9 {text!r}, reduced restart -> no card": (
            chart(in_words(text), steps=REDUCED_RESTART),
            [],
        )
        for text in ONE
    },
    "control: 'Grade 2 seizures' named (a grade), resumed at 28 -> no card": (
        chart(named("Grade 2 seizures")),
        [],
    ),
    "'2nd seizure' named, resumed at 28 -> discontinue": (
        chart(named("2nd seizure")),
        [DISCONTINUE],
    ),
    "control: 'No recurrent seizures' beside R56.9, reduced restart -> no card": (
        chart(seizure(), named("No recurrent seizures", cid="sz-neg"), steps=REDUCED_RESTART),
        [],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), COUNT_WORDS.values(), ids=COUNT_WORDS.keys())
def test_words_that_count_seizures(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    cards = dose_cards(client, chart_bundle)
    assert codes(cards) == sorted(expected), [c["summary"] for c in cards]


# --- red team rt14/a: a duration, a cause, other episodes, a question are no count; more words --
NOT_A_COUNT = (
    # N1: a number after 'x' / 'times' with a unit of time is a duration
    "Seizure x 2 minutes",
    "Seizure x2 min",
    "Seizure times 2 minutes",
    "Seizure activity x 2 min",
    "Seizure x 30 seconds",
    "Seizure x 2 hrs",
    "Seizures, several minutes",
    # N2: '2nd to' = secondary to (an ordinal counts only before the name)
    "Seizure 2nd to PRES",
    "Seizure 2nd to hyponatremia",
    # N3: a count of other episodes
    "Seizure, 2 episodes of emesis",
    "Seizure, 2 episodes of incontinence",
    # N4: a question
    "Seizure, again?",
    "Seizure, again noted on EEG?",
    # controls kept at one seizure
    "Seizure 2/24",
    "Seizure lasting 2 minutes",
    "First seizure",
    "Seizure post LP #2",
    "Seizure 2/2 hyponatremia",
    "Seizure precautions x 2 days",
    "Hx of seizures x2 in childhood",
    "Second opinion: seizure",
    "Seizure: 2 mg lorazepam given",
    "Seizure (2 of 2 problem entries)",
    "Seizure, ICD R56.9 (2 entries merged)",
    "Seizure (no recurrence)",
    # red team rt15/a N2: "recurrence" after the name counts only ending the phrase
    "Seizure recurrence risk",
    "Seizure recurrence unlikely",
    "Seizure recurrence: none",
    "Seizure recurrence precautions",
    # N3: a quantifier after the name counts only ending the phrase
    "Seizure, multiple sclerosis related",
    "Seizure - multiple AEDs",
    "Seizure - multiple etiologies considered",
    "Seizure - numerous meds tried",
    "Seizure, numerous labs pending",
    "Seizure, several weeks ago",
    # N4/N5/N6: durations (ranges, decimals, weeks to years) and clock times
    "Seizure, several months ago",
    "Seizure, several yrs ago",
    "Seizure x 2 wks ago",
    "Seizure x 2-3 min",
    "Seizure x 2 to 3 minutes",
    "Seizure x 2.5 min",
    "Seizure 14:30",
    "Seizure - 3:00",
    # N7: "storm" counts only ending the phrase
    "Seizure, storm drain",
    # task O: episodes of another thing, an ordinal that is no count, a duration without 'apart'
    "Seizure, 2 episodes of emesis and incontinence",
    "Seizure, second opinion",
    "Seizure, 2nd to hypoglycemia",
    "Seizure, 1st episode",
    "Seizure, repeat EEG",
    "Seizures x 3 hours",
    "GTC x 2 min",
    "Seizure 2/24, EEG 2/25",
    "Seizure 2/24, seizure 2/24",
    "No seizure 2/24; seizure 2/25",
    "Seizure 2/2 PRES, seizure 2/25",
    # task P (red team rt16/b N1): an ordinal with an earlier time in its part counts a lifetime
    "Seizure - 2nd episode (1st in 2019)",
    "Seizure, second episode since 2019",
    "2nd seizure in lifetime",
    "Seizure, 3rd episode since childhood",
    "Second seizure ever",
    "Seizure, 2nd episode, prior one in 2015",
    "Third seizure, hx of febrile seizure",
    # N2: a dated seizure name after "for" or a test or visit word is no other seizure
    "Seizure 2/24, EEG for seizure 2/25",
    "Seizure 2/24, seen for seizure 2/25",
    "Seizure 2/24, neurology f/u seizure 3/2",
    # N3: seizure-like episodes and seizure mimics are no seizures
    "2 episodes of seizure-like activity (non-epileptic)",
    "2 episodes of seizure-like shaking (rigors)",
    "2 episodes of seizure mimics",
    "Seizure like episodes x2",
)
MORE_WORDS = (
    # H1/H7: words after or before the name
    "Seizures (multiple)",
    "Seizures, multiple",
    "Multiple seizure episodes",
    "Numerous seizures",
    "Seizures - several",
    "Seizure storm",
    "Back-to-back seizures",
    "Seizure recurrence",
    "Recurrence of seizure",
    # H5: the multiplication sign
    "Seizures \u00d72",
    "Seizures \u00d7 2",
    # H2: a bare number in brackets, after '#'; episodes of seizure ("Seizures: 2" counts only
    # where nothing follows: the codings' displays follow code.text in the words read)
    "Seizures (3)",
    "Seizure #2",
    "Two episodes of seizure",
    "Seizure, second episode",
    # still counts: a count, then other words
    "Seizure x 3 today",
    "Seizure again 2 days later",
    "Seizure recurred hours later",
    # red team rt15/a H1: a '?' about the cause keeps the count
    "Seizures x2, ?PRES",
    "Seizures x2 - ? provoked",
    "Seizures x 3 ? etiology",
    "Recurrent seizures - ?ICANS",
    # red team rt15/a H2: episodes of the seizure's own kind
    "Seizure: 2 episodes of tonic-clonic activity",
    "Seizures, 2 episodes of GTC",
    "Seizure, 2 episodes of tonic clonic activity",
    "Seizure - 2 episodes of convulsions",
    "Seizure, 3 episodes of seizure activity",
    "Seizure, 2 episodes of convulsive activity",
    # H3: an ordinal after the name, with 'episode' or ending the phrase
    "Seizure, 3rd episode",
    "Seizure, third episode",
    "Seizure, 2nd",
    "Seizure - repeat episode",
    # H4: a duration 'apart' separates seizures
    "Seizures x 3 hours apart",
    "Seizure x2, 4 hrs apart",
    # rt14/a H6: a number word after 'x', GTCs, "Seizure(s)"
    "GTCs x2",
    "Seizures x two",
    "Seizure(s) x2",
    # rt14/a H4: seizures on two dates
    "Seizure 2/24, seizure 2/25",
    "Seizures on 2/24 and 2/25",
)


def coded(code: str, display: str, text: str) -> dict[str, Any]:
    """A seizure Condition with code.text `text` and its coding's `display` ("": none)."""
    resource = seizure(code, display, text=text, cid="sz-words")
    if not display:
        del resource["code"]["coding"][0]["display"]
    return resource


RT14_WORDS: Cases = {
    **{
        f"R56.9 {text!r}, reduced restart -> discontinue": (
            chart(in_words(text), steps=REDUCED_RESTART),
            [DISCONTINUE],
        )
        for text in MORE_WORDS
    },
    **{
        f"control: R56.9 {text!r}, reduced restart -> no card": (
            chart(in_words(text), steps=REDUCED_RESTART),
            [],
        )
        for text in NOT_A_COUNT
    },
    "control: G92.03 'ICANS grade 3 with seizure x 2 min', reduced restart -> no card": (
        chart(
            seizure("G92.03", f"{ICANS}, grade 3", text="ICANS grade 3 with seizure x 2 min"),
            steps=REDUCED_RESTART,
        ),
        [],
    ),
    **{
        f"control: {code} {text!r} ({display!r}), reduced restart -> no card": (
            chart(coded(code, display, text), steps=REDUCED_RESTART),
            [],
        )
        for code, display, text in (
            # red team rt15/a N1: a number in code.text is no count of the display's name
            ("R56.00", "Simple febrile convulsions", "Seizure, T 38"),
            ("R56.00", "Simple febrile convulsions", "Febrile seizure, temp 39"),
            ("R56.01", "Complex febrile convulsions", "Febrile seizure, Tmax 40"),
            ("R56.9", "Convulsions, unspecified", "Seizure, GCS 14"),
            ("R56.9", "Convulsions, unspecified", "Seizure 14:30"),
            # N1: no measurement word, the number still reads with code.text's name
            ("R56.00", "Simple febrile convulsions", "Seizure, pyrexia 38"),
            # N6: a clock time where no display follows
            ("R56.9", "", "Seizure 14:30"),
            ("R56.9", "", "Seizure - 3:00"),
        )
    },
    "control: G92.03 'ICANS grade 3 with seizure, multiple sclerosis hx', reduced restart -> "
    "no card": (
        chart(
            seizure(
                "G92.03",
                f"{ICANS}, grade 3",
                text="ICANS grade 3 with seizure, multiple sclerosis hx",
            ),
            steps=REDUCED_RESTART,
        ),
        [],
    ),
    "control: G92.03 'ICANS grade 3, seizure recurrence risk', reduced restart -> no card": (
        chart(
            seizure("G92.03", f"{ICANS}, grade 3", text="ICANS grade 3, seizure recurrence risk"),
            steps=REDUCED_RESTART,
        ),
        [],
    ),
    "G92.03 'ICANS grade 3; seizures (multiple)', reduced restart -> discontinue": (
        chart(
            seizure("G92.03", f"{ICANS}, grade 3", text="ICANS grade 3; seizures (multiple)"),
            steps=REDUCED_RESTART,
        ),
        [DISCONTINUE],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), RT14_WORDS.values(), ids=RT14_WORDS.keys())
def test_rt14_words_around_a_seizure(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    cards = dose_cards(client, chart_bundle)
    assert codes(cards) == sorted(expected), [c["summary"] for c in cards]
