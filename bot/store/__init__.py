"""The SQL store: models, engine and session handling, compare-and-set transitions."""
