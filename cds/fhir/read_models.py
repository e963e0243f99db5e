"""What the checks read of each FHIR R4 resource, validated with FHIR's own primitive types.

fhir.resources validates every element of a resource in Python (0.15-1 ms a resource: a typical
new patient's chart spent half its CPU there), and rejects a resource for an element no check
reads. These models hold only the elements `cds.fhir.facts` reads, each with the R4 name,
cardinality and primitive type of fhir.resources' R4B model (`fhir_core.types`: the same patterns
for code, id, decimal, date and dateTime), and validate in pydantic-core, with fhir_core's own
checks on decimals and dates: about a tenth of the time. Every other element is ignored, never
rejected. tests/unit/test_read_models.py holds them to fhir.resources: each field exists in the
R4B model with the same type, and both read the sample resources to the same facts.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from fhir_core.types import (
    BooleanType,
    CodeType,
    DateTimeType,
    DateType,
    DecimalType,
    IdType,
    InstantType,
    IntegerType,
    MarkdownType,
    PositiveIntType,
    StringType,
    TimeType,
    UnsignedIntType,
    UriType,
)
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Element(BaseModel):
    """Read only; elements the checks do not read are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# R4's open types (2.24.0.1 "Open Type Element"), and the two R4B added: every type a choice
# element [x] may take.
OPEN_TYPES = (  # noqa: SIM905 - word by word as the spec lists them
    "base64Binary boolean canonical code date dateTime decimal id instant integer markdown oid "
    "positiveInt string time unsignedInt uri url uuid Address Age Annotation Attachment "
    "CodeableConcept Coding ContactPoint Count Distance Duration HumanName Identifier Money "
    "Period Quantity Range Ratio Reference SampledData Signature Timing ContactDetail "
    "Contributor DataRequirement Expression ParameterDefinition RelatedArtifact "
    "TriggerDefinition UsageContext Dosage Meta CodeableReference RatioRange"
).split()


