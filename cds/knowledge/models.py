"""Every rule model of the knowledge files, on one strict base: a misspelt key is an error.

One model per YAML file (`FILE_MODELS`), and `Knowledge`, the typed whole the checks read
(`knowledge.premedication.step_up_day`, ...). What one file can check about itself is a validator
on its model; what needs two files (sources cited, indications covered) is on `Knowledge`. The JSON
Schemas in `schema/` are generated from these models (`python -m cds knowledge-schema`).
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cds.fhir.codings import equivalent_codes
from cds.units import format_number


class StrictModel(BaseModel):
    """The one base of every rule model: unknown keys are errors, values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleFile(StrictModel):
    """What every knowledge file carries: bump `version` on any change; `reviewed` is the date a
    pharmacist last checked the file against its sources."""

    version: str = Field(min_length=1)
    reviewed: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")


def _file(name: str) -> ConfigDict:
    """Config of a file's model: its title (in errors and the JSON Schema) is the file name."""
    return ConfigDict(extra="forbid", frozen=True, title=f"{name}.yaml")


# --- sources.yaml -------------------------------------------------------------------------------


class SourceRef(StrictModel):
    label: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://")


class SourcesFile(RuleFile):
    model_config = _file("sources")

    sources: dict[str, SourceRef] = Field(min_length=1)
    # What a card cites when its check could not run, or for data-quality cards, by card topic.
    check_sources: dict[str, str] = Field(min_length=1)


# --- dose.yaml ----------------------------------------------------------------------------------


class Rule(StrictModel):
    """A rule always names its source; `verified` is false where the label text was not read."""

    source: str = Field(min_length=1)
    verified: bool = True
    label_differs_from_seed: str | None = None


class Indication(Rule):
    label: str


class DoseStep(StrictModel):
    first_day: int = Field(ge=1)
    last_day: int = Field(ge=1)
    mcg_per_day: Decimal = Field(gt=0)
    mcg_per_m2_per_day: Decimal = Field(gt=0)
    cap_mcg_per_day: Decimal = Field(gt=0)


class CycleRange(StrictModel):
    first: int = Field(ge=1)
    last: int | None = None

    def contains(self, cycle: int) -> bool:
        return cycle >= self.first and (self.last is None or cycle <= self.last)


class DoseSchedule(Rule):
    indication: str
    cycles: CycleRange
    phase: str
    treatment_free_days: int = Field(ge=0)
    steps: list[DoseStep] = Field(min_length=1)

    def step_for_day(self, day: int) -> DoseStep | None:
        return next((s for s in self.steps if s.first_day <= day <= s.last_day), None)


class DoseRules(StrictModel):
    weight_threshold_kg: Decimal
    weight_threshold_source: str
    bsa_formula: str = Field(pattern="^mosteller$")
    bsa_source: str
    weight_max_age_days: int = Field(gt=0)
    height_max_age_days: int = Field(gt=0)
    weight_age_source: str
    measurement_statuses: frozenset[str] = Field(min_length=1)
    measurement_statuses_source: str
    sent_bsa_max_difference_percent: Decimal = Field(gt=0)
    sent_bsa_source: str
    tolerance_above_percent: Decimal = Field(ge=0)
    tolerance_below_percent: Decimal = Field(ge=0)
    tolerance_source: str
    compare_precision_mcg: Decimal
    # a text naming blinatumomab and a glucocorticoid, dosed in at least this many mg: the steroid's
    steroid_order_from_mg: Decimal = Field(gt=0)
    steroid_order_source: str
    # a rate written rounded (1.17 mcg/h for 28 mcg/day) counts as the dose it rounds, within this
    rate_rounding_max_percent: Decimal = Field(ge=0, le=10)
    rate_rounding_source: str
    # a rate in mL/h is a dose only through a bag's concentration at most this (mcg/mL)
    bag_max_mcg_per_ml: Decimal = Field(gt=0)
    bag_max_source: str
    absolute_cap_mcg_per_day: Decimal
    absolute_cap_mcg_per_m2_per_day: Decimal
    absolute_cap_source: str
    schedules: list[DoseSchedule] = Field(min_length=1)

    def schedule_for(self, indication: str, cycle: int) -> DoseSchedule | None:
        return next(
            (s for s in self.schedules if s.indication == indication and s.cycles.contains(cycle)),
            None,
        )


class DoseFile(RuleFile):
    model_config = _file("dose")

    indications: dict[str, Indication] = Field(min_length=1)
    dose: DoseRules


# --- codes.yaml ---------------------------------------------------------------------------------


class CodeEntry(StrictModel):
    system: str
    code: str = Field(min_length=1)
    display: str = Field(min_length=1)
    verified: bool
    source: str = Field(min_length=1)  # free text here: where the code was seen


class ValueSet(StrictModel):
    description: str
    source: str = Field(min_length=1)
    match_text: list[str] = []
    codes: list[CodeEntry] = Field(min_length=1)


class Codes(RuleFile):
    model_config = _file("codes")

    systems: dict[str, str]
    value_sets: dict[str, ValueSet]

    @model_validator(mode="after")
    def _systems_known(self) -> Codes:
        for name, value_set in self.value_sets.items():
            for entry in value_set.codes:
                if entry.system not in self.systems:
                    raise ValueError(f"value set {name}: unknown system alias {entry.system!r}")
        return self


# --- cycles.yaml --------------------------------------------------------------------------------


class CycleMax(StrictModel):
    cycles: int = Field(ge=1)
    source: str
    verified: bool = True


class CycleRules(RuleFile):
    model_config = _file("cycles")

    max_cycles: dict[str, CycleMax]
    max_interruption_days: int = Field(ge=0)
    interruption_source: str
    default_infusion_days: int = Field(ge=1)
    cycle_source: str
    continuation_within_days: int = Field(ge=1)
    continuation_source: str
    new_course_after_days: int = Field(ge=1)
    new_course_source: str
    # an order coding a lower cycle than its course's history makes it: judged as the history's
    history_over_coded_source: str
    # an order coding a HIGHER cycle than the numbered cycle on file it continues within the
    # interruption limit (label §2.4: the same cycle continues): judged as the continued cycle
    continued_cycle_over_coded: bool = True
    continued_cycle_over_coded_source: str = "local-policy-continued-cycle"
    # an earlier order whose start is only its signing time: how many days before its first dose
    # orders are signed, the doubt its dates leave
    signed_start_lead_days: int = Field(ge=0)
    signed_start_source: str


# --- hospitalization.yaml -----------------------------------------------------------------------


class Coding(StrictModel):
    system: str
    code: str


class Stay(StrictModel):
    cycles: dict[int, int]  # cycle -> inpatient days from its day 1
    source: str
    label_differs_from_seed: str | None = None


class EncounterClass(Coding):
    source: str | None = None


class HospitalizationRules(RuleFile):
    model_config = _file("hospitalization")

    inpatient_days: dict[str, Stay]
    unknown_indication: Stay
    inpatient_order_categories: list[Coding] = Field(min_length=1)
    inpatient_encounter_classes: list[EncounterClass] = Field(min_length=1)
    # compare encounter class codes without case ("imp" is IMP)
    encounter_class_ignore_case: bool = False
    encounter_class_case_source: str | None = None


# --- labs.yaml ----------------------------------------------------------------------------------


