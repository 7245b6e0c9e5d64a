"""Bolt listeners by kind, each group with a ``register(app, deps)``: parse, call, render."""
