"""The benchmark's own tests (its fake FHIR server, its report of how gunicorn spread the load):
they keep the measurements honest, apart from the product's tests under tests/."""