class HoldRule(StrictModel):
    value_set: str
    name: str
    above_uln_times: Decimal = Field(gt=1)
    source: str


class Limit(StrictModel):
    value: Decimal = Field(gt=0)
    unit: str


class MolarMass(StrictModel):
    """An analyte's molar mass: converts its mass concentration (mg/dL) to a substance
    concentration (umol/L), which UCUM cannot do alone."""

    g_per_mol: Decimal = Field(gt=0)
    source: str


class LiverRules(StrictModel):
    current_within_days: int = Field(gt=0)
    hold_rules: list[HoldRule] = Field(min_length=1)
    critical_when_starting_a_cycle: bool
    # Before the first blinatumomab dose the hold rule (rises during treatment) does not apply:
    # values above the limits are a warning to confirm before starting.
    before_first_dose_source: str
    default_uln: dict[str, list[Limit]]
    default_uln_source: str
    baseline_window_days: int = Field(gt=0)
    baseline_required: list[list[str]]
    baseline_source: str
    # by value set: a result and its reference range in mass and substance units still compare
    molar_masses: dict[str, MolarMass] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _every_hold_rule_has_a_default(self) -> LiverRules:
        for rule in self.hold_rules:
            if rule.value_set not in self.default_uln:
                raise ValueError(f"labs.yaml: no default ULN for {rule.value_set}")
        return self


class NeutrophilThreshold(StrictModel):
    below: Decimal = Field(gt=0)
    indicator: Literal["info", "warning", "critical"]
    grade: str
    source: str


class CycleStartNeutrophils(StrictModel):
    """At a cycle start of these indications a low count is at most `indicator` (the disease,
    not the drug, explains it); during treatment the thresholds apply."""

    indications: list[Literal["mrd-positive", "relapsed-refractory", "consolidation"]]
    indicator: Literal["info", "warning"]
    source: str


class NeutrophilRules(StrictModel):
    value_set: str
    unit: str
    current_within_days: int = Field(gt=0)
    thresholds: list[NeutrophilThreshold] = Field(min_length=1)
    action_source: str
    at_cycle_start: CycleStartNeutrophils
    # before the first dose of a course: judged as at a cycle start (true) or not at all (false)
    before_first_dose: bool = False
    before_first_dose_source: str

    @model_validator(mode="after")
    def _lowest_first(self) -> NeutrophilRules:
        limits = [t.below for t in self.thresholds]
        if limits != sorted(limits):
            raise ValueError("labs.yaml: neutrophil thresholds must go from the lowest up")
        return self


class LabRules(RuleFile):
    model_config = _file("labs")

    usable_statuses: list[str]
    unit_aliases: dict[str, str]
    unit_aliases_source: str | None = None
    liver: LiverRules
    neutrophils: NeutrophilRules


# --- neonate.yaml -------------------------------------------------------------------------------


class NeonateRules(RuleFile):
    model_config = _file("neonate")

    preservative_free_max_hours: Decimal = Field(gt=0)
    bag_source: str
    min_weight_kg_for_preservative_bag: Decimal = Field(gt=0)
    min_weight_source: str
    label_differs_from_seed: str | None = None
    neonate_below_age_days: int = Field(gt=0)
    neonate_source: str
    very_low_birth_weight_below_g: Decimal = Field(gt=0)
    early_preterm_below_weeks: Decimal = Field(gt=0)
    birth_data_read_below_age_days: int = Field(gt=0)
    birth_data_source: str
    suggested_bag_hours: int = Field(gt=0)
    suggestion_note: str
    not_studied_below_months: int = Field(ge=0)
    not_studied_source: str
    weight_needed_below_age_years: int = Field(ge=0)
    weight_needed_source: str
    preservative_text: list[str] = Field(min_length=1)
    negation_before: list[str]
    negation_after: list[str]
    text_source: str

    @model_validator(mode="after")
    def _suggested_bag_is_preservative_free(self) -> NeonateRules:
        if self.suggested_bag_hours > self.preservative_free_max_hours:
            raise ValueError("neonate.yaml: the suggested bag must be a preservative-free one")
        return self


# --- pregnancy.yaml -----------------------------------------------------------------------------


