"""`GET /openapi.json`: an OpenAPI 3.1 description of this service's own routes.

The request and card schemas are generated from the wire models in `cds.hooks`, so the document
cannot drift from what the service accepts and answers; integrators and the schemathesis test in
the suite read the same document.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Blueprint, Response
from pydantic import BaseModel

from cds.hooks import CONTEXT_MODELS, FeedbackRequest, HookRequest, HookResponse
from cds.services import SERVICES

blueprint = Blueprint("openapi", __name__)

_REF = "#/components/schemas/{model}"

_OPERATION_OUTCOME: dict[str, Any] = {
    "type": "object",
    "description": "FHIR R4 OperationOutcome saying what was wrong",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"enum": ["fatal", "error", "warning", "information"]},
                    "code": {"type": "string"},
                    "diagnostics": {"type": "string"},
                },
            },
        },
    },
}

_DISCOVERY: dict[str, Any] = {
    "type": "object",
    "required": ["services"],
    "properties": {
        "services": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["hook", "id", "description"],
                "properties": {
                    "hook": {"type": "string"},
                    "id": {"type": "string"},
                    "title": {"type": "string"},
                    "description": {"type": "string"},
                    "prefetch": {"type": "object", "additionalProperties": {"type": "string"}},
                    "usageRequirements": {"type": "string"},
                },
            },
        }
    },
}

_FEEDBACK_RECEIPT: dict[str, Any] = {
    "type": "object",
    "required": ["received", "items"],
    "properties": {
        "received": {"type": "integer", "minimum": 1},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["card", "duplicate", "knownCard"],
                "properties": {
                    "card": {"type": "string"},
                    "duplicate": {"type": "boolean"},
                    "knownCard": {"type": "boolean"},
                },
            },
        },
    },
}


def _schemas(*models: type[BaseModel], mode: str) -> dict[str, Any]:
    """Each model's JSON Schema with its nested models moved to components/schemas."""
    found: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=_REF, mode=mode)  # type: ignore[arg-type]
        found.update(schema.pop("$defs", {}))
        found[model.__name__] = schema
    return found


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": _REF.format(model="OperationOutcome")}}
        },
    }


def _json(model: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=model)}}},
    }


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _service_paths(service_id: str, hook: str, common_errors: dict[str, Any]) -> dict[str, Any]:
    """The call and feedback routes of one service; its request names its hook and context."""
    context = CONTEXT_MODELS[hook].__name__
    request = {
        "allOf": [
            {"$ref": _REF.format(model="HookRequest")},
            {
                "properties": {
                    "hook": {"const": hook},
                    "context": {"$ref": _REF.format(model=context)},
                }
            },
        ]
    }
    return {
        f"/cds-services/{service_id}": {
            "post": {
                "operationId": f"call-{service_id}",
                "summary": f"Call {service_id} with an {hook} request",
                "security": [{"ehrJwt": []}],
                "requestBody": _body(request),
                "responses": {
                    "200": _json("HookResponse", "cards (possibly none)"),
                    **common_errors,
                    "412": _error("no chart data could be had for any check"),
                },
            }
        },
        f"/cds-services/{service_id}/feedback": {
            "post": {
                "operationId": f"feedback-{service_id}",
                "summary": "Report what the clinician did with the cards",
                "security": [{"ehrJwt": []}],
                "requestBody": _body({"$ref": _REF.format(model="FeedbackRequest")}),
                "responses": {
                    "200": _json("FeedbackReceipt", "stored (committed before the answer)"),
                    **common_errors,
                    "503": _error("the feedback store is unavailable; retry"),
                },
            }
        },
    }


def _version() -> str:
    try:
        return version("blinatumomab-cds")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


@cache
def document() -> dict[str, Any]:
    """The OpenAPI document; the JWT requirement is declared on the service and feedback calls."""
    contexts = set(CONTEXT_MODELS.values())
    schemas = _schemas(HookRequest, FeedbackRequest, *contexts, mode="validation")
    schemas |= _schemas(HookResponse, mode="serialization")
    schemas |= {
        "OperationOutcome": _OPERATION_OUTCOME,
        "Discovery": _DISCOVERY,
        "FeedbackReceipt": _FEEDBACK_RECEIPT,
    }
    common_errors = {
        "400": _error("the body is not a valid request (the OperationOutcome says why)"),
        "401": {"description": "the EHR's JWT is missing or invalid (no body, by design)"},
        "413": _error("over a limit: CDS_MAX_BODY_BYTES or CDS_MAX_DRAFT_ORDERS"),
        "415": _error("the body is not application/json"),
    }
    paths: dict[str, Any] = {
        "/cds-services": {
            "get": {
                "operationId": "discovery",
                "summary": "CDS Hooks discovery",
                "responses": {
                    "200": _json("Discovery", "the services and their prefetch templates"),
                    "401": common_errors["401"],
                },
            }
        }
    }
    for service_id, service in SERVICES.items():
        paths |= _service_paths(service_id, service.hook, common_errors)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Blinatumomab CDS Hooks service",
            "version": _version(),
            "description": "CDS Hooks 2.0 services checking blinatumomab orders.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "ehrJwt": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "a JWT signed by a trusted EHR issuer (CDS Hooks 2.0 security)",
                }
            },
        },
    }


@blueprint.get("/openapi.json")
def get_openapi() -> Response:
    from cds.web.bodies import json_response

    return json_response(document())
