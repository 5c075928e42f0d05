"""Test helpers shared by the integration suites (real servers, real PostgreSQL)."""
