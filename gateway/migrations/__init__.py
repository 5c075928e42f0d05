"""Alembic migrations of the gateway's schema; `Database.migrate()` runs them at start-up."""
