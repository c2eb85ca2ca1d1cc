"""Alembic migrations of the read model (run them with `read_model.migrate(url)`)."""
