"""The service registry and the pipeline behind every hook call (no Flask in here).

parse the envelope (`Engine.parse`) -> pick the blinatumomab orders -> resolve prefetch (FHIR
fallback) -> build the patient snapshot and order reviews (`Engine.read`, also what the sandbox page
shows) -> run the checks -> render cards. Discovery is derived from SERVICES. A request that gets no
cards raises one of the errors of `cds.errors`; `cds.web.errors` turns it into HTTP.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from cds.answer_memo import LARGEST_KEPT_CARDS, AnswerMemo
from cds.cards import (
    CardRenderer,
    Markdown,
    code_span_text,
    finding_code,
    markdown_text,
    renewed,
)
from cds.checks import Check, CheckInput, Stage, declared_findings, registry, run_checks, vaccines
from cds.errors import (
    DataUnavailable,
    InvalidRequest,
    TooManyDraftOrders,
    UnknownService,
    validation_message,
)
from cds.fast_path import Triggers, full_path_reason, strings_in
from cds.fhir.client import FhirClient
from cds.fhir.medications import Unresolved, resolve_draft_medications
from cds.fhir.parsing import resource_label
from cds.fhir.prefetch import SourceData, resolve_prefetch
from cds.fhir.snapshot import (
    build_snapshot,
    draft_orders,
    observation_codes,
    procedure_codes,
    unnamed_requests,
)
from cds.fhir.snapshot_memo import SnapshotMemo
from cds.findings import (
    ORDER_TOPICS,
    Declarations,
    Emission,
    Finding,
    declare,
    emit,
    merge,
    stamp,
)
from cds.hooks import (
    CONTEXT_MODELS,
    Card,
    HookRequest,
    HookResponse,
    OrderSelectContext,
    OrderSignContext,
)
from cds.knowledge import Knowledge
from cds.orders import OrderUnderReview, is_blinatumomab, review
from cds.patient import DataIssue, MedicationOrder, PatientSnapshot
from cds.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceDefinition:
    id: str
    hook: str
    title: str
    description: str


SERVICES: dict[str, ServiceDefinition] = {
    s.id: s
    for s in (
        ServiceDefinition(
            "blinatumomab-order-sign",
            "order-sign",
            "Blinatumomab (BLINCYTO) order check at signing",
            "Checks every draft blinatumomab order against the US label: dose for weight, BSA, "
            "indication, cycle and day; premedication; pregnancy status; live vaccines. A "
            "live-vaccine order signed without blinatumomab is checked too when the patient's "
            "medication history holds blinatumomab (during treatment, or before documented "
            "immune recovery after the last cycle).",
        ),
        ServiceDefinition(
            "blinatumomab-order-select",
            "order-select",
            "Blinatumomab (BLINCYTO) order check at selection",
            "The same checks on the selected blinatumomab orders, earlier in the workflow "
            "(a dose not yet entered is reminded, not flagged). A selected live-vaccine order "
            "is checked against the patient's blinatumomab history, as at signing.",
        ),
    )
}


def service_named(service_id: str) -> ServiceDefinition:
    """Our service of this id; UnknownService (a 404) for any other."""
    service = SERVICES.get(service_id)
    if service is None:
        raise UnknownService(f"no CDS service with id {service_id!r}")
    return service


def service_for(hook: object) -> ServiceDefinition | None:
    """Our service for a hook name (None for a hook we do not answer)."""
    return next((s for s in SERVICES.values() if s.hook == hook), None)


USAGE_REQUIREMENTS = (
    "Send the prefetch keys patient, observations, immunizations, medications and conditions, or a "
    "fhirServer with fhirAuthorization (patient/*.read scopes for Patient, Observation, "
    "Immunization, "
    "MedicationRequest, Medication, Condition) so the service can fetch what is missing. Code the "
    "indication and cycle on the blinatumomab MedicationRequest as described in the README."
)

DEV_MODE_NOTICE = (
    "[OPEN DEVELOPMENT MODE: callers are not authenticated; do not use with patient data] "
)

SANDBOX_NOTICE = (
    "[TESTING ONLY: this service trusts the public CDS Hooks sandbox, whose signing key is "
    "published; anyone can call it as the sandbox; do not use with patient data] "
)

INDICATOR_ORDER = {"critical": 0, "warning": 1, "info": 2}
# Where an order names its medication: R4 (and DSTU2), R5's CodeableReference, contained ones.
MEDICATION_ELEMENTS = (
    "medicationCodeableConcept",
    "medicationReference",
    "medication",
    "contained",
)

# The findings of the pipeline itself (topic data-quality), beside those of the checks.
DATA_QUALITY_FINDINGS: Declarations = {
    "order-unreadable": declare("warning", "resource", "problem"),
    "order-dates-unusable": declare("warning", "resource"),
    "data-quality-resource": declare("info", "count", "resources"),
    "data-not-linked": declare("warning", "count", "resources"),
    "data-incomplete": declare("warning", "key", "problem"),
    "order-medication-unresolved": declare("info", "order", "reference", "reason"),
    "orders-not-reviewed": declare("warning", "count", "most", "orders"),
}

# Not a clinical rule: the most blinatumomab orders one call reviews (a cycle written one bag a
# day is 28-31 orders). Each is reviewed against the whole chart: 190 drafts and a 5 MB chart
# took 5-25 s a call. The others get a card saying they were not checked.
MOST_REVIEWED_ORDERS = 40


# Prefetch keys an EHR may leave out of a prefetch it sends: their data is then none, not fetched.
OPTIONAL_PREFETCH_KEYS = frozenset({"administrations", "procedures"})


def prefetch_templates(knowledge: Knowledge) -> dict[str, str]:
    loinc = sorted(code for _, code in observation_codes(knowledge))
    return {
        "patient": "Patient/{{context.patientId}}",
        "observations": "Observation?patient={{context.patientId}}&code="
        + ",".join(f"http://loinc.org|{code}" for code in loinc),
        "immunizations": "Immunization?patient={{context.patientId}}",
        "medications": "MedicationRequest?patient={{context.patientId}}",
        "conditions": "Condition?patient={{context.patientId}}",
        # optional: when the infusions ran (interruptions); a prefetch without it is no data
        "administrations": "MedicationAdministration?patient={{context.patientId}}",
        # optional: a hysterectomy (no pregnancy check needed) or a delivery (an older positive
        # pregnancy result no longer current) recorded as a Procedure; a prefetch without it is
        # no data, as for administrations
        "procedures": "Procedure?patient={{context.patientId}}&code="
        + ",".join(f"{system}|{code}" for system, code in sorted(procedure_codes(knowledge))),
        # read only when the EHR names an encounter; without one it is no data, not a failure
        "encounter": "Encounter/{{context.encounterId}}",
    }


def discovery(
    knowledge: Knowledge, dev_mode: bool, sandbox_trusted: bool = False
) -> dict[str, Any]:
    templates = prefetch_templates(knowledge)
    notice = (DEV_MODE_NOTICE if dev_mode else "") + (SANDBOX_NOTICE if sandbox_trusted else "")
    return {
        "services": [
            {
                "hook": s.hook,
                "title": s.title,
                "description": notice + s.description,
                "id": s.id,
                "prefetch": templates,
                "usageRequirements": USAGE_REQUIREMENTS,
            }
            for s in SERVICES.values()
        ]
    }


@dataclass(frozen=True)
class HookCall:
    """A request the engine has read: envelope and context valid, draft orders within the limit."""

    service: ServiceDefinition
    request: HookRequest
    context: OrderSignContext  # an OrderSelectContext for order-select
    resources: list[dict[str, Any]]  # the draft order resources, raw
    # appended to when the call asks for its FHIR server: its answer then depends on more than
    # its content (`cds.answer_memo`)
    server_asked: list[bool] = field(default_factory=list, compare=False)
    # the SHA-256 of its prefetch as sent, when the bytes were at hand (`cds.fhir.snapshot_memo`)
    prefetch_digest: bytes | None = field(default=None, compare=False)


@dataclass(frozen=True)
class DraftOrders:
    """The draft orders of a call as read."""

    orders: tuple[MedicationOrder, ...]  # every readable MedicationRequest among them
    targets: tuple[MedicationOrder, ...]  # the blinatumomab orders the checks review
    issues: tuple[DataIssue, ...]  # draft orders that could not be read
    unreadable: tuple[DataIssue, ...]  # ... of which look like blinatumomab orders
    unresolved: tuple[Unresolved, ...] = ()  # selected orders whose Medication could not be read
    # selected live-vaccine orders, checked on their own against the blinatumomab history
    live_vaccines: tuple[MedicationOrder, ...] = ()
    # every blinatumomab draft, selected or not: the plan the targets belong to (a step-up
    # written as two orders, of which order-select names one)
    blinatumomab: tuple[MedicationOrder, ...] = ()
    # selected blinatumomab orders past MOST_REVIEWED_ORDERS: not reviewed, and said so
    not_reviewed: tuple[MedicationOrder, ...] = ()


@dataclass(frozen=True)
class ChartReading:
    """What the checks see in one call, built once: the service runs the checks on it, and the
    sandbox page shows it (`cds.chart_view`), so the page cannot drift from the service."""

    now: datetime
    patient: PatientSnapshot
    drafts: DraftOrders
    inputs: tuple[CheckInput, ...]  # one per target order that could be reviewed, in order
    sources: Mapping[str, SourceData]
    # target orders whose dates overflow the calendar once added up (year 9999, 1e9 days)
    unusable_dates: tuple[str, ...] = ()


@dataclass
class HookResult:
    response: HookResponse
    service: str
    hook_instance: str
    topics: list[tuple[str, str]] = field(default_factory=list)  # (topic, indicator) per card
    codes: list[str] = field(default_factory=list)  # the finding code of each card


class Engine:
    """Runs one hook call; owns nothing per request, so one instance serves every thread."""

    def __init__(
        self,
        settings: Settings,
        knowledge: Knowledge,
        renderer: CardRenderer,
        checks: Sequence[Check] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.knowledge = knowledge
        self.renderer = renderer
        self.checks = tuple(checks) if checks is not None else registry()
        self.clock = clock
        self.templates = prefetch_templates(knowledge)
        self.fast_path_triggers = Triggers.from_knowledge(knowledge)
        self.blinatumomab_triggers = Triggers.blinatumomab(knowledge)
        self.snapshots = SnapshotMemo(settings.snapshot_cache_entries)
        self.answers: AnswerMemo[HookResponse] = AnswerMemo(
            settings.answer_memo_entries, settings.answer_memo_seconds
        )
        # a broken knowledge file stops start-up (load_knowledge), not a patient's request; so do a
        # check without a source and a finding without its card template (checks given here add to
        # the product's)
        for check in self.checks:
            if check.topic not in knowledge.check_sources:
                raise ValueError(f"sources.yaml: check_sources names no source for {check.topic}")
        renderer.verify(
            merge(declared_findings((*registry(), *self.checks)), DATA_QUALITY_FINDINGS)
        )

    def _client_for(self, call: HookCall, fetch: bool, own_host: str | None) -> FhirClient | None:
        call.server_asked.append(True)
        return self.fhir_client(call.request, own_host) if fetch else None

    def fhir_client(self, request: HookRequest, own_host: str | None = None) -> FhirClient | None:
        """A client for the request's fhirServer; one the egress policy refuses (cds.fhir.egress)
        fails every fetch with "not allowed" and never connects."""
        if request.fhirServer is None:
            return None
        token = request.fhirAuthorization.access_token if request.fhirAuthorization else None
        return FhirClient(request.fhirServer, token, self.settings, own_host)

    def parse(self, service_id: str, body: Any) -> HookCall:
        """Read a request for `service_id`; raises UnknownService, InvalidRequest or
        TooManyDraftOrders (before any work is done on the orders)."""
        service = service_named(service_id)
        if not isinstance(body, dict):
            raise InvalidRequest("the request body must be a JSON object")
        try:
            request = HookRequest.model_validate(body)
        except ValidationError as error:
            raise InvalidRequest(validation_message(error)) from error
        if request.hook != service.hook:
            raise InvalidRequest(
                f"service {service.id} answers hook {service.hook!r}, not {request.hook!r}"
            )
        try:
            context = CONTEXT_MODELS[service.hook].model_validate(request.context)
        except ValidationError as error:
            raise InvalidRequest(validation_message(error, "context.")) from error
        resources = context.draft_resources()
        if len(resources) > self.settings.max_draft_orders:
            raise TooManyDraftOrders(self.settings.max_draft_orders)
        return HookCall(service, request, context, resources)

    def quick_answer(self, service_id: str, body: Any) -> HookResult | None:
        """No cards, at once, for an order-sign whose raw draft orders cannot concern blinatumomab
        (`cds.fast_path`); None when the call needs the full path (`handle`). The envelope is still
        validated (the same 4xx as the full path); the prefetch is never read."""
        service = SERVICES.get(service_id)
        if service is None or service.hook != "order-sign" or not isinstance(body, dict):
            return None
        context = body.get("context")
        if not isinstance(context, dict):
            return None
        try:
            reason = full_path_reason(context.get("draftOrders"), self.fast_path_triggers)
        except Exception:  # a shape the lane did not foresee: the full path decides, as always
            log.exception("the fast path could not read the draft orders")
            return None
        if reason is not None:
            return None
        call = self.parse(service_id, body)
        return HookResult(HookResponse(), service.id, call.request.hookInstance)

    def handle(
        self,
        service_id: str,
        body: Any,
        own_host: str | None = None,
        key: bytes | None = None,
        prefetch_digest: bytes | None = None,
    ) -> HookResult:
        """Answer one hook call with cards; raises the errors of `parse`, and DataUnavailable.
        `key`: the call's `cds.answer_memo.call_key`, when its bytes are at hand: the cards of a
        call of the same content answered a moment ago are given again (new uuids), else kept;
        `prefetch_digest`: `cds.fhir.snapshot_memo.prefetch_digest`, for the chart's key."""
        call = self.parse(service_id, body)
        if prefetch_digest is not None:
            call = dataclasses.replace(call, prefetch_digest=prefetch_digest)
        now = self.clock()
        kept = self.answers.recall(key, now)
        if kept is not None:
            return self._result(call, renewed(kept))
        findings, blinatumomab_orders = self._findings(call, own_host)
        response = self._cards(findings, blinatumomab_orders > 1)
        if not call.server_asked and len(response.cards) <= LARGEST_KEPT_CARDS:
            self.answers.keep(key, now, response)
        return self._result(call, response)

    def recall(self, service_id: str, envelope: Any, key: bytes) -> HookResult | None:
        """The answer of a call of the same content answered a moment ago (`cds.answer_memo`),
        read from its envelope alone (its prefetch is that call's); None when there is none.
        Raises the errors of `parse`."""
        kept = self.answers.recall(key, self.clock())
        if kept is None:
            return None
        return self._result(self.parse(service_id, envelope), renewed(kept))

    def _result(self, call: HookCall, response: HookResponse) -> HookResult:
        topics: list[tuple[str, str]] = [
            (c.source.topic.code if c.source.topic else "", c.indicator) for c in response.cards
        ]
        codes = [finding_code(c) for c in response.cards]
        return HookResult(response, call.service.id, call.request.hookInstance, topics, codes)

    def read_drafts(
        self, call: HookCall, fetch: bool = True, own_host: str | None = None
    ) -> DraftOrders:
        """The draft orders, their referenced Medications found in the request or (with `fetch`)
        read from its fhirServer, and which of them are blinatumomab."""
        draft_issues: list[DataIssue] = []
        made_up = {id(raw) for raw, _ in unnamed_requests(call.resources)}  # ids of ours
        orders, unresolved = resolve_draft_medications(
            draft_orders(call.resources, draft_issues, self.knowledge),
            call.context.draftOrders,
            call.request.prefetch,
            lambda: self._client_for(call, fetch, own_host),
            self.settings.fhir_deadline,
        )
        # an order sent without an id keeps it so in the suggestions: never a name of ours
        orders = [
            replace(o, raw={k: v for k, v in o.raw.items() if k != "id"})
            if id(o.raw) in made_up
            else o
            for o in orders
        ]
        # order-select: only the selected orders get cards; the others are context. The selected
        # come first: a card said once for a group of orders, by the group's first (orders signed
        # together that run at the same time), is then said by a selected one, whichever of the
        # group is selected (task D item 4: the second of two copies selected showed nothing).
        if isinstance(call.context, OrderSelectContext):
            selected = set(call.context.selections)
            orders = sorted(orders, key=lambda o: o.resource not in selected)
        else:
            selected = {o.resource for o in orders}
        live = vaccines.live_codes(self.knowledge, self.knowledge.vaccines)
        blinatumomab = tuple(o for o in orders if is_blinatumomab(o, self.knowledge))
        targets = tuple(o for o in blinatumomab if o.resource in selected)
        return DraftOrders(
            tuple(orders),
            targets[:MOST_REVIEWED_ORDERS],
            tuple(draft_issues),
            tuple(
                i for i in draft_issues if self._mentions_blinatumomab(call.resources, i.resource)
            ),
            tuple(u for u in unresolved if u.order in selected),
            tuple(
                o
                for o in orders
                if o.resource in selected
                and vaccines.is_live_vaccine_order(o, live, self.knowledge)
            ),
            blinatumomab,
            targets[MOST_REVIEWED_ORDERS:],
        )

    def read(
        self,
        call: HookCall,
        drafts: DraftOrders | None = None,
        fetch: bool = True,
        own_host: str | None = None,
    ) -> ChartReading:
        """The patient snapshot and order reviews the checks get. With `fetch=False`, prefetch
        keys the EHR did not send are reported unavailable, never fetched from its fhirServer."""
        drafts = drafts if drafts is not None else self.read_drafts(call, fetch, own_host)
        now = self.clock()
        context = call.context
        sources = resolve_prefetch(
            self.templates,
            call.request.prefetch,
            {
                "patientId": context.patientId,
                "userId": context.userId,
                "encounterId": context.encounterId,
            },
            lambda: self._client_for(call, fetch, own_host),
            self.settings.fhir_deadline,
            optional=OPTIONAL_PREFETCH_KEYS,
        )
        patient = self.snapshots.snapshot(
            context.patientId,
            sources,
            lambda: build_snapshot(context.patientId, sources, self.knowledge),
            call.prefetch_digest,
        )
        stage: Stage = "select" if isinstance(context, OrderSelectContext) else "sign"
        # Every blinatumomab draft is reviewed in start order, beside those starting before it (a
        # step-up written as two orders); the targets are checked in the order the EHR sent them.
        position = {id(o): i for i, o in enumerate(drafts.targets)}
        reviewed: list[OrderUnderReview] = []
        unusable: list[str] = []
        for order in sorted(drafts.blinatumomab, key=lambda o: o.first_start() or now):
            try:
                reviewed.append(review(order, patient, self.knowledge, now, reviewed))
            except OverflowError:  # its own card, and the other orders are still checked
                if id(order) in position:
                    unusable.append(order.resource)
        targets = sorted(
            (r for r in reviewed if id(r.order) in position), key=lambda r: position[id(r.order)]
        )
        inputs = tuple(CheckInput(r, patient, drafts.orders, now, stage) for r in targets)
        return ChartReading(now, patient, drafts, inputs, sources, tuple(unusable))

    def _findings(self, call: HookCall, own_host: str | None) -> tuple[list[Finding], int]:
        """The findings of a call, and how many blinatumomab orders its drafts hold."""
        drafts = self.read_drafts(call, own_host=own_host)
        count = len(drafts.blinatumomab)
        unidentified = [
            self._data_quality_finding(
                "order-medication-unresolved",
                u.order,
                order=u.order,
                reference=u.reference,
                reason=u.reason,
            )
            for u in drafts.unresolved
        ]
        if drafts.not_reviewed:
            unidentified.append(
                self._data_quality_finding(
                    "orders-not-reviewed",
                    None,
                    count=len(drafts.not_reviewed),
                    most=MOST_REVIEWED_ORDERS,
                    orders=", ".join(o.resource for o in drafts.not_reviewed[:5])
                    + (" and more" if len(drafts.not_reviewed) > 5 else ""),
                )
            )
        if not drafts.targets and not drafts.unreadable:
            if drafts.live_vaccines:  # a live vaccine on its own: after blinatumomab?
                return self._live_vaccines_alone(call, drafts, own_host) + unidentified, count
            return unidentified, count
        reading = self.read(call, drafts, fetch=True, own_host=own_host)
        outcome = run_checks(reading.inputs, self.knowledge, self.checks)
        nothing_readable = all(not data.available for data in reading.sources.values())
        if reading.inputs and (nothing_readable or outcome.checks_run == 0):
            raise DataUnavailable(_unavailable_text(reading.patient))
        return outcome.findings + self._data_quality(reading) + unidentified, count

    def _cards(self, findings: Sequence[Finding], several_orders: bool) -> HookResponse:
        """The cards, most severe first; a card the same in every word and action as one before
        it is left out (a positive hCG for each of eight bag orders is one card to the reader),
        and a card about orders names all those it was said for (in words too when the call holds
        several blinatumomab orders, or the cards name several orders)."""
        kept: dict[str, tuple[Card, list[str]]] = {}
        for finding in findings:
            card = self.renderer.render(finding)
            about = kept.setdefault(_seen_as(card), (card, []))[1]
            if finding.topic in ORDER_TOPICS and finding.order and finding.order not in about:
                about.append(finding.order)
        several = several_orders or len({o for _, about in kept.values() for o in about}) > 1
        cards = [
            self.renderer.about_orders(card, about, several) if about else card
            for card, about in kept.values()
        ]
        return HookResponse(cards=sorted(cards, key=lambda c: INDICATOR_ORDER[c.indicator]))

    def _live_vaccines_alone(
        self, call: HookCall, drafts: DraftOrders, own_host: str | None
    ) -> list[Finding]:
        """Live-vaccine orders with no blinatumomab order selected: beside a blinatumomab draft
        (order-select of the vaccine) each is ordered together with it; else the chart is read, and
        a patient with blinatumomab in the medication history gets the vaccine findings (with the
        data-quality ones). Never given blinatumomab: no card (this service speaks only of
        blinatumomab; nearly every vaccine order is someone else's). A history that cannot be read
        is said, never taken for "never given"."""
        reading = self.read(call, drafts, fetch=True, own_host=own_host)
        declared = vaccines.CHECK.declared()
        findings: list[Finding] = []
        history_unreadable = reading.patient.unavailable.get("medications")
        for order in drafts.live_vaccines:
            try:
                if drafts.blinatumomab:  # order-select of the vaccine, blinatumomab beside it
                    said = [vaccines.ordered_together(order, self.knowledge)]
                elif history_unreadable is not None:
                    said = [self._vaccine_not_checked(f"medications: {history_unreadable}")]
                else:
                    said = vaccines.check_vaccine_order(
                        order, reading.patient, self.knowledge, reading.now
                    )
            except Exception:
                log.exception("the live-vaccine check failed on %s", order.resource)
                said = [self._vaccine_not_checked("the check failed unexpectedly")]
            findings.extend(stamp(e, declared, vaccines.TOPIC, order.resource) for e in said)
        return findings + self._data_quality(reading) if findings else []

    def _vaccine_not_checked(self, reason: str) -> Emission:
        return emit(
            "check-not-run",
            self.knowledge.check_sources[vaccines.TOPIC],
            what="whether this live vaccine comes during or after blinatumomab treatment",
            reason=reason,
        )

    def _mentions_blinatumomab(self, resources: list[dict[str, Any]], label: str) -> bool:
        """Whether an order that could not be read names blinatumomab as its medication, by name
        or code (as the fast path looks: a padded or re-spaced code still counts). Only what
        names the medication: a dexamethasone order's "1 hour before blinatumomab" does not."""
        raw = next((r for r in resources if resource_label(r) == label), None)
        if raw is None:
            return False
        named = [raw.get(element) for element in MEDICATION_ELEMENTS]
        return self.blinatumomab_triggers.named_in(strings_in(named))

    def _data_quality(self, reading: ChartReading) -> list[Finding]:
        unreadable = reading.drafts.unreadable
        findings = [
            self._data_quality_finding(
                "order-unreadable", issue.resource, resource=issue.resource, problem=issue.problem
            )
            for issue in unreadable
        ]
        findings += [
            self._data_quality_finding("order-dates-unusable", order, resource=order)
            for order in reading.unusable_dates
        ]
        patient = reading.patient
        if patient.unlinked:
            findings.append(
                self._data_quality_finding(
                    "data-not-linked",
                    None,
                    count=len(patient.unlinked),
                    resources=_listed(patient.unlinked),
                )
            )
        findings += [
            self._data_quality_finding("data-incomplete", None, key=key, problem=data.incomplete)
            for key, data in reading.sources.items()
            if data.available and data.incomplete is not None
        ]
        others = [
            i
            for i in (*reading.patient.data_issues(), *reading.drafts.issues)
            if i not in unreadable
        ]
        if others:
            findings.append(
                self._data_quality_finding(
                    "data-quality-resource", None, count=len(others), resources=_listed(others)
                )
            )
        return findings

    def _data_quality_finding(self, code: str, about: str | None, /, **values: Any) -> Finding:
        """A finding of the pipeline itself (topic data-quality), about order `about` if any."""
        said = emit(code, self.knowledge.check_sources["data-quality"], **values)
        return stamp(said, DATA_QUALITY_FINDINGS, "data-quality", about)


def _listed(issues: Sequence[DataIssue]) -> Markdown:
    """The first 20 issues as a markdown list, every value from the chart escaped."""
    return Markdown(
        "\n".join(
            f"- `{code_span_text(i.resource)}` ({markdown_text(i.source)}): "
            f"{markdown_text(i.problem)}"
            for i in issues[:20]
        )
    )


def _unavailable_text(patient: PatientSnapshot) -> str:
    reasons = "; ".join(f"{key}: {why}" for key, why in sorted(patient.unavailable.items()))
    return f"the data the checks need could not be obtained ({reasons})"


def _seen_as(card: Card) -> str:
    """What the clinician sees of a card and can do with it: all of it but the uuids."""
    shown = card.model_dump(mode="json", exclude={"uuid"})
    for suggestion in shown["suggestions"]:
        suggestion.pop("uuid", None)
    return json.dumps(shown, sort_keys=True)
