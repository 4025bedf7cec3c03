"""Alembic migrations of the store (env.py, versions/)."""
