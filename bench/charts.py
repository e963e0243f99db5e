"""Realistic order-sign requests for the benchmark, dated relative to the moment it runs.

The service under test uses the real clock, so the charts are built around "now": the weight is
from three days ago, the negative hCG from two days ago, the earlier cycle ended a fortnight ago.
A 28-year-old woman with relapsed/refractory B-ALL signs cycle 2 (28 mcg/day for 28 days) with
dexamethasone premedication, so every check (dose, premedication, pregnancy, live vaccines) runs
and none takes an early exit.

- `typical()`: about 50 prefetched resources (a few months of vitals, labs, tests, shots, orders);
- `long()`: about 1,000 resources (five years of the same, plus observations the service does
  not ask for, as an EHR answering an unfiltered search would send);
- `no_prefetch()`: the typical chart's request without any prefetch key (fetched from fhirServer).
"""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fixtures_util import (
    LOINC,
    RXNORM,
    UCUM,
    Step,
    blinatumomab_order,
    condition,
    dexamethasone_order,
    height,
    lab,
    observation,
    patient,
    weight,
)

PID = "pt-bench"
CVX = "http://hl7.org/fhir/sid/cvx"
SNOMED = "http://snomed.info/sct"

LABS = (  # (LOINC, display, unit, typical value)
    (
        "1742-6",
        "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        "U/L",
        28,
    ),
    (
        "1920-8",
        "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        "U/L",
        24,
    ),
    ("1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", "mg/dL", 0.7),
    ("751-8", "Neutrophils [#/volume] in Blood by Automated count", "10*3/uL", 2.9),
    (
        "2324-2",
        "Gamma glutamyl transferase [Enzymatic activity/volume] in Serum or Plasma",
        "U/L",
        31,
    ),
)
OTHER_OBSERVATIONS = (  # codes the service does not ask for; an unfiltered search returns them
    ("8867-4", "Heart rate", "/min", 78),
    ("8310-5", "Body temperature", "Cel", 36.8),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 11.9),
    ("777-3", "Platelets [#/volume] in Blood by Automated count", "10*3/uL", 188),
)
VACCINES = (  # inactivated or non-replicating (CVX): history, never a contraindication
    ("141", "Influenza, seasonal, injectable"),
    ("208", "COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose"),
    ("115", "Tdap"),
    ("133", "Pneumococcal conjugate PCV 13"),
    ("43", "Hep B, adult"),
    ("150", "Influenza, injectable, quadrivalent, preservative free"),
)
OTHER_DRUGS = (  # (RxNorm ingredient, name, dose, unit)
    ("26225", "ondansetron", 8, "mg"),
    ("281", "acyclovir", 400, "mg"),
    ("519", "allopurinol", 300, "mg"),
    ("4450", "fluconazole", 200, "mg"),
    ("10831", "sulfamethoxazole / trimethoprim", 800, "mg"),
    ("40790", "pantoprazole", 40, "mg"),
    ("7052", "morphine", 5, "mg"),
    ("161", "acetaminophen", 1000, "mg"),
)


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def _lab(oid: str, code: str, display: str, unit: str, value: float, when: datetime) -> Any:
    return lab(PID, oid, code, display, value, unit, when=_iso(when))


def _hcg(oid: str, when: datetime, *, positive: bool = False) -> dict[str, Any]:
    answer = ("10828004", "Positive") if positive else ("260385009", "Negative")
    display = "Choriogonadotropin (pregnancy test) [Presence] in Urine"
    return observation(PID, oid, "2106-3", display, _iso(when), "laboratory") | {
        "valueCodeableConcept": {
            "coding": [{"system": SNOMED, "code": answer[0], "display": answer[1]}],
            "text": answer[1],
        },
    }


def _pregnancy_status(oid: str, when: datetime) -> dict[str, Any]:
    status = _hcg(oid, when)
    status["category"][0]["coding"][0] |= {"code": "social-history", "display": "Social History"}
    status["code"] = {
        "coding": [{"system": LOINC, "code": "82810-3", "display": "Pregnancy status"}],
        "text": "Pregnancy status",
    }
    status["valueCodeableConcept"] = {
        "coding": [{"system": LOINC, "code": "LA26683-5", "display": "Not pregnant"}]
    }
    return status


