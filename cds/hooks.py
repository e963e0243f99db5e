"""CDS Hooks 2.0 wire models: what an EHR sends us and what we send back.

Only the envelope is validated here; FHIR resources inside it stay raw JSON until a check needs
them (see `cds.fhir`). Unknown fields are tolerated everywhere, as the spec requires.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from cds.fhir.references import canonical

Indicator = Literal["info", "warning", "critical"]


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class FhirAuthorization(_Tolerant):
    access_token: str = Field(min_length=1)
    token_type: str = "Bearer"
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None
    patient: str | None = None

    @field_validator("token_type")
    @classmethod
    def _bearer_only(cls, value: str) -> str:
        if value.lower() != "bearer":
            raise ValueError("token_type must be 'Bearer'")
        return value

    def __repr__(self) -> str:  # never let the token reach a log line through repr()
        return f"FhirAuthorization(scope={self.scope!r}, subject={self.subject!r})"


def _bare_id(value: str, resource_type: str) -> str:
    """Real clients send `Patient/x` where the spec wants `x`; accept both."""
    prefix = f"{resource_type}/"
    return value[len(prefix) :] if value.startswith(prefix) else value


_BUNDLE_SCHEMA: dict[str, Any] = {  # what the validator below enforces, for /openapi.json
    "required": ["resourceType"],
    "properties": {
        "resourceType": {"const": "Bundle"},
        "entry": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["resource"],
                "properties": {
                    "resource": {
                        "type": "object",
                        "required": ["resourceType"],
                        "properties": {"resourceType": {"type": "string"}},
                    }
                },
            },
        },
    },
}


class OrderSignContext(_Tolerant):
    userId: str = Field(min_length=1)
    patientId: str = Field(min_length=1)
    encounterId: str | None = None
    draftOrders: dict[str, Any] = Field(json_schema_extra=_BUNDLE_SCHEMA)

    @field_validator("patientId")
    @classmethod
    def _patient_id(cls, value: str) -> str:
        return _bare_id(value, "Patient")

    @field_validator("encounterId")
    @classmethod
    def _encounter_id(cls, value: str | None) -> str | None:
        return None if value is None else _bare_id(value, "Encounter")

    @field_validator("draftOrders")
    @classmethod
    def _draft_orders_is_bundle(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("resourceType") != "Bundle":
            raise ValueError("draftOrders must be a FHIR Bundle")
        entries = value.get("entry", [])
        if not isinstance(entries, list):
            raise ValueError("draftOrders.entry must be an array")
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
                raise ValueError(f"draftOrders.entry[{index}] must hold a resource object")
        return value

    def draft_resources(self) -> list[dict[str, Any]]:
        return [entry["resource"] for entry in self.draftOrders.get("entry", [])]


class OrderSelectContext(OrderSignContext):
    selections: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _selections_name_draft_orders(self) -> OrderSelectContext:
        """Each selection as `Type/id` of the draft order it names, in any form an EHR writes a
        reference (relative, absolute, versioned, the entry's `fullUrl`, e.g. `urn:uuid:`, or a
        bare id): a spelling the service did not match would answer "no cards", unchecked.

        A `Type/id` name is matched first: no other entry's id or fullUrl spelled like it can
        take its selection. Then a fullUrl, then a bare id; one that names two different draft
        orders (a MedicationRequest and a ServiceRequest with one id) is refused as ambiguous.
        A MedicationRequest or ServiceRequest sent without an id (a ServiceRequest: or with one
        that is no FHIR id) is named as `draft_orders` reads it (`unnamed_requests`,
        `unnamed_services`: never an id another draft order carries), so that its fullUrl (or
        its `Type/id` as sent) selects it."""
        # cds.fhir.snapshot imports much
        from cds.fhir.snapshot import unnamed_requests, unnamed_services

        resources = self.draft_resources()
        unnamed = {
            id(raw): name
            for raw, name in [*unnamed_requests(resources), *unnamed_services(resources)]
        }
        names: set[str] = set()
        by_url: dict[str, set[str]] = {}
        by_id: dict[str, set[str]] = {}
        for entry in self.draftOrders.get("entry", []):
            resource = entry["resource"]
            rid = unnamed.get(id(resource), resource.get("id"))
            kind = resource.get("resourceType")
            if not isinstance(rid, str) or not isinstance(kind, str):
                continue
            name = f"{kind}/{rid}"
            if id(resource) not in unnamed:  # a name of ours, not the EHR's: only its fullUrl
                names.add(name)
                by_id.setdefault(rid, set()).add(name)
            elif isinstance(sent := resource.get("id"), str) and sent:  # an id that is no FHIR id
                by_url.setdefault(f"{kind}/{sent}", set()).add(name)  # selected as sent
            if isinstance(entry.get("fullUrl"), str):
                by_url.setdefault(entry["fullUrl"], set()).add(name)
        resolved = []
        for selection in self.selections:
            if selection in names:
                resolved.append(selection)
                continue
            found = by_url.get(selection) or by_id.get(selection)
            if found is None and len(selection) <= LONGEST_REFERENCE:
                typed = canonical(selection)  # absolute or versioned: its Type/id
                found = {typed} if typed in names else None
            if found is None:
                raise ValueError(f"selection {_shown(selection)} names no order in draftOrders")
            if len(found) > 1:
                named = " and ".join(_shown(name) for name in sorted(found)[:3])
                raise ValueError(
                    f"selection {_shown(selection)} is ambiguous: it names {named}; "
                    "select by Type/id"
                )
            resolved.append(next(iter(found)))
        self.selections = resolved
        return self


SHOWN_SELECTION = 100  # characters of a selection quoted back in a 400
LONGEST_REFERENCE = 4096  # longer is no reference to a draft order (and is not parsed as one)


def _shown(selection: str) -> str:
    """A selection as quoted in an error message: cut, saying so, when it is long."""
    if len(selection) <= SHOWN_SELECTION:
        return repr(selection)
    return f"{selection[:SHOWN_SELECTION]!r}... ({len(selection)} characters)"


class HookRequest(_Tolerant):
    hook: str = Field(min_length=1)
    hookInstance: str = Field(min_length=1, max_length=256)
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None

    @field_validator("fhirServer")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith(("http://", "https://")):
            raise ValueError("fhirServer must be an absolute http(s) URL")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _authorization_needs_server(self) -> HookRequest:
        if self.fhirAuthorization is not None and self.fhirServer is None:
            raise ValueError("fhirAuthorization requires fhirServer (cds-r-1)")
        return self


CONTEXT_MODELS: dict[str, type[OrderSignContext]] = {
    "order-sign": OrderSignContext,
    "order-select": OrderSelectContext,
}


# ---------------------------------------------------------------- response


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Coding(_Wire):
    system: str
    code: str
    display: str | None = None


class Source(_Wire):
    label: str
    url: str | None = None
    topic: Coding | None = None


class Action(_Wire):
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resourceId: str | None = None


class Suggestion(_Wire):
    label: str
    uuid: str
    isRecommended: bool | None = None
    actions: list[Action] = []


class Link(_Wire):
    label: str
    url: str
    type: Literal["absolute", "smart"] = "absolute"


class Card(_Wire):
    uuid: str
    summary: str = Field(max_length=140)
    detail: str | None = None
    indicator: Indicator
    source: Source
    suggestions: list[Suggestion] = []
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] = []
    links: list[Link] = []
    extension: dict[str, Any] | None = None  # reverse-DNS keys (CDS Hooks "Extensions")


class HookResponse(_Wire):
    cards: list[Card] = []
    systemActions: list[Action] = []
    # the JSON body, made once: cards are never changed once rendered (`cds.cards.renewed`)
    _body: dict[str, Any] | None = PrivateAttr(default=None)

    def to_json(self) -> dict[str, Any]:
        """Spec 'Use of JSON': optional fields with no value are omitted, `cards` never is.
        The body is the response's own: read it, never change it."""
        if self._body is None:
            body: dict[str, Any] = _prune(self.model_dump(exclude_none=True))
            body["cards"] = body.get("cards", [])
            self._body = body
        return self._body


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        pruned = {key: _prune(item) for key, item in value.items()}
        return {key: item for key, item in pruned.items() if item not in ({}, [], "", None)}
    if isinstance(value, list):
        return [_prune(item) for item in value]
    return value


