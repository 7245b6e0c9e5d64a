"""The serve tests' fixtures (a Slack stand-in, a sandbox, the environment for `resetbot serve`)
for every end-to-end module."""

from __future__ import annotations

from tests.e2e.test_serve import env, sandbox, standin

__all__ = ["env", "sandbox", "standin"]
