"""FHIR input: prefetch resolution, fallback fetches, tolerant parsing and patient facts."""
