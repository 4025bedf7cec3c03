"""Sync integration tests: a real emulator over HTTPS (``emulator``) and a store on SQLite or
PostgreSQL (``store``); both, with the config helpers, come from ``tests/prmfixtures.py``."""