def _immunization(iid: str, cvx: str, display: str, when: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Immunization",
        "id": iid,
        "status": "completed",
        "vaccineCode": {
            "coding": [{"system": CVX, "code": cvx, "display": display}],
            "text": display,
        },
        "patient": {"reference": f"Patient/{PID}"},
        "occurrenceDateTime": _iso(when),
        "primarySource": True,
        "lotNumber": f"LOT{abs(hash(iid)) % 100000:05d}",
        "route": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration",
                    "code": "IM",
                    "display": "Injection, intramuscular",
                }
            ]
        },
    }


def _drug_order(oid: str, drug: tuple[str, str, int, str], when: datetime) -> dict[str, Any]:
    code, name, dose, unit = drug
    return {
        "resourceType": "MedicationRequest",
        "id": oid,
        "status": "completed",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": code, "display": name}],
            "text": name,
        },
        "subject": {"reference": f"Patient/{PID}"},
        "authoredOn": _iso(when),
        "dosageInstruction": [
            {
                "text": f"{name} {dose} {unit} by mouth twice a day",
                "timing": {
                    "repeat": {
                        "frequency": 2,
                        "period": 1,
                        "periodUnit": "d",
                        "boundsPeriod": {"start": _iso(when), "end": _iso(when + timedelta(7))},
                    }
                },
                "doseAndRate": [
                    {"doseQuantity": {"value": dose, "unit": unit, "system": UCUM, "code": unit}}
                ],
            }
        ],
    }


def _chart(now: datetime, days: int, scale: int, unfiltered: int) -> list[dict[str, Any]]:
    """The patient's resources over `days` days; `scale` repeats of labs, `unfiltered` others."""
    rng = random.Random(20261124)  # the same chart in every run
    signed = now - timedelta(minutes=30)
    start = now + timedelta(hours=2)
    cycle1_start = now - timedelta(days=42)
    resources: list[dict[str, Any]] = [
        patient(PID, gender="female", birth_date=_iso(now - timedelta(days=28 * 365 + 100))[:10])
    ]
    n_weights = max(10, scale * 30)
    for i in range(n_weights):
        when = now - timedelta(days=3 + i * days / n_weights)
        resources.append(
            weight(PID, round(64 + rng.uniform(-2, 2), 1), when=_iso(when), oid=f"wt-{i}")
        )
    for i in range(max(2, scale * 4)):
        when = now - timedelta(days=3 + i * days / max(2, scale * 4))
        resources.append(height(PID, 168, when=_iso(when), oid=f"ht-{i}"))
    n_labs = max(3, scale * 16)
    for i in range(n_labs):
        when = now - timedelta(days=2 + i * days / n_labs, hours=1)
        for code, display, unit, value in LABS[: 4 if scale == 0 else 5]:
            if scale == 0 and code == "2324-2" and i:
                continue
            value = round(value * rng.uniform(0.8, 1.2), 2)
            resources.append(_lab(f"lab-{code}-{i}", code, display, unit, value, when))
    n_tests = max(2, scale * 6)
    for i in range(n_tests):
        resources.append(_hcg(f"hcg-{i}", now - timedelta(days=2 + i * 28)))
    for i in range(max(1, scale * 2)):
        resources.append(_pregnancy_status(f"preg-{i}", now - timedelta(days=2 + i * 28)))
    for i in range(unfiltered):
        code, display, unit, value = OTHER_OBSERVATIONS[i % len(OTHER_OBSERVATIONS)]
        when = now - timedelta(days=1 + i * days / max(1, unfiltered))
        resources.append(_lab(f"obs-{code}-{i}", code, display, unit, value, when))
    n_shots = max(6, scale * 8)
    for i in range(n_shots):
        cvx, display = VACCINES[i % len(VACCINES)]
        when = now - timedelta(days=60 + i * days / n_shots)
        resources.append(_immunization(f"imm-{i}", cvx, display, when))
    # the earlier cycle: blinatumomab cycle 1 (9 then 28 mcg/day) and its premedication
    earlier = blinatumomab_order(
        PID,
        [Step(9, days=7), Step(28, days=21)],
        oid="blinatumomab-c1",
        cycle=1,
        start=_iso(cycle1_start),
        status="completed",
        authored=_iso(cycle1_start - timedelta(hours=2)),
    )
    premed = dexamethasone_order(PID, oid="dexamethasone-c1", when=_iso(cycle1_start))
    premed |= {"status": "completed", "authoredOn": _iso(cycle1_start - timedelta(hours=2))}
    resources += [earlier, premed]
    n_orders = max(10, scale * 36)
    for i in range(n_orders):
        when = now - timedelta(days=5 + i * days / n_orders)
        resources.append(_drug_order(f"med-{i}", OTHER_DRUGS[i % len(OTHER_DRUGS)], when))
    resources.append(
        condition(PID, "C91.02", "Acute lymphoblastic leukemia, in relapse", cid="cond-all")
    )
    for i in range(max(2, scale * 3)):
        resources.append(
            condition(
                PID,
                ("I10", "E78.5", "K21.9")[i % 3],
                ("Essential hypertension", "Hyperlipidemia", "Gastro-esophageal reflux")[i % 3],
                cid=f"cond-{i}",
                onset=_iso(now - timedelta(days=400 + i * 30))[:10],
            )
        )
    # today's draft orders: cycle 2, 28 mcg/day for 28 days, and its premedication
    cycle2 = blinatumomab_order(
        PID,
        [Step(28, days=28)],
        oid="blinatumomab-c2",
        cycle=2,
        start=_iso(start),
        authored=_iso(signed),
        bag_hours=48,
    )
    dex = dexamethasone_order(PID, oid="dexamethasone-c2", when=_iso(start - timedelta(hours=1)))
    dex["authoredOn"] = _iso(signed)
    return [*resources, cycle2, dex]