class WithChoices(Element):
    """An element with choice elements the checks read (`value` for value[x]): at most one of
    each one's types may be sent, else which one holds the value is anyone's guess. (Only these
    classes pay for the check: a before-validator is a Python call per instance; it looks the
    sent keys up in each choice's names, ~0.5 µs, where testing every key's prefix took ~7.)"""

    choices: ClassVar[tuple[str, ...]] = ()
    _choice_names: ClassVar[tuple[tuple[str, frozenset[str]], ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._choice_names = tuple(
            (choice, frozenset(choice + kind[0].upper() + kind[1:] for kind in OPEN_TYPES))
            for choice in cls.choices
        )

    @model_validator(mode="before")
    @classmethod
    def _one_type_per_choice(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for choice, names in cls._choice_names:
                sent = names.intersection(data)
                if len(sent) > 1:
                    raise ValueError(
                        f"{choice}[x] sent as {' and '.join(sorted(sent))}: only one is allowed"
                    )
        return data


class Coding(Element):
    system: UriType | None = None
    code: CodeType | None = None
    display: StringType | None = None


class CodeableConcept(Element):
    coding: list[Coding] | None = None
    text: StringType | None = None


class Quantity(Element):
    value: DecimalType | None = None
    comparator: CodeType | None = None
    unit: StringType | None = None
    system: UriType | None = None
    code: CodeType | None = None


class Age(Quantity):
    """R4's Age: a Quantity of time since birth."""


class Duration(Quantity):
    """R4's Duration: a Quantity of time."""


class Period(Element):
    start: DateTimeType | None = None
    end: DateTimeType | None = None


class Range(Element):
    low: Quantity | None = None
    high: Quantity | None = None


class Ratio(Element):
    numerator: Quantity | None = None
    denominator: Quantity | None = None


class Reference(Element):
    reference: StringType | None = None
    display: StringType | None = None


class Annotation(Element):
    text: MarkdownType


class Extension(WithChoices):
    """The cycle number is the only extension value a check reads (design.md)."""

    choices = ("value",)

    url: UriType
    valueInteger: IntegerType | None = None
    valuePositiveInt: PositiveIntType | None = None
    valueUnsignedInt: UnsignedIntType | None = None


class ObservationReferenceRange(Element):
    low: Quantity | None = None
    high: Quantity | None = None


class Observation(WithChoices):
    choices = ("effective", "value")

    id: IdType | None = None
    status: CodeType
    code: CodeableConcept
    effectiveDateTime: DateTimeType | None = None
    effectivePeriod: Period | None = None
    effectiveInstant: InstantType | None = None
    issued: InstantType | None = None
    valueQuantity: Quantity | None = None
    valueCodeableConcept: CodeableConcept | None = None
    valueString: StringType | None = None
    valueBoolean: BooleanType | None = None
    valueDateTime: DateTimeType | None = None  # an estimated delivery date (LOINC 11778-8)
    referenceRange: list[ObservationReferenceRange] | None = None
    interpretation: list[CodeableConcept] | None = None


class Immunization(WithChoices):
    choices = ("occurrence",)

    id: IdType | None = None
    status: CodeType
    vaccineCode: CodeableConcept
    occurrenceDateTime: DateTimeType | None = None
    occurrenceString: StringType | None = None
    recorded: DateTimeType | None = None  # when the record was made: the shot was given by then


class ConditionStage(Element):
    summary: CodeableConcept | None = None  # where some EHRs chart a CRS or ICANS grade


class Condition(WithChoices):
    choices = ("onset", "abatement")

    id: IdType | None = None
    clinicalStatus: CodeableConcept | None = None
    verificationStatus: CodeableConcept | None = None
    # problem-list-item, encounter-diagnosis (an encounter's diagnosis is often timed when entered)
    category: list[CodeableConcept] | None = None
    code: CodeableConcept | None = None
    onsetDateTime: DateTimeType | None = None
    onsetPeriod: Period | None = None
    # an onset stated otherwise: an age ("6 a"), an age range, or words ("childhood")
    onsetAge: Age | None = None
    onsetRange: Range | None = None
    onsetString: StringType | None = None
    recordedDate: DateTimeType | None = None
    abatementDateTime: DateTimeType | None = None
    abatementPeriod: Period | None = None
    abatementAge: Age | None = None
    abatementRange: Range | None = None
    abatementString: StringType | None = None
    stage: list[ConditionStage] | None = None


class MedicationIngredient(Element):
    itemCodeableConcept: CodeableConcept | None = None
    itemReference: Reference | None = None
    strength: Ratio | None = None  # the bag's concentration of this ingredient (mL/h orders)


class Medication(Element):
    id: IdType | None = None
    code: CodeableConcept | None = None
    ingredient: list[MedicationIngredient] | None = None
    amount: Ratio | None = None


class TimingRepeat(WithChoices):
    choices = ("bounds",)

    boundsDuration: Duration | None = None
    boundsPeriod: Period | None = None
    count: PositiveIntType | None = None  # "7 times" once a day: a step of 7 days
    countMax: PositiveIntType | None = None
    frequency: PositiveIntType | None = None
    period: DecimalType | None = None
    periodUnit: CodeType | None = None
    timeOfDay: list[TimeType] | None = None  # "at 11:00" each day of the bounds
    # read only to see that a timing says more than a frequency per period (`facts`)
    dayOfWeek: list[CodeType] | None = None
    frequencyMax: PositiveIntType | None = None
    periodMax: DecimalType | None = None
    when: list[CodeType] | None = None


class Timing(Element):
    event: list[DateTimeType] | None = None
    repeat: TimingRepeat | None = None
    code: CodeableConcept | None = None  # an HL7 GTS abbreviation: QD, once a day


class DosageDoseAndRate(WithChoices):
    choices = ("dose", "rate")

    doseRange: Range | None = None
    doseQuantity: Quantity | None = None
    rateRatio: Ratio | None = None
    rateRange: Range | None = None
    rateQuantity: Quantity | None = None


class Dosage(Element):
    sequence: IntegerType | None = None
    text: StringType | None = None
    timing: Timing | None = None
    asNeededBoolean: BooleanType | None = None
    route: CodeableConcept | None = None  # oral or IV: the label's premedication route
    asNeededCodeableConcept: CodeableConcept | None = None
    doseAndRate: list[DosageDoseAndRate] | None = None


class MedicationRequestDispenseRequest(Element):
    numberOfRepeatsAllowed: UnsignedIntType | None = None
    expectedSupplyDuration: Duration | None = None


class WithContainedMedication(WithChoices):
    """A resource whose medication may be a contained Medication: that one is read (it may name
    the drug); other contained resources are not."""

    contained: (
        list[Annotated[dict[str, Any] | Medication, Field(union_mode="left_to_right")]] | None
    ) = None

    @field_validator("contained", mode="before")
    @classmethod
    def _contained_medications(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return [
            Medication.model_validate(item)
            if isinstance(item, dict) and item.get("resourceType") == "Medication"
            else item
            for item in value
        ]


class MedicationRequest(WithContainedMedication):
    choices = ("medication",)

    id: IdType | None = None
    extension: list[Extension] | None = None
    status: CodeType
    intent: CodeType
    category: list[CodeableConcept] | None = None
    medicationCodeableConcept: CodeableConcept | None = None
    medicationReference: Reference | None = None
    encounter: Reference | None = None
    authoredOn: DateTimeType | None = None
    reasonCode: list[CodeableConcept] | None = None
    note: list[Annotation] | None = None
    dosageInstruction: list[Dosage] | None = None
    dispenseRequest: MedicationRequestDispenseRequest | None = None
    priorPrescription: Reference | None = None


class MedicationAdministration(WithContainedMedication):
    choices = ("medication", "effective")

    id: IdType | None = None
    status: CodeType
    medicationCodeableConcept: CodeableConcept | None = None
    medicationReference: Reference | None = None
    effectiveDateTime: DateTimeType | None = None
    effectivePeriod: Period | None = None
    request: Reference | None = None


class Patient(Element):
    id: IdType | None = None
    gender: CodeType | None = None
    birthDate: DateType | None = None


MODELS: dict[str, type[Element]] = {
    model.__name__: model
    for model in (
        Condition,
        Immunization,
        Medication,
        MedicationAdministration,
        MedicationRequest,
        Observation,
        Patient,
    )
}