class PregnancyRules(RuleFile):
    model_config = _file("pregnancy")

    reproductive_age_min_years: int
    reproductive_age_max_years: int
    reproductive_age_source: str
    negative_result_valid_hours: int
    result_window_source: str
    test_before_every_cycle: bool
    test_before_every_cycle_source: str
    quantitative_positive_above: Decimal
    quantitative_unit: str
    quantitative_source: str
    usable_statuses: list[str]
    # a positive result with one of these statuses, newer than every usable one: a warning
    preliminary_statuses: list[str]
    preliminary_positive_source: str
    interpretation_system: str = Field(min_length=1)
    positive_interpretations: list[str] = Field(min_length=1)
    negative_interpretations: list[str] = Field(min_length=1)
    interpretation_source: str
    negative_words: list[str] = Field(min_length=1)
    positive_words: list[str] = Field(min_length=1)
    # anywhere in a text that begins with a positive word, these make it unreadable ("Pregnant: No")
    negating_words: list[str] = Field(default_factory=list)
    result_words_source: str
    unreadable_result_source: str
    positive_result_source: str
    problem_list_conflict_source: str
    # a positive result older than this (days before the start) is no current pregnancy
    positive_result_current_days: int
    positive_result_current_source: str
    expected_delivery_source: str
    # an expected delivery date passed by more than this ends the pregnancy of the positive before
    expected_delivery_overdue_days: int = Field(default=14, ge=14)
    contraception_hours_after_last_dose: int
    contraception_source: str
    # the cycle-1 contraception reminder (info): a site that counsels elsewhere turns it off
    contraception_reminder: bool = True
    contraception_reminder_source: str
    # a gestational age (codes.yaml pregnancy_gestational_age) is a pregnancy going on now; never
    # read when the patient was surely younger than this when it was taken (her own, at birth)
    gestational_age_source: str = "label-embryo-fetal"
    gestational_age_own_below_patient_years: int = Field(default=1, ge=0, le=12)
    gestational_age_own_source: str = "local-policy"
    # a gestational age or an estimated delivery date with a later negative result: a warning
    charted_pregnancy_conflict_source: str = "local-policy"
    # a delivery or hysterectomy Condition ends a pregnancy (or stands the check down) only with
    # one of these verification statuses, or none
    end_verification_statuses: list[str] = Field(default_factory=lambda: ["confirmed"])
    end_source: str = "local-policy"
    # a delivery (or a postpartum state) ends a pregnancy only when that
    # pregnancy could have reached it: this many weeks after the last menstrual period its weeks
    # of gestation give (an evidence that gives no weeks: any later delivery ends it)
    min_weeks_at_delivery: int = Field(default=20, ge=1, le=42)
    # a positive result takes the weeks of a gestational age or a Z3A code charted within this
    # many days of it (the same pregnancy)
    positive_result_weeks_within_days: int = Field(default=3, ge=0, le=14)
    delivery_plausibility_source: str = "local-policy"
    # a sex recorded as at birth or for clinical use (Patient extensions, an Observation 76689-9):
    # female puts a patient in scope whatever Patient.gender says; male with no female record
    # takes her out when this is true (Patient.gender is administrative)
    recorded_male_sex_out_of_scope: bool = True
    recorded_sex_source: str = "local-policy"
    # an Observation with no code of the lists whose name (code.text, coding displays) says one
    # of these words is read as an hCG test: a point-of-care test under a site's local code
    test_names: list[str] = Field(default_factory=list)
    # ... unless it also says one of these (a tumour marker)
    test_names_excluded: list[str] = Field(default_factory=list)
    # a name saying one of these (a workflow step) is read, but a yes/no answer of it is no result
    test_names_workflow: list[str] = Field(default_factory=list)
    # an Observation named one of these is read as a pregnancy status question (82810-3)
    status_names: list[str] = Field(default_factory=list)
    # a name naming no test that only holds one of these words (or a status name): never critical
    # nor verifying; an affirmative answer is the unreadable-result warning
    status_row_words: list[str] = Field(default_factory=list)
    # ...affirmative answers of such a row beside the status question's "pregnant" ones
    status_row_yes_answers: list[str] = Field(default_factory=list)
    status_row_yes_codes: list[Coding] = Field(default_factory=list)
    # ...unless it also says one of these (another person, the future, counselling): ignored
    status_question_excluded: list[str] = Field(default_factory=list)
    # ...unless one of these stands in that part before the pregnancy word (the patient named:
    # "Patient/partner pregnant")
    status_row_patient_words: list[str] = Field(default_factory=list)
    test_names_source: str = "local-policy"
    # "yes" read as pregnant only as a pregnancy status answer (never a test's result)
    status_yes_words: list[str] = Field(default_factory=list)
    # "no" read as not pregnant only as the whole answer to a pregnancy status question
    status_no_words: list[str] = Field(default_factory=list)
    # a pregnancy entry's end (abatement) ends a pregnancy only when its onset, if known, is at
    # most this many days before it (a pregnancy and its postpartum visit): a problem-list
    # clean-up years later ends nothing
    longest_pregnancy_entry_days: int = Field(default=378, ge=294)
    longest_pregnancy_source: str = "local-policy"

    @model_validator(mode="after")
    def _negative_counts_long_enough(self) -> PregnancyRules:
        if self.negative_result_valid_hours < 72:
            raise ValueError("pregnancy.yaml: a negative result must count for at least 72 hours")
        return self

    @model_validator(mode="after")
    def _positive_counts_a_whole_pregnancy(self) -> PregnancyRules:
        if self.positive_result_current_days < 294:
            raise ValueError(
                "pregnancy.yaml: a positive result must count at least 294 days (42 completed "
                "weeks): a shorter bound would drop a pregnancy still going on"
            )
        return self

    @model_validator(mode="after")
    def _readings_do_not_overlap(self) -> PregnancyRules:
        flags = set(self.positive_interpretations) & set(self.negative_interpretations)
        words = {w.strip().lower() for w in self.positive_words} & {
            w.strip().lower() for w in self.negative_words
        }
        blank = not all(
            w.strip()
            for w in self.positive_words
            + self.negative_words
            + self.test_names
            + self.test_names_excluded
            + self.test_names_workflow
            + self.status_names
            + self.status_row_words
            + self.status_row_yes_answers
            + self.status_question_excluded
            + self.status_yes_words
            + self.status_no_words
        )
        if flags or words or blank:
            raise ValueError(
                "pregnancy.yaml: a flag or word may mean positive or negative, not both, "
                f"and no word may be blank (both: {sorted(flags | words)})"
            )
        return self

    def result_flags(self) -> tuple[frozenset[tuple[str, str]], frozenset[tuple[str, str]]]:
        """(positive, negative) interpretation flags as (system, code) pairs."""
        system = self.interpretation_system
        return (
            frozenset((system, code) for code in self.positive_interpretations),
            frozenset((system, code) for code in self.negative_interpretations),
        )


# --- premedication.yaml -------------------------------------------------------------------------

Event = Literal["cycle-start", "step-up", "restart"]


class AdultRule(StrictModel):
    mg: Decimal
    events: list[Event]
    source: str
    # the order offered is the label's example (dexamethasone 16 mg), not the threshold
    suggest_label_example: bool = False
    # whether a glucocorticoid taken by mouth is the label's premedication here (false: the label
    # names dexamethasone IV, so an oral order gets the route card, not silence)
    oral_accepted: bool = True


class ChildRule(StrictModel):
    mg_per_m2: Decimal
    max_mg: Decimal
    cycles: list[int]
    events: list[Event]
    source: str
    oral_accepted: bool = True  # the label's children's dexamethasone is IV or by mouth

    @property
    def dose_text(self) -> str:
        """The children's dose as a card says it when the BSA is unknown: "5 mg/m² (max 20 mg)"."""
        per_m2, most = format_number(self.mg_per_m2, "0.1"), format_number(self.max_mg, "0.1")
        return f"{per_m2} mg/m² (max {most} mg)"


class PremedicationRules(RuleFile):
    model_config = _file("premedication")

    adult_age_years: int
    adult_age_source: str
    tolerance_below_percent: Decimal
    tolerance_source: str
    timed_within_hours_before: int
    timing_source: str
    # a glucocorticoid timed before the counted window, up to this many hours before the start,
    # was meant for the first dose and is timed too early (one timed earlier: an earlier dose)
    early_within_hours_before: int = Field(ge=1)
    early_source: str
    given_hours_before_start: int = Field(ge=0)
    given_hours_before_source: str
    step_up_day: int = Field(ge=2)
    step_up_source: str
    # a glucocorticoid timed after the start, up to this many hours, was meant for the first dose
    # and is timed too late (one timed later premedicates a later dose: the day-8 step-up)
    late_within_hours_after: int = Field(ge=0)
    late_source: str
    adults: dict[
        Literal["mrd-positive", "relapsed-refractory", "consolidation", "unknown"], AdultRule
    ]
    children: ChildRule


# --- restarts.yaml ------------------------------------------------------------------------------


class RestartReason(StrictModel):
    label: str
    # confirm-grade: a toxicity named without a grade (ask for it); none: a grade that changes
    # nothing in the dose (grade 1-2)
    action: Literal["restart-reduced", "discontinue", "confirm-grade", "none"]
    note_markers: list[str]
    # another adverse reaction (toxicity.yaml `other_names`) of this grade: one charted ungraded
    # during the infusion takes it
    other_reaction_grade: int | None = Field(default=None, ge=1, le=5)
    source: str


class RestartSchedule(StrictModel):
    steps: list[DoseStep] = Field(min_length=1)
    source: str


class RestartRules(RuleFile):
    model_config = _file("restarts")

    code_system: str
    restart_words: list[str] = Field(min_length=1)
    restart_words_source: str
    note_synonyms: dict[str, str]
    reasons: dict[str, RestartReason]
    restart_schedule: RestartSchedule
    # after a grade 3 CRS or neurological toxicity the infusion is withheld until the Condition
    # resolved and this many days more (by kind); a restart sooner is a warning
    withhold_days_after_resolution: dict[str, int] = Field(default_factory=dict)
    withhold_source: str = "label-dose-modifications"

    @model_validator(mode="after")
    def _restart_starts_low(self) -> RestartRules:
        first = self.restart_schedule.steps[0]
        if first.mcg_per_day > 9 or first.first_day != 1:
            raise ValueError("restarts.yaml: a restart after toxicity starts at 9 mcg/day on day 1")
        return self


# --- vaccines.yaml ------------------------------------------------------------------------------


