"""Prefetch resolution (CDS Hooks 2.0 "Prefetch"): use what the EHR sent, fetch what it did not.

- key absent: fetch it from `fhirServer` (all missing keys concurrently, one overall deadline);
- key `null`: the EHR says there is no data; not re-fetched;
- an OperationOutcome (or a Bundle holding only one): an error, never data; re-fetched when we can;
- a paginated prefetch Bundle: its `next` pages are followed through `fhirServer`.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, TypeGuard
from urllib.parse import quote

from cds.fhir.client import FhirClient, FhirFetchError, next_link
from cds.fhir.parsing import entries_in
from cds.metrics import count_fhir_fetch


@dataclass(frozen=True)
class SourceData:
    """The resources of one prefetch key, or why they could not be had (`problem`)."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None
    origin: str = "prefetch"  # prefetch | null | fhirServer | none
    full_urls: dict[str, dict[str, Any]] = field(default_factory=dict)  # Bundle entry fullUrls
    # an error the EHR reported beside the data it did send (a search outcome): used, but maybe
    # not all there is
    incomplete: str | None = None

    @property
    def available(self) -> bool:
        return self.problem is None


# One pool of fetch threads per worker process, shared by its calls: starting a thread per key
# on every call cost 1-1.5 ms of CPU a call (docs/performance.md). A fetch's timeouts are cut to
# its call's time left, and a fetch still running at its call's deadline has its connection cut
# (cds.fhir.client), so a hung or trickling FHIR server holds a thread until that deadline and no
# longer; the pool fills only when that happens to many calls at once, and a fetch still queued at
# its call's deadline is cancelled and reported "too slow", like any late fetch.
FETCH_THREADS = 32
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _fetch_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=FETCH_THREADS, thread_name_prefix="fhir-fetch")
        return _pool


def _forget_pool() -> None:
    """A forked worker has none of its parent's threads: it starts its own pool."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)

_TOKEN = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # FHIR R4 `id` datatype


def render_template(template: str, context: Mapping[str, Any]) -> str | None:
    """Fill `{{context.x}}` tokens; None when a token has no value, or a value that is not a FHIR
    id (the query is then not run: a value from the request never changes the URL's path or
    query, e.g. `../../admin?x=`). Values are percent-encoded besides."""
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1)
        found = context.get(name.removeprefix("context.")) if name.startswith("context.") else None
        if isinstance(found, bool) or not isinstance(found, str | int):
            missing = True
            return ""
        text = str(found)
        if not FHIR_ID.fullmatch(text):
            missing = True
            return ""
        return quote(text, safe="")

    rendered = _TOKEN.sub(value, template)
    return None if missing else rendered


def _operation_outcome_text(value: dict[str, Any]) -> str:
    issues = value.get("issue") or []
    texts = [
        str(i.get("diagnostics") or (i.get("details") or {}).get("text") or i.get("code") or "")
        for i in issues
        if isinstance(i, dict)
    ]
    return "; ".join(t for t in texts if t) or "error"


def _outcome_problem(value: Any) -> str | None:
    """Why a prefetch value is an error rather than data, or None if it is data."""
    if not isinstance(value, dict):
        return "prefetch value is not a FHIR resource"
    if value.get("resourceType") == "OperationOutcome":
        return f"the EHR reported an error: {_operation_outcome_text(value)}"
    if value.get("resourceType") == "Bundle":
        entries = value.get("entry")
        if not isinstance(entries, list):  # no entries, or not an array of them: not an error
            return None
        resources = (e.get("resource") for e in entries if isinstance(e, dict))
        first = next(resources, None)
        # stops at the first resource that is not an error (a chart's first entry, at once)
        if _is_error(first) and all(_is_error(r) for r in resources):
            return f"the EHR reported an error: {_operation_outcome_text(first)}"
    return None


def _is_error(resource: Any) -> TypeGuard[dict[str, Any]]:
    return (
        isinstance(resource, dict)
        and resource.get("resourceType") == "OperationOutcome"
        and any(
            isinstance(i, dict) and i.get("severity") in ("error", "fatal")
            for i in resource.get("issue") or []
        )
    )


def _data(value: Any, origin: str = "prefetch") -> SourceData:
    """The resources of a prefetch value or fetched Bundle, with their entries' fullUrls, and
    the error an OperationOutcome among them reports (search outcomes included)."""
    entries = entries_in(value)
    errors = [r for r in _outcomes(value) if _is_error(r)]
    return SourceData(
        [r for _, r in entries if r.get("resourceType") != "OperationOutcome"],
        origin=origin,
        full_urls={url: resource for url, resource in entries if url},
        incomplete=_operation_outcome_text(errors[0]) if errors else None,
    )


def _outcomes(value: Any) -> list[Any]:
    """The OperationOutcomes among a Bundle's entries (search outcomes, nested Bundles too)."""
    if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
        return []
    found: list[Any] = []
    entries = value.get("entry")
    for entry in entries if isinstance(entries, list) else []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        if kind == "OperationOutcome":
            found.append(resource)
        elif kind == "Bundle":
            found.extend(_outcomes(resource))
    return found


