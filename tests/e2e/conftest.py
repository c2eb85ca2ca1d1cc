"""The end-to-end tests run the real processes through `cqrs_es.testing` (see its fixtures)."""

from cqrs_es.testing.fixtures import (  # noqa: F401 (fixtures and a hook, found by name)
    harness,
    postgres_backend,
    pytest_runtest_makereport,
    sqlite_backend,
)