# ---------------------------------------------------------------- feedback
# Feedback is written to the database and echoed back, so every string is bounded and must be
# storable text (no NUL, no unpaired surrogate): bad input is a 400, never a 500.

FEEDBACK_MAX_ITEMS = 1000


def _storable(value: str) -> str:
    """PostgreSQL text cannot hold NUL (pydantic itself refuses unpaired surrogates)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


FeedbackId = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_storable)]
FeedbackText = Annotated[str, Field(max_length=10_000), AfterValidator(_storable)]


class FeedbackCoding(_Tolerant):
    """A Coding as EHRs really send it in feedback: extra fields (version, userSelected,
    extension) are accepted, display is optional, a missing system is tolerated."""

    system: Annotated[str, Field(max_length=1024), AfterValidator(_storable)] | None = None
    code: FeedbackId
    display: FeedbackText | None = None


class AcceptedSuggestion(_Tolerant):
    id: FeedbackId


class OverrideReason(_Tolerant):
    reason: FeedbackCoding | None = None
    userComment: FeedbackText | None = None

    @model_validator(mode="after")
    def _reason_or_comment(self) -> OverrideReason:
        if self.reason is None and not self.userComment:
            raise ValueError("overrideReason needs a reason or a userComment (cds-fb-3)")
        return self


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})?"
)


class FeedbackItem(_Tolerant):
    card: FeedbackId
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = Field(default=None, max_length=100)
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: datetime

    @field_validator("outcomeTimestamp", mode="before")
    @classmethod
    def _rfc3339_text(cls, value: Any) -> Any:
        """A date-time as RFC 3339 writes it (offset optional, taken as UTC): not a date alone
        nor epoch seconds, which pydantic would read, each as another instant than meant."""
        if not isinstance(value, str) or _RFC3339.fullmatch(value) is None:
            raise ValueError("outcomeTimestamp must be an RFC 3339 date-time string")
        return value

    @field_validator("outcomeTimestamp")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        """Stored in UTC so that the same instant sent with another offset is the same item;
        a timestamp without an offset is taken as UTC (the spec says UTC)."""
        try:
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError as error:
            raise ValueError("outcomeTimestamp is out of range") from error

    @model_validator(mode="after")
    def _accepted_names_suggestions(self) -> FeedbackItem:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("an accepted card must list acceptedSuggestions (cds-fb-2)")
        return self


class FeedbackRequest(_Tolerant):
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=FEEDBACK_MAX_ITEMS)
