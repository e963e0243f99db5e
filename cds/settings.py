"""One settings object for the whole service, read from `CDS_*` environment variables.

Every setting has a documented default so that `python -m cds serve --dev` runs with nothing set.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
