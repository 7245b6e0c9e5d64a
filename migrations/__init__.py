"""Alembic migrations of the store; bot.store.migrate runs them (no alembic.ini needed)."""