class ChildhoodDates(StrictModel):
    """An occurrenceString placing a shot in the patient's childhood ("childhood", "age 5")."""

    # whole phrases, any case; the text must hold nothing else than these, `filler_words` and
    # one of `age_phrases`
    phrases: list[str] = Field(min_length=1)
    # "{n}": the patient's age then, in years ("age {n}", "at {n} years")
    age_phrases: list[str]
    filler_words: list[str]
    childhood_ends_at_age: int = Field(gt=0)
    # the patient must be at least this many years past that age when the window begins
    margin_years: int = Field(ge=0)
    source: str

    @model_validator(mode="after")
    def _ages_have_n(self) -> ChildhoodDates:
        if any(phrase.count("{n}") != 1 for phrase in self.age_phrases):
            raise ValueError("vaccines.yaml: each childhood age phrase holds one {n}")
        return self


class VaccineRules(RuleFile):
    model_config = _file("vaccines")

    window_before_start_days: int
    window_source: str
    during_treatment_from: Literal["first-earlier-cycle-start"]
    during_treatment_source: str
    alert_live_nonreplicating: bool
    nonreplicating_source: str
    given_statuses: list[str]
    given_administration_statuses: list[str]
    ordered_statuses: list[str]
    # an undated live vaccine whose record was made (Immunization.recorded) before the window
    recorded_bounds_date: bool
    recorded_source: str
    # ... only when its occurrenceString says nothing that could place the shot later: no digit
    # (a date, a year) and none of these whole words ("last week", "2 months ago")
    recorded_not_with_words: list[str] = Field(min_length=1)
    childhood_dates: ChildhoodDates
    # an occurrenceString giving several dates, one in the window: the date-unreadable warning
    several_dates_source: str = "local-policy-vaccine-date-bounds"


# --- issue 15: toxicity.yaml, growth-bounds.yaml, corticosteroids.yaml, interruptions.yaml,
# vaccines-after-treatment.yaml, staleness.yaml, problem-list.yaml ------------------------------

ToxicityKind = Literal["crs", "neurotoxicity", "seizure"]


class ToxicityCode(StrictModel):
    code: str = Field(min_length=1)
    # the code's system; None: the file's `code_system` (ICD-10-CM)
    system: str | None = None
    kind: ToxicityKind
    grade: int | None = Field(default=None, ge=1, le=5)
    seizures: int = Field(default=0, ge=0)
    verified: bool
    evidence: str = Field(min_length=1)


class ToxicityPrefix(StrictModel):
    prefix: str = Field(min_length=2)
    system: str | None = None  # None: the file's `code_system`
    kind: ToxicityKind
    grade: int | None = None
    seizures: int = Field(default=0, ge=0)
    verified: bool
    evidence: str = Field(min_length=1)


class GradedRule(StrictModel):
    discontinue_from_grade: int = Field(ge=1, le=5)
    restart_reduced_from_grade: int = Field(ge=1, le=5)
    max_resolution_days: int | None = Field(default=None, gt=0)
    recurrence_discontinues: bool = False
    # a grade-3 event that began while the infusion ran at the restart dose (9 mcg/day, 5 mcg/m²/day
    # under 45 kg: the step-up days, or a reduced restart) -> discontinue permanently
    at_restart_dose_discontinues: bool = False
    source: str


class SeizureRule(StrictModel):
    discontinue_when_more_than: int = Field(ge=0)
    source: str
    # seizure Conditions whose onsets lie this close are one seizure charted twice (a day-only
    # onset is one with any timed onset on that day)
    same_event_within_minutes: int = Field(ge=0)
    same_event_source: str
    # Condition categories timed when the entry was made, not when the seizure was: such an entry
    # timed apart from another seizure Condition of its day may be that seizure (count unknown)
    timed_when_entered_categories: list[str] = Field(default_factory=list)


class ReducedRestart(StrictModel):
    weight_threshold_kg: Decimal = Field(gt=0)
    mcg_per_day: Decimal = Field(gt=0)
    mcg_per_m2_per_day: Decimal = Field(gt=0)
    cap_mcg_per_day: Decimal = Field(gt=0)
    reduced_days: int = Field(gt=0)
    source: str


class SeizureCountWords(StrictModel):
    """Words that say one seizure Condition records more than one seizure ("Recurrent seizures",
    "Two generalized tonic-clonic seizures", "Seizures x2"); a bare plural ("Seizures",
    "Convulsions, unspecified") is a category name, one seizure."""

    # a word before a seizure name -> the seizures it states; only `between` words (the seizure's
    # kind: "generalized tonic clonic"), at most `before_within_words` - 1 of them, may stand
    # between ("multiple sclerosis, seizure" is one seizure)
    before: dict[str, int] = Field(min_length=1)
    before_within_words: int = Field(ge=1)
    between: list[str] = Field(default_factory=list)
    # of `before`: counts only before a plural name (`plural_names`: "two seizures", not "day two
    # seizure"), and not right after one of `numbers_not_after` ("grade 2 seizures")
    plural_only: list[str] = Field(default_factory=list)
    plural_names: list[str] = Field(default_factory=list)
    numbers_not_after: list[str] = Field(default_factory=list)
    # a phrase right after a seizure name -> the seizures it states ("x2", "x 3", "cluster")
    after: dict[str, int] = Field(default_factory=dict)
    # of `after`: count only ending the phrase: before the part's end, or before a name of
    # `text_names` past `display_lead` words (the coding's display: "Seizures, multiple
    # Unspecified convulsions"), not before another word ("Seizure recurrence risk", "Seizure,
    # multiple sclerosis related", "Seizure, storm drain")
    after_at_end: list[str] = Field(default_factory=list)
    display_lead: list[str] = Field(default_factory=list)
    # words that may stand between a seizure name and `after` ("seizure episodes x2")
    after_skip: list[str] = Field(default_factory=list)
    # words right after a singular name ("seizure episodes") or phrases right before it
    # ("episodes of seizure") that make it plural
    plural_after: list[str] = Field(default_factory=list)
    plural_before: list[str] = Field(default_factory=list)
    # a count after a name followed by one of these is a duration ("seizure x 2 min")
    time_units: list[str] = Field(default_factory=list)
    # a number of `number_nouns` followed by one of these counts another thing ("2 episodes of
    # emesis")
    number_nouns_not_before: list[str] = Field(default_factory=list)
    # ... unless the seizure's own kind follows it ("2 episodes of tonic clonic activity")
    number_nouns_of_kinds: list[str] = Field(default_factory=list)
    # a unit of time followed by one of these is no duration ("seizures x 3 hours apart")
    duration_not_before: list[str] = Field(default_factory=list)
    # an ordinal right after a name ("3rd", or one of these words: "seizure, third episode")
    # counts before one of `ordinal_nouns` or ending the phrase; not before another word ("2nd
    # to PRES": secondary to)
    after_ordinals: dict[str, int] = Field(default_factory=dict)
    ordinal_nouns: list[str] = Field(default_factory=list)
    # an ordinal (before or after the name: "2nd seizure", "seizure, second episode") counts none
    # where the same part of the words also says an earlier time, one of these words or (with
    # `ordinal_not_with_years`) a year 19xx/20xx: a lifetime count ("2nd seizure in lifetime",
    # "Seizure, 3rd episode since childhood", "Seizure - 2nd episode (1st in 2019)")
    ordinal_not_with: list[str] = Field(default_factory=list)
    ordinal_not_with_years: bool = False
    # seizure names followed by different dates ("Seizure 2/24, seizure 2/25", "Seizures on 2/24
    # and 2/25") count a seizure a date
    dated_mentions: bool = False
    # ... not a dated name right after one of these (a test or a visit for the seizure: "EEG for
    # seizure 2/25", "f/u seizure 3/2"; written as `_said` reads them: "f/u" is "f u")
    dated_not_after: list[str] = Field(default_factory=list)
    # any number counts: before a plural name as `plural_only` words do ("6 seizures"), after a
    # name with a marker ("x 10", "x6", "2x") or before a noun of `number_nouns` ("2 episodes")
    any_number: bool = False
    number_markers: list[str] = Field(default_factory=list)
    number_nouns: list[str] = Field(default_factory=list)
    # a larger number is no count (a year: "2026 seizures")
    number_max: int = Field(default=100, ge=2)
    # a number with one of these before a name states that many ("2nd seizure", "3rd")
    ordinal_suffixes: list[str] = Field(default_factory=list)
    source: str


