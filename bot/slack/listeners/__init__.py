"""Bolt listeners by kind, each group with a ``register(app, runtime)``: parse, call, render."""
