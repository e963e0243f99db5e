"""One settings object for the whole service, read from `CDS_*` environment variables.

Every setting has a documented default so that `python -m cds serve --dev` runs with nothing set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
SANDBOX_JWKS = str(Path(__file__).parent / "web" / "cds-hooks-sandbox-jwks.json")


def _default_database_url() -> str:
    return f"sqlite:///{Path.cwd() / 'instance' / 'cds.sqlite3'}"


class Settings(BaseSettings):
    """Service configuration; see the README's configuration table for each field."""

    model_config = SettingsConfigDict(env_prefix="CDS_", extra="ignore", frozen=True)

    dev_mode: bool = Field(
        default=False,
        description="Open development mode: callers are NOT authenticated and any fhirServer "
        "(plain http, loopback) may be fetched. Set by `serve --dev`.",
    )
    database_url: str = Field(
        default_factory=_default_database_url,
        description="SQLAlchemy URL of the feedback store (SQLite file by default, "
        "postgresql+psycopg://... in production).",
    )
    max_body_bytes: int = Field(
        default=5_000_000, description="Largest request body accepted (413 above)."
    )
    max_draft_orders: int = Field(default=200, description="Most draft orders in one request.")
    fhir_connect_timeout: float = Field(
        default=0.5, description="Seconds to connect to fhirServer."
    )
    fhir_read_timeout: float = Field(default=1.5, description="Seconds to wait for a FHIR answer.")
    fhir_deadline: float = Field(
        default=2.0, description="Overall seconds for all FHIR fallback fetches of one request."
    )
    fhir_retries: int = Field(
        default=1, description="Retries of an idempotent FHIR GET on 5xx/reset."
    )
    fhir_max_response_bytes: int = Field(
        default=20_000_000,
        description="Largest FHIR response read (larger is treated as a failure).",
    )
    fhir_max_pages: int = Field(default=20, description="Most `next` pages followed per search.")
    log_level: str = Field(default="INFO", description="Python logging level.")

    trusted_issuers: dict[str, Any] = Field(
        default_factory=dict,
        description="JSON object: EHR issuer -> JWKS URL or file path "
        '(or {"jwks": ..., "jku": [...]}).',
    )
    trust_cds_hooks_sandbox: bool = Field(
        default=False,
        description="Trust the public CDS Hooks sandbox (its JWKS ships with the service). Its "
        "private key is PUBLISHED: anyone can then call the service. Testing only.",
    )
    public_base_url: str | None = Field(
        default=None,
        description="External base URL (behind a reverse proxy) that each JWT `aud` must match; "
        "required outside --dev (the Host header is never trusted for `aud`).",
    )
    auth_discovery: bool = Field(default=False, description="Require a JWT on discovery too.")
    jwt_leeway_seconds: int = Field(default=30, description="Clock skew allowed on exp/iat.")
    jwks_retry_after_failure_seconds: float = Field(
        default=5.0,
        ge=0,
        description="While an issuer has no keys yet, how soon a failed JWKS fetch is retried.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated browser origins allowed (or *)."
    )
    allowed_fhir_servers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated URL prefixes of fhirServers that may be fetched outside "
        "--dev, at any address (list an internal FHIR server here). Unset: any https server that "
        "resolves to public addresses only; nothing while the public sandbox is trusted.",
    )

    snapshot_cache_entries: int = Field(
        default=16,
        ge=0,
        description="Patient snapshots each worker keeps, keyed by the chart's content (a chart "
        "sent again with other draft orders is not read again; only blinatumomab orders read a "
        "chart). About 0.1 MB per typical chart, 2 MB per chart of 1,000 resources; a chart of "
        "more than 2,000 resources is not kept. 0: off.",
    )
    answer_memo_entries: int = Field(
        default=64,
        ge=0,
        description="Answered calls each worker keeps for CDS_ANSWER_MEMO_SECONDS, keyed by "
        "their whole content but hookInstance and fhirAuthorization (the same call sent again "
        "gets the same cards again, with new uuids). Calls that asked the FHIR server are not "
        "kept, nor answers of more than 40 cards. About 10-15 KB each. 0: off.",
    )
    answer_memo_seconds: float = Field(
        default=30,
        ge=0,
        description="How long an answered call is kept (CDS_ANSWER_MEMO_ENTRIES). The checks' "
        "windows are hours and days; 0: off.",
    )
    metrics: bool = Field(
        default=True,
        description="Serve Prometheus metrics at GET /metrics (no JWT, no patient data) and count "
        "every request for them.",
    )
    sandbox_page: bool | None = Field(
        default=None,
        description="Serve the pharmacist's sandbox page at /sandbox (unauthenticated: it shows "
        "sample charts and calls the service from the browser). Default: on with --dev only.",
    )

    @field_validator("cors_origins", "allowed_fhir_servers", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    def sandbox_page_enabled(self) -> bool:
        """CDS_SANDBOX_PAGE when set, else on exactly in open development mode."""
        return self.dev_mode if self.sandbox_page is None else self.sandbox_page

    def issuers(self) -> dict[str, Any]:
        """The allow-listed issuers, the public sandbox included when trusted."""
        issuers = dict(self.trusted_issuers)
        if self.trust_cds_hooks_sandbox:
            issuers.setdefault(SANDBOX_ISSUER, SANDBOX_JWKS)
        return issuers