def _request(resources: list[dict[str, Any]]) -> dict[str, Any]:
    from cds.fhir.bundle import request_from_bundle

    bundle = {"resourceType": "Bundle", "entry": [{"resource": r} for r in resources]}
    request = request_from_bundle(bundle)
    for value in request["prefetch"].values():  # searchset answers, as an EHR sends them
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            value["total"] = len(value["entry"])
            for entry in value["entry"]:
                resource = entry["resource"]
                entry["fullUrl"] = (
                    f"https://ehr.example.org/fhir/{resource['resourceType']}/{resource['id']}"
                )
                entry["search"] = {"mode": "match"}
    return request


def typical(now: datetime | None = None) -> dict[str, Any]:
    return _request(_chart(now or datetime.now(UTC), days=120, scale=0, unfiltered=0))


def long(now: datetime | None = None) -> dict[str, Any]:
    return _request(_chart(now or datetime.now(UTC), days=5 * 365, scale=5, unfiltered=150))


def no_prefetch(fhir_server: str, now: datetime | None = None) -> dict[str, Any]:
    request = copy.deepcopy(typical(now))
    request.pop("prefetch")
    request["fhirServer"] = fhir_server
    request["fhirAuthorization"] = {
        "access_token": "bench-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "cds-bench",
    }
    return request


def prefetch_count(request: dict[str, Any]) -> int:
    """Resources in the prefetch (the patient counts as one)."""
    count = 0
    for value in (request.get("prefetch") or {}).values():
        if isinstance(value, dict):
            count += len(value.get("entry", [])) if value.get("resourceType") == "Bundle" else 1
    return count


def non_blinatumomab(now: datetime | None = None) -> dict[str, Any]:
    """The typical chart, but the order being signed is another drug (ondansetron): what most
    order-sign calls are when a hospital points the hook at every order."""
    request = copy.deepcopy(typical(now))
    when = now or datetime.now(UTC)
    order = _drug_order("ondansetron-draft", ("26225", "ondansetron", 8, "mg"), when)
    request["context"]["draftOrders"]["entry"] = [{"resource": order | {"status": "draft"}}]
    return request