def resolve_prefetch(
    templates: Mapping[str, str],
    prefetch: Mapping[str, Any] | None,
    context: Mapping[str, Any],
    client_factory: Callable[[], FhirClient | None],
    deadline_seconds: float,
    optional: frozenset[str] = frozenset(),
) -> dict[str, SourceData]:
    """The data behind every prefetch key, fetched where the EHR did not send it. An `optional`
    key left out of a prefetch the EHR did send is no data (not fetched); without any prefetch it
    is fetched like the others."""
    sent = prefetch or {}
    resolved: dict[str, SourceData] = {}
    to_fetch: dict[str, str] = {}
    earlier_problem: dict[str, str] = {}
    paginated: dict[str, Any] = {}
    for key, template in templates.items():
        if key in optional and key not in sent and sent:
            resolved[key] = SourceData(origin="null")
            continue
        if key in sent and sent[key] is None:
            resolved[key] = SourceData(origin="null")
            continue
        if key in sent:
            problem = _outcome_problem(sent[key])
            if problem is None and next_link(sent[key]) is None:
                resolved[key] = _data(sent[key])
                continue
            if problem is None:
                paginated[key] = sent[key]
                continue
            earlier_problem[key] = problem
        query = render_template(template, context)
        if query is None and "{{context.patientId}}" not in template:
            continue  # e.g. no encounter in context: no data, and nothing to say about it
        if query is None:
            resolved[key] = SourceData(
                problem="the query needs context the EHR did not send (or sent as something that "
                "is not a FHIR id)",
                origin="none",
            )
        else:
            to_fetch[key] = query

    if not to_fetch and not paginated:
        return resolved
    client = client_factory()
    if client is None:
        for _ in range(len(to_fetch) + len(paginated)):
            count_fhir_fetch("no_server")
        for key in to_fetch:
            reason = earlier_problem.get(key, "not prefetched")
            resolved[key] = SourceData(
                problem=f"{reason}, and no fhirServer to fetch it from", origin="none"
            )
        for key in paginated:
            resolved[key] = SourceData(
                problem="prefetch was paginated and no fhirServer to read the other pages",
                origin="none",
            )
        return resolved

    deadline = time.monotonic() + deadline_seconds
    jobs: dict[str, Callable[[], Any]] = {
        key: _fetch(client, query, deadline) for key, query in to_fetch.items()
    }
    jobs.update({key: _more_pages(client, bundle, deadline) for key, bundle in paginated.items()})
    pool = _fetch_pool()
    futures = {key: pool.submit(job) for key, job in jobs.items()}
    try:
        wait(futures.values(), timeout=max(0.0, deadline - time.monotonic()) + 0.05)
        for key, future in futures.items():
            if not future.done():
                count_fhir_fetch("deadline")
                resolved[key] = SourceData(
                    problem="FHIR server too slow (deadline passed)", origin="fhirServer"
                )
                continue
            error = future.exception()
            if error is not None:
                count_fhir_fetch("error")
                text = (
                    str(error)
                    if isinstance(error, FhirFetchError)
                    else f"fetch failed ({type(error).__name__})"
                )
                resolved[key] = SourceData(problem=text, origin="fhirServer")
                continue
            value = future.result()
            problem = _outcome_problem(value)
            count_fhir_fetch("operation_outcome" if problem else "ok")
            resolved[key] = (
                SourceData(problem=problem, origin="fhirServer")
                if problem
                else _data(value, "fhirServer")
            )
    finally:
        for future in futures.values():
            future.cancel()  # those still queued; a running one is cut at the deadline
        client.close()
    return resolved


def _fetch(client: FhirClient, query: str, deadline: float) -> Callable[[], Any]:
    return lambda: client.get(query, deadline)


def _more_pages(client: FhirClient, bundle: dict[str, Any], deadline: float) -> Callable[[], Any]:
    """Follow a paginated prefetch Bundle's `next` links and join the pages."""

    def run() -> Any:
        next_url = next_link(bundle)
        assert next_url is not None
        if not client.below_base(next_url):
            raise FhirFetchError("prefetch `next` link points outside fhirServer")
        rest = client.get_url(next_url, deadline)
        return {**bundle, "entry": (bundle.get("entry") or []) + (rest.get("entry") or [])}

    return run