class ToxicityTextExclusion(StrictModel):
    """A name is no event when one of `before` stands anywhere before it, or one of `after`
    right after it (whole words, after normalising)."""

    before: list[str] = Field(default_factory=list)
    after: list[str] = Field(default_factory=list)
    # words right before the name that make it another condition ("hepatic encephalopathy")
    right_before: list[str] = Field(default_factory=list)
    source: str


class OtherConditionCode(StrictModel):
    """A code that says a Condition is another condition, so its words are not read as a
    toxicity (K76.82 hepatic encephalopathy "grade 3" is West Haven's grade, not CTCAE's)."""

    code: str = Field(min_length=1)
    system: str | None = None  # None: the file's `code_system`
    verified: bool
    evidence: str = Field(min_length=1)


class ToxicityRules(RuleFile):
    model_config = _file("toxicity")

    code_system: str
    codes: list[ToxicityCode] = Field(min_length=1)
    code_prefixes: list[ToxicityPrefix] = Field(default_factory=list)
    ignored_verification_statuses: list[str]
    # a Condition named, not coded: words for CRS, neurotoxicity and seizures, after normalising
    text_names: dict[str, ToxicityKind] = Field(min_length=1)
    graded_only_names: dict[str, Literal["crs", "neurotoxicity"]] = Field(default_factory=dict)
    # how many seizures a seizure name records (a name not listed: 1)
    text_seizures: dict[str, int] = Field(default_factory=dict)
    # words around a seizure name that state more than one ("recurrent seizures", "seizures x2")
    text_seizure_counts: SeizureCountWords | None = None
    # words that make a name no event of that kind ("no seizure", "seizure precautions")
    text_exclusions: dict[ToxicityKind, ToxicityTextExclusion] = Field(default_factory=dict)
    text_source: str
    # a Condition with one of these codes is another condition: its words are not read
    other_condition_codes: list[OtherConditionCode] = Field(default_factory=list)
    crs: GradedRule
    neurotoxicity: GradedRule
    # another clinically relevant adverse reaction, named in `other_names`
    other: GradedRule
    other_names: list[str] = Field(min_length=1)
    other_names_source: str
    resolved_clinical_statuses: list[str] = Field(default_factory=list)
    seizure: SeizureRule
    restart: ReducedRestart
    # finding codes not given for an order beside its "discontinue permanently" card
    discontinue_supersedes: list[str] = Field(default_factory=list)
    discontinue_supersedes_source: str | None = None

    @cached_property
    def other_first_words(self) -> tuple[str, ...]:
        """The first word of each of `other_names`, once: what a Condition's text must hold
        before its words are normalised and read (most Conditions hold none)."""
        return tuple(sorted({name.split()[0] for name in self.other_names}))

    def graded(self, kind: str) -> GradedRule:
        """The grade rules of a kind of graded toxicity ("crs", "neurotoxicity", "other")."""
        return {"crs": self.crs, "other": self.other}.get(kind, self.neurotoxicity)

    def classify(self, code: str) -> ToxicityCode | ToxicityPrefix | None:
        exact = next((c for c in self.codes if c.code == code), None)
        if exact is not None:
            return exact
        return next((p for p in self.code_prefixes if code.startswith(p.prefix)), None)

    def names_other_condition(self, system: str, code: str) -> bool:
        """Whether a coding says the Condition is another condition (`other_condition_codes`)."""
        return any(
            c.code == code and (c.system or self.code_system) == system
            for c in self.other_condition_codes
        )

    def classify_coding(self, system: str, code: str) -> ToxicityCode | ToxicityPrefix | None:
        """The entry for a coding of any system (an entry without `system` is `code_system`'s)."""
        exact = next(
            (c for c in self.codes if c.code == code and (c.system or self.code_system) == system),
            None,
        )
        if exact is not None:
            return exact
        return next(
            (
                p
                for p in self.code_prefixes
                if code.startswith(p.prefix) and (p.system or self.code_system) == system
            ),
            None,
        )


class GrowthBand(StrictModel):
    age_years: int = Field(ge=0)
    max_height_cm: Decimal = Field(gt=0)
    min_height_cm: Decimal = Field(gt=0)
    source: str
    verified: bool = True


class GrowthBounds(RuleFile):
    model_config = _file("growth-bounds")

    height_margin_percent: Decimal = Field(ge=0, lt=100)
    margin_source: str
    bands: list[GrowthBand] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> GrowthBounds:
        ages = [b.age_years for b in self.bands]
        if ages != sorted(set(ages)) or ages[0] != 0:
            raise ValueError("growth bands must start at age 0 and rise by age without repeats")
        if any(b.min_height_cm >= b.max_height_cm for b in self.bands):
            raise ValueError("a growth band's minimum height must be below its maximum")
        return self


class SteroidDrug(StrictModel):
    equivalent_mg: Decimal = Field(gt=0)
    match_text: list[str] = Field(min_length=1)
    ingredient_rxcui: str
    source: str


class SteroidProduct(StrictModel):
    rxcui: str
    drug: str
    mg_per_ml: Decimal | None = Field(default=None, gt=0)
    # a solid oral form's strength per tablet: a dose in tablets is this many mg each
    mg_per_unit: Decimal | None = Field(default=None, gt=0)
    # the product's route by its dose form (None: not said); "oral" decides the route card
    route: Literal["oral", "parenteral"] | None = None
    source: str
    verified: bool
    evidence: str

    @model_validator(mode="after")
    def _tablets_are_oral(self) -> SteroidProduct:
        if self.mg_per_unit is not None and self.route != "oral":
            raise ValueError(f"product {self.rxcui}: a strength per tablet needs route: oral")
        return self


class SteroidRoute(StrictModel):
    """A dosageInstruction.route code that is by mouth: it makes oral an order whose coded
    product does not decide (an ingredient-coded dexamethasone with the oral route)."""

    system: str  # the coding's system URI
    code: str
    display: str
    verified: bool
    source: str


class LabelExample(StrictModel):
    prednisone_mg: Decimal
    dexamethasone_mg: Decimal
    source: str


