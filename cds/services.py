"""The service registry and the pipeline behind every hook call (no Flask in here).

parse the envelope -> pick the blinatumomab orders -> resolve prefetch (FHIR fallback) ->
build the patient snapshot -> run the checks -> render cards.  Discovery is derived from SERVICES.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from cds.cards import CardRenderer
from cds.checks import Check, CheckInput, registry, run_checks
from cds.fhir.client import FhirClient
from cds.fhir.medications import resolve_draft_medications
from cds.fhir.parsing import resource_label
from cds.fhir.prefetch import resolve_prefetch
from cds.fhir.snapshot import build_snapshot, draft_orders, observation_codes
from cds.findings import Finding
from cds.hooks import CONTEXT_MODELS, HookRequest, HookResponse, OrderSelectContext
from cds.knowledge import Knowledge
from cds.orders import is_blinatumomab, review
from cds.patient import DataIssue, PatientSnapshot
from cds.settings import Settings


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
            "indication, cycle and day; premedication; pregnancy status; live vaccines.",
        ),
        ServiceDefinition(
            "blinatumomab-order-select",
            "order-select",
            "Blinatumomab (BLINCYTO) order check at selection",
            "The same checks on the selected blinatumomab orders, earlier in the workflow "
            "(a dose not yet entered is reminded, not flagged).",
        ),
    )
}

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

INDICATOR_ORDER = {"critical": 0, "warning": 1, "info": 2}


def prefetch_templates(knowledge: Knowledge) -> dict[str, str]:
    loinc = sorted(code for _, code in observation_codes(knowledge))
    return {
        "patient": "Patient/{{context.patientId}}",
        "observations": "Observation?patient={{context.patientId}}&code="
        + ",".join(f"http://loinc.org|{code}" for code in loinc),
        "immunizations": "Immunization?patient={{context.patientId}}",
        "medications": "MedicationRequest?patient={{context.patientId}}",
        "conditions": "Condition?patient={{context.patientId}}",
        # read only when the EHR names an encounter; without one it is no data, not a failure
        "encounter": "Encounter/{{context.encounterId}}",
    }


def discovery(knowledge: Knowledge, dev_mode: bool) -> dict[str, Any]:
    templates = prefetch_templates(knowledge)
    notice = DEV_MODE_NOTICE if dev_mode else ""
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


class HookError(Exception):
    """A request we answer with a 4xx status and an OperationOutcome."""

    def __init__(self, status: int, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def _validation_message(error: ValidationError, prefix: str) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item.get("loc", ()))
        parts.append(f"{prefix}{where}: {item['msg']}" if where else f"{prefix}{item['msg']}")
    return "; ".join(parts)


@dataclass
class HookResult:
    response: HookResponse
    service: str
    hook_instance: str
    topics: list[tuple[str, str]] = field(default_factory=list)  # (topic, indicator) per card


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
        for check in self.checks:  # a broken knowledge file stops start-up, not a patient's request
            if check.rules is not None:
                check.rules(knowledge)

    def fhir_server_allowed(self, url: str, own_host: str | None) -> bool:
        """Outside --dev, only https servers (from the allow-list, if one is set), never this
        service itself: a request must not make us fetch arbitrary URLs (request forgery)."""
        if self.settings.dev_mode:
            return True
        parsed = urlsplit(url)
        own = (
            {urlsplit(self.settings.public_base_url).netloc}
            if self.settings.public_base_url
            else set()
        )
        if own_host:
            own.add(own_host)
        if parsed.scheme != "https" or parsed.netloc in own or not parsed.hostname:
            return False
        allowed = self.settings.allowed_fhir_servers
        return not allowed or any(
            url == a.rstrip("/") or url.startswith(a.rstrip("/") + "/") for a in allowed
        )

    def fhir_client(self, request: HookRequest, own_host: str | None = None) -> FhirClient | None:
        if request.fhirServer is None or not self.fhir_server_allowed(request.fhirServer, own_host):
            return None
        token = request.fhirAuthorization.access_token if request.fhirAuthorization else None
        return FhirClient(request.fhirServer, token, self.settings)

    def handle(self, service_id: str, body: Any, own_host: str | None = None) -> HookResult:
        service = SERVICES.get(service_id)
        if service is None:
            raise HookError(404, f"no CDS service with id {service_id!r}", "not-found")
        if not isinstance(body, dict):
            raise HookError(400, "the request body must be a JSON object")
        try:
            request = HookRequest.model_validate(body)
        except ValidationError as error:
            raise HookError(400, _validation_message(error, "")) from error
        if request.hook != service.hook:
            raise HookError(
                400, f"service {service.id} answers hook {service.hook!r}, not {request.hook!r}"
            )
        try:
            context = CONTEXT_MODELS[service.hook].model_validate(request.context)
        except ValidationError as error:
            raise HookError(400, _validation_message(error, "context.")) from error
        resources = context.draft_resources()
        if len(resources) > self.settings.max_draft_orders:
            raise HookError(
                413, f"more than {self.settings.max_draft_orders} draft orders", "too-costly"
            )
        result = HookResult(HookResponse(), service.id, request.hookInstance)
        result.response = self._run(request, context, resources, own_host)
        result.topics = [
            (c.source.topic.code if c.source.topic else "", c.indicator)
            for c in result.response.cards
        ]
        return result

    def _run(
        self,
        request: HookRequest,
        context: Any,
        resources: list[dict[str, Any]],
        own_host: str | None,
    ) -> HookResponse:
        now = self.clock()
        draft_issues: list[DataIssue] = []
        orders, unresolved = resolve_draft_medications(
            draft_orders(resources, draft_issues),
            context.draftOrders,
            request.prefetch,
            lambda: self.fhir_client(request, own_host),
            self.settings.fhir_deadline,
        )
        selecting = isinstance(context, OrderSelectContext)
        # order-select: only the selected orders get cards; the others are context.
        selected = set(context.selections) if selecting else {o.resource for o in orders}
        targets = [
            o for o in orders if o.resource in selected and is_blinatumomab(o, self.knowledge)
        ]
        unreadable = [i for i in draft_issues if self._mentions_blinatumomab(resources, i.resource)]
        unidentified = [
            self.renderer.render(
                Finding(
                    "order-medication-unresolved",
                    "data-quality",
                    "info",
                    "label-2.1",
                    {"order": u.order, "reference": u.reference, "reason": u.reason},
                    u.order,
                )
            )
            for u in unresolved
            if u.order in selected
        ]
        if not targets and not unreadable:
            return HookResponse(cards=unidentified)
        sources = resolve_prefetch(
            self.templates,
            request.prefetch,
            {
                "patientId": context.patientId,
                "userId": context.userId,
                "encounterId": context.encounterId,
            },
            lambda: self.fhir_client(request, own_host),
            self.settings.fhir_deadline,
        )
        patient = build_snapshot(context.patientId, sources, self.knowledge)
        stage = "select" if selecting else "sign"
        inputs = [
            CheckInput(review(o, patient, self.knowledge, now), patient, tuple(orders), now, stage)
            for o in targets
        ]
        outcome = run_checks(inputs, self.knowledge, self.checks)
        nothing_readable = all(not data.available for data in sources.values())
        if targets and (nothing_readable or outcome.checks_run == 0):
            raise HookError(412, _unavailable_text(patient), "not-found")
        findings = outcome.findings + self._data_quality(patient, draft_issues, unreadable)
        cards = [self.renderer.render(f) for f in findings] + unidentified
        return HookResponse(cards=sorted(cards, key=lambda c: INDICATOR_ORDER[c.indicator]))

    def _mentions_blinatumomab(self, resources: list[dict[str, Any]], label: str) -> bool:
        raw = next((r for r in resources if resource_label(r) == label), None)
        text = json.dumps(raw).lower() if raw is not None else ""
        codes = {code for _, code in self.knowledge.codes_of("blinatumomab")}
        return any(p in text for p in self.knowledge.text_patterns("blinatumomab")) or any(
            f'"{code}"' in text for code in codes
        )

    def _data_quality(
        self, patient: PatientSnapshot, draft_issues: list[DataIssue], unreadable: list[DataIssue]
    ) -> list[Finding]:
        findings = [
            Finding(
                "order-unreadable",
                "data-quality",
                "warning",
                "label-2.1",
                {"resource": issue.resource, "problem": issue.problem},
                issue.resource,
            )
            for issue in unreadable
        ]
        if patient.unlinked:
            findings.append(
                Finding(
                    "data-not-linked",
                    "data-quality",
                    "warning",
                    "label-2.1",
                    {
                        "count": len(patient.unlinked),
                        "resources": "\n".join(
                            f"- `{i.resource}` ({i.source}): {i.problem}"
                            for i in patient.unlinked[:20]
                        ),
                    },
                )
            )
        others = [i for i in (*patient.data_issues(), *draft_issues) if i not in unreadable]
        if others:
            listed = "\n".join(f"- `{i.resource}` ({i.source}): {i.problem}" for i in others[:20])
            findings.append(
                Finding(
                    "data-quality-resource",
                    "data-quality",
                    "info",
                    "label-2.1",
                    {"count": len(others), "resources": listed},
                )
            )
        return findings


def _unavailable_text(patient: PatientSnapshot) -> str:
    reasons = "; ".join(f"{key}: {why}" for key, why in sorted(patient.unavailable.items()))
    return f"the data the checks need could not be obtained ({reasons})"


def operation_outcome(
    message: str, code: str = "invalid", severity: str = "error"
) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": message}],
    }
