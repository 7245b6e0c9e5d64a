"""What the Slack layer is handed by the composition root: listeners and jobs name their needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient

from bot.domain.catalog import Catalog
from bot.domain.confirmations import Confirmations
from bot.domain.decisions import Decisions
from bot.domain.filing import Filing
from bot.domain.queries import Queries
from bot.domain.roles import RoleAdmin
from bot.domain.workflow import Workflow
from bot.slack.notifier import SlackNotifier

# ``submit(job_function, *plain_args)``: run it in the background once the current request's
# ack has been written. Under ``resetbot serve`` the job travels to the worker process, so the
# function must be module-level and its arguments plain data.
Submit = Callable[..., None]


@dataclass(frozen=True)
class ListenerDeps:
    """What the web process's listeners use before they ack: no provider call, no write."""

    catalog: Catalog
    filing: Filing  # the checks an ack can answer (``validate``)
    decisions: Decisions  # may this person decide (a read), a denial's reason
    client: WebClient  # short time-out, no retries: ``views.open`` on a 3 s trigger
    submit: Submit


@dataclass(frozen=True)
class JobDeps:
    """What background jobs use, in whichever process runs them."""

    catalog: Catalog
    filing: Filing
    decisions: Decisions
    queries: Queries
    role_admin: RoleAdmin
    confirmations: Confirmations
    workflow: Workflow
    notifier: SlackNotifier
    client: WebClient
    submit: Submit