class CorticosteroidRules(RuleFile):
    model_config = _file("corticosteroids")

    reference_drug: str
    reference_mg: Decimal = Field(gt=0)
    factor_source: str
    drugs: dict[str, SteroidDrug] = Field(min_length=1)
    label_example: LabelExample
    products: list[SteroidProduct] = Field(default_factory=list)
    # dose units that count tablets (UCUM annotations and EHR free text, compared lower-cased): a
    # dose in them is the number of tablets, times the coded product's `mg_per_unit`
    tablet_units: list[str] = Field(default_factory=list)
    tablet_units_source: str | None = None
    # words of a medication's name or its coding display that make it an oral form ("dexamethasone
    # 4 MG Oral Tablet" sent as text, or an SCD not in `products`), matched as whole words
    oral_form_words: list[str] = Field(default_factory=list)
    oral_form_source: str | None = None
    # dosageInstruction.route codes that are by mouth (the product's dose form decides first)
    oral_routes: list[SteroidRoute] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_drugs(self) -> CorticosteroidRules:
        for needed in (self.reference_drug, "dexamethasone"):
            if needed not in self.drugs:
                raise ValueError(f"{needed!r} must be in the glucocorticoid table")
        for product in self.products:
            if product.drug not in self.drugs:
                raise ValueError(f"product {product.rxcui}: unknown drug {product.drug!r}")
        if self.tablet_units and not self.tablet_units_source:
            raise ValueError("tablet_units needs a tablet_units_source")
        if self.oral_form_words and not self.oral_form_source:
            raise ValueError("oral_form_words needs an oral_form_source")
        return self


class InterruptionRules(RuleFile):
    model_config = _file("interruptions")

    infusion_days_per_cycle: int = Field(gt=0)
    infusion_days_source: str
    max_interruption_days: int = Field(gt=0)
    interruption_source: str
    restart_after_hours: int = Field(gt=0)
    restart_source: str
    bag_change_tolerance_hours: Decimal = Field(ge=0)
    tolerance_source: str
    administration_statuses: list[str]
    order_statuses: list[str]
    statuses_source: str
    ran_as_administered_statuses: list[str]
    ran_as_administered_source: str
    # an administration of these statuses without an end stopped at a time the MAR does not give
    stop_untimed_statuses: list[str] = Field(default_factory=list)
    stop_untimed_source: str = "local-policy-infusion-arithmetic"
    # a resumed cycle's day is its day of infusion: its calendar day less the whole days its
    # interruptions took, a part of a day of at least this many hours counting as a day
    interruption_whole_day_from_hours: Decimal = Field(default=Decimal(12), gt=0, le=24)
    interruption_whole_day_source: str = "local-policy-infusion-arithmetic"
    # a meta.lastUpdated this many hours or less before the signing (or start) of the order
    # resuming the cycle records the edit made with the new order, not when the infusion stopped:
    # it still bounds the stop, but the stop's time is unknown (0: every lastUpdated dates it)
    stop_edit_window_hours: Decimal = Field(default=Decimal(24), ge=0)
    stop_edit_window_source: str = "local-policy-edit-time-stop"
    # an order runs past its cycle's 28 infusion days (resumed or new) only by this many hours or
    # more: less is part of a day no whole-day order or bag can match (local policy)
    overrun_from_hours: Decimal = Field(default=Decimal(24), gt=0)
    overrun_source: str = "local-policy-overrun-whole-day"
    # a cycle's first order ending on the calendar day its 28th infusion day ends is not over
    first_order_day_28_calendar_day: bool = True
    first_order_day_28_source: str = "local-policy-overrun-whole-day"


class Recovery(StrictModel):
    min_months_after_last_dose: int = Field(ge=0)
    b_cell_threshold_per_mm3: Decimal = Field(gt=0)
    loinc: list[str]
    unit: str = "/uL"  # the UCUM unit of the threshold (cells/mm³ = cells/µL)
    source: str


class VaccineAfterTreatmentRules(RuleFile):
    model_config = _file("vaccines-after-treatment")

    during_treatment_indicator: Literal["critical", "warning"]
    during_treatment_source: str
    after_treatment_indicator: Literal["critical", "warning", "info"]
    after_treatment_source: str
    recovery: Recovery


class StalenessLimit(StrictModel):
    max_age_days: int | None = Field(default=None, gt=0)  # patient age this limit applies up to
    weight_max_age_days: int = Field(gt=0)
    source: str


class StalenessRules(RuleFile):
    model_config = _file("staleness")

    threshold_kg: Decimal = Field(gt=0)
    threshold_source: str
    near_threshold_percent: Decimal = Field(ge=0)
    limits: list[StalenessLimit] = Field(min_length=1)

    @model_validator(mode="after")
    def _open_ended_last(self) -> StalenessRules:
        if self.limits[-1].max_age_days is not None:
            raise ValueError("the last weight-staleness limit must apply to every age")
        return self


class ProblemListRules(RuleFile):
    model_config = _file("problem-list")

    counted_clinical_statuses: list[str]
    count_without_status: bool
    ignored_verification_statuses: list[str]
    ignore_abated: bool
    source: str
    possible: dict[str, list[str]]
    possible_source: str


# --- problem list and vaccine recognition (real EHR data) ---------------------------------------


class PregnancyCode(StrictModel):
    system: str
    code: str
    display: str
    verified: bool
    source: str


class CodePrefix(StrictModel):
    prefix: str
    display: str
    source: str


class CodePattern(StrictModel):
    pattern: str
    display: str
    source: str

    @model_validator(mode="after")
    def _compiles(self) -> CodePattern:
        try:
            re.compile(self.pattern)
        except re.error as error:
            message = f"pattern {self.pattern!r} is no regular expression: {error}"
            raise ValueError(message) from None
        return self


class PregnancyConditions(RuleFile):
    """pregnancy-conditions.yaml: problem-list codes that mean a current pregnancy, and the words
    that name one where no code of `codes_decide_in` is on the Condition."""

    source: str
    codes: list[PregnancyCode]
    icd10cm_prefixes: list[CodePrefix]
    # system aliases (codes.yaml `systems`) whose codes decide: a Condition coded in one of them
    # is never read by its words (the curated lists leave out the puerperium on purpose)
    codes_decide_in: list[str] = Field(default_factory=list)
    # ICD-10-CM codes beginning with this (chapter 15, "O") mean a current pregnancy unless one
    # of `icd10cm_not_current` (regular expressions) matches: childbirth, puerperium, abortive
    icd10cm_pregnancy_chapter: str | None = None
    icd10cm_not_current: list[CodePattern] = Field(default_factory=list)
    text_names: list[str] = Field(default_factory=list)
    negation_before: list[str] = Field(default_factory=list)
    negation_after: list[str] = Field(default_factory=list)
    # answers that negate only as the whole rest of the sentence ("Pregnant: no", never
    # "Pregnancy, no complications")
    negation_answers: list[str] = Field(default_factory=list)
    text_source: str | None = None
    # an entry with one of these clinical statuses (a new episode) is current whatever its onset
    recurring_statuses: list[str] = Field(default_factory=lambda: ["recurrence", "relapse"])
    # an entry counts from its recordedDate when that is later than its onset (recorded active)
    recorded_date_renews: bool = True
    entry_dates_source: str | None = None


class NdcRow(StrictModel):
    ndc: str
    cvx: str
    name: str
    verified: bool
    source: str
    note: str = ""


class TextName(StrictModel):
    text: str
    cvx: str
    source: str
    # an abbreviation that is also a word or letters of free text ("VAR", "YF"): capitals only
    case_sensitive: bool = False


class CptRow(StrictModel):
    """A vaccine CPT product code and the CVX code the CDC's CPT-to-CVX table maps it to."""

    cpt: str
    cvx: str
    name: str
    verified: bool
    source: str
    note: str = ""


class RouteCode(StrictModel):
    system: str
    code: str


class VaccineRouteRule(StrictModel):
    """A CVX code of an unspecified formulation read as its live form when given by a route
    (influenza, unspecified, given intranasally: live attenuated influenza)."""

    cvx: str
    as_cvx: str
    name: str
    routes: list[RouteCode] = Field(min_length=1)
    # the route as written (route.text, coding displays), matched as whole words in any case
    route_words: list[str] = Field(default_factory=list)
    source: str
    note: str = ""


class UninformativeCvx(StrictModel):
    code: str
    display: str  # the CVX display, ignored in the text ("immune globulin" would exclude a name)


class CvxSystemAlias(StrictModel):
    """Another system URI under which EHRs send CVX codes (the OID of HL7 v2 table 0292)."""

    system: str = Field(min_length=1)
    source: str
    note: str = ""


class VaccineRecognition(RuleFile):
    """vaccine-recognition.yaml: live vaccines coded by NDC or named in text only."""

    ndc_to_cvx: list[NdcRow]
    text_names: list[TextName]
    text_exclusions_source: str
    text_exclusions: list[str]
    # where a text is cut into parts judged on their own ("MMR; IPV"): an exclusion word excludes
    # only its own part, and a live-vaccine name across it
    text_part_separators: list[str] = Field(default_factory=list)
    # exclusion words that, alone in a part (with live words at most), qualify the part before it
    # ("zoster vaccine, recombinant"; "Varicella, IgG"): a product such as "IPV" is its own part
    text_qualifying_exclusions: list[str] = Field(default_factory=list)
    # separators of a list ("MMR and varicella titers"), and the words of a test in its last part
    # that qualify the whole list (an exclusion such as "IPV" stays in its own part)
    text_list_separators: list[str] = Field(default_factory=list)
    text_test_words: list[str] = Field(default_factory=list)
    # live-vaccine brands (of text_names): a part naming one is live whatever exclusion word it
    # holds ("M-M-R II (contains recombinant human albumin)")
    text_live_brands_source: str = "fda-licensed-vaccines"
    text_live_brands: list[str] = Field(default_factory=list)
    # immunity statuses (of text_exclusions): they exclude only a part saying none of
    # text_shot_words, a live brand or a live word ("Rubella - immune", not "MMR vaccine (immunity
    # booster)" nor "MMR (rubella non-immune, postpartum)")
    text_status_exclusions: list[str] = Field(default_factory=list)
    text_shot_words: list[str] = Field(default_factory=list)
    # a product exclusion excludes a live name only in the head of its part: not after one of
    # text_product_conjunctions ("MMR with IPV", "Varicella vaccine given instead of Shingrix"),
    # nor in a remark in brackets holding one of text_remark_words ("Varicella vaccine (Shingrix
    # unavailable)"); a live name only in such a remark is none ("Flu shot (not FluMist)")
    text_product_conjunctions: list[str] = Field(default_factory=list)
    # those of text_product_conjunctions after which a product was not given ("instead of"): a
    # part whose live names all follow one names none ("Shingrix given instead of Zostavax")
    text_replacing_conjunctions: list[str] = Field(default_factory=list)
    text_remark_words: list[str] = Field(default_factory=list)
    # an immunity status only in a remark in brackets holding one of text_nonimmune_words, beside
    # a live name outside it, is the shot's reason ("MMR (immunity unknown)")
    text_nonimmune_words: list[str] = Field(default_factory=list)
    # words answering a live-vaccine name "no" at the end of its part ("Zostavax? no"): not given
    text_answered_no: list[str] = Field(default_factory=list)
    # a part naming a live vaccine with a test word and a shot word is ambiguous (a warning asks
    # to confirm it was given): administration words count in a remark in brackets too ("MMR IgG
    # (2 doses given)"), vaccine words and live brands only outside one ("Varicella titer
    # (Varivax series complete)" is a test); result words ("negative") beside a shot word count
    # as a test, never alone
    text_administration_words: list[str] = Field(default_factory=list)
    text_vaccine_words: list[str] = Field(default_factory=list)
    text_test_result_words: list[str] = Field(default_factory=list)
    # a completed Immunization whose live vaccine's own part says it was not given (a refusal
    # word, not negated nor lifted, or a question of giving answered no) contradicts itself,
    # unless that part says given (text_given_words); a refusal in a part or phrase naming
    # another product (text_other_products, product exclusions) is that product's
    text_given_words: list[str] = Field(default_factory=list)
    text_not_given_words: list[str] = Field(default_factory=list)
    text_not_given_questions: list[str] = Field(default_factory=list)
    text_not_given_answers: list[str] = Field(default_factory=list)
    text_not_given_negations: list[str] = Field(default_factory=list)
    text_not_given_lifted: list[str] = Field(default_factory=list)
    text_other_products_source: str = "cdc-vaccine-abbreviations"
    text_other_products: list[str] = Field(default_factory=list)
    # words saying a vaccine is live: an exclusion word beside one does not exclude the name
    # ("Ebola Zaire vaccine, live, recombinant"), unless a negation says it is not live
    text_live_words_source: str
    text_live_words: list[str] = Field(min_length=1)
    text_not_live_words: list[str]
    # CVX codes that say nothing of which vaccine (999 "unknown"): the NDC and the text are read
    uninformative_cvx_source: str
    uninformative_cvx: list[UninformativeCvx]
    # CVX codes of an unspecified formulation of a vaccine with a live and a not-live form (88
    # influenza): read as uninformative, the NDC, CPT code, text and route decide
    unspecified_formulation_cvx_source: str = "cdc-cvx"
    unspecified_formulation_cvx: list[UninformativeCvx] = Field(default_factory=list)
    # CVX sent under another system URI: read as CVX wherever a vaccine code is read
    cvx_system_aliases: list[CvxSystemAlias]
    # vaccines coded by CPT only (the CDC's CPT-to-CVX table, live vaccines)
    cpt_system: str = "http://www.ama-assn.org/go/cpt"
    cpt_to_cvx: list[CptRow] = Field(default_factory=list)
    # codes or text that disagree (a CVX code not live beside a live NDC/CPT/name): counted live?
    disagreeing_codes_count_live: bool = True
    disagreeing_codes_source: str = "label-immunization"
    # CVX codes saying no vaccine was given (998): never counted live whatever the text says
    no_vaccine_cvx: list[str] = Field(default_factory=lambda: ["998"])
    # unspecified formulations read as their live form by route (CVX 88 intranasal -> 151)
    route_rules: list[VaccineRouteRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _qualifiers_are_exclusions(self) -> VaccineRecognition:
        unknown_conjunctions = set(self.text_replacing_conjunctions) - set(
            self.text_product_conjunctions
        )
        if unknown_conjunctions:
            raise ValueError(
                "vaccine-recognition.yaml: text_replacing_conjunctions not in "
                f"text_product_conjunctions: {sorted(unknown_conjunctions)}"
            )
        for field in ("text_qualifying_exclusions", "text_status_exclusions"):
            unknown = set(getattr(self, field)) - set(self.text_exclusions)
            if unknown:
                raise ValueError(
                    f"vaccine-recognition.yaml: {field} not in text_exclusions: {sorted(unknown)}"
                )
        names = {name.text.lower() for name in self.text_names}
        brands = {brand.lower() for brand in self.text_live_brands} - names
        if brands:
            raise ValueError(
                f"vaccine-recognition.yaml: text_live_brands not in text_names: {sorted(brands)}"
            )
        return self


# --- the whole ----------------------------------------------------------------------------------

FILE_MODELS: dict[str, type[RuleFile]] = {
    "sources": SourcesFile,
    "dose": DoseFile,
    "codes": Codes,
    "cycles": CycleRules,
    "hospitalization": HospitalizationRules,
    "labs": LabRules,
    "neonate": NeonateRules,
    "pregnancy": PregnancyRules,
    "premedication": PremedicationRules,
    "restarts": RestartRules,
    "vaccines": VaccineRules,
    "toxicity": ToxicityRules,
    "growth-bounds": GrowthBounds,
    "corticosteroids": CorticosteroidRules,
    "interruptions": InterruptionRules,
    "vaccines-after-treatment": VaccineAfterTreatmentRules,
    "staleness": StalenessRules,
    "problem-list": ProblemListRules,
    "pregnancy-conditions": PregnancyConditions,
    "vaccine-recognition": VaccineRecognition,
}


class Knowledge(StrictModel):
    """Everything the checks know, validated as a whole (cross-file references included)."""

    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(cached_property,))

    version: str  # every file's version: "codes:2026.11.0+cycles:2026.11.0+..."
    sources: dict[str, SourceRef]
    check_sources: dict[str, str]
    indications: dict[str, Indication]
    dose: DoseRules
    codes: Codes
    cycles: CycleRules
    hospitalization: HospitalizationRules
    labs: LabRules
    neonate: NeonateRules
    pregnancy: PregnancyRules
    premedication: PremedicationRules
    restarts: RestartRules
    vaccines: VaccineRules
    toxicity: ToxicityRules
    growth_bounds: GrowthBounds
    corticosteroids: CorticosteroidRules
    interruptions: InterruptionRules
    vaccines_after_treatment: VaccineAfterTreatmentRules
    staleness: StalenessRules
    problem_list: ProblemListRules
    pregnancy_conditions: PregnancyConditions
    vaccine_recognition: VaccineRecognition

    @model_validator(mode="after")
    def _every_source_exists(self) -> Knowledge:
        for where, source_id in self._cited_sources():
            if source_id not in self.sources:
                raise ValueError(f"{where} cites unknown source {source_id!r}")
        return self

    @model_validator(mode="after")
    def _files_agree(self) -> Knowledge:
        indications = set(self.indications)
        missing = indications - set(self.hospitalization.inpatient_days)
        if missing:
            raise ValueError(f"hospitalization.yaml: no stay for {sorted(missing)}")
        if set(self.cycles.max_cycles) != indications:
            raise ValueError(f"cycles.yaml: max_cycles must name exactly {sorted(indications)}")
        value_sets = [rule.value_set for rule in self.labs.liver.hold_rules]
        for name in [*value_sets, self.labs.neutrophils.value_set]:
            if name not in self.codes.value_sets:
                raise ValueError(f"labs.yaml: value set {name!r} is not in codes.yaml")
        step_up = self.dose.schedule_for("relapsed-refractory", 1)
        if step_up is None or self.premedication.step_up_day not in {
            s.first_day for s in step_up.steps[1:]
        }:
            raise ValueError(
                "premedication.yaml: step_up_day must be the first day of a later step of the "
                "relapsed-refractory cycle 1 schedule in dose.yaml"
            )
        return self

    def _cited_sources(self) -> list[tuple[str, str]]:
        cited = [(f"sources.yaml check_sources.{k}", v) for k, v in self.check_sources.items()]
        cited += [(f"dose.yaml indications.{k}", i.source) for k, i in self.indications.items()]
        cited += [(f"dose.yaml dose.{where}", v) for where, v in source_fields(self.dose)]
        for name in FILE_MODELS:
            if name not in ("sources", "dose", "codes"):  # codes.yaml's sources are free text
                rules = getattr(self, attribute(name))
                cited += [(f"{name}.yaml {where}", v) for where, v in source_fields(rules)]
        return cited

    def source(self, source_id: str) -> SourceRef:
        return self.sources[source_id]

    def indication_label(self, indication: str | None) -> str:
        """How a card names an indication (dose.yaml `indications`), or says it is unknown."""
        return self.indications[indication].label if indication else "indication unknown"

    @cached_property
    def _code_index(self) -> dict[str, frozenset[tuple[str, str]]]:
        systems = self.codes.systems
        return {
            name: frozenset(
                (systems[c.system], code)
                for c in value_set.codes
                for code in equivalent_codes(systems[c.system], c.code)
            )
            for name, value_set in self.codes.value_sets.items()
        }

    def codes_of(self, value_set: str) -> frozenset[tuple[str, str]]:
        """(system URI, code) pairs of a value set; KeyError names a set the files lack."""
        return self._code_index[value_set]

    def b_cell_recovery_codes(self) -> frozenset[tuple[str, str]]:
        """The LOINC codes of the B-cell counts that document immune recovery (local policy)."""
        loinc = self.codes.systems["loinc"]
        return frozenset((loinc, code) for code in self.vaccines_after_treatment.recovery.loinc)

    def text_patterns(self, value_set: str) -> tuple[str, ...]:
        """The lower-case texts that name a value set's concept where no code matches."""
        return self._text_index[value_set]

    def names(self, value_set: str, codes: frozenset[tuple[str, str]], text: str) -> bool:
        """Whether an item (an order, an administration: its codes, its lower-case text) is of
        this value set: by a code of it, or by one of its names in the text."""
        return not codes.isdisjoint(self.codes_of(value_set)) or any(
            name in text for name in self.text_patterns(value_set)
        )

    @cached_property
    def _text_index(self) -> dict[str, tuple[str, ...]]:
        return {
            name: tuple(t.lower() for t in value_set.match_text)
            for name, value_set in self.codes.value_sets.items()
        }

    def displays(self, *value_sets: str) -> dict[tuple[str, str], str]:
        """(system URI, code) -> display over these value sets (every one when none is named)."""
        names = value_sets or tuple(self.codes.value_sets)
        return {
            (self.codes.systems[entry.system], entry.code): entry.display
            for name in names
            for entry in self.codes.value_sets[name].codes
        }

    def coding(self, value_set: str) -> dict[str, str]:
        """The FHIR Coding of a value set's first code: what an order the service offers uses."""
        code = self.codes.value_sets[value_set].codes[0]
        return {
            "system": self.codes.systems[code.system],
            "code": code.code,
            "display": code.display,
        }


def attribute(file_stem: str) -> str:
    """The `Knowledge` attribute of a knowledge file: growth-bounds.yaml -> `growth_bounds`."""
    return file_stem.replace("-", "_")


def source_fields(model: BaseModel) -> list[tuple[str, str]]:
    """Every `source` / `*_source` value in a rule file's model, with where it stands."""
    return _walk(model.model_dump(mode="json"))


def _walk(node: Any, where: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}.{key}" if where else str(key)
            if (key == "source" or str(key).endswith("_source")) and isinstance(value, str):
                found.append((path, value))
            else:
                found.extend(_walk(value, path))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_walk(value, f"{where}[{index}]"))
    return found
