"""What `/reset-password <text>` means, and what people are told when it means nothing."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack.parsing import (
    Cancel,
    FileRequest,
    Help,
    OpenForm,
    ParseError,
    Pending,
    Providers,
    RolesChange,
    RolesList,
    Status,
    parse,
    words,
)
from bot.store.models import Role

PROVIDERS = {"community": ["reset"], "gateway": ["reset", "allow", "revoke"]}


class TestFiling:
    def test_no_text_opens_the_form(self) -> None:
        """An empty command opens the request modal."""
        assert parse("   ", PROVIDERS) == OpenForm()

    def test_provider_user_reason(self) -> None:
        """Provider, user and a free-text reason file a request with the default action."""
        assert parse("community ann@x.com locked out after SSO change", PROVIDERS) == FileRequest(
            "community", None, "ann@x.com", "locked out after SSO change"
        )

    def test_action_word_after_provider(self) -> None:
        """An action word right after a multi-action provider selects that action."""
        assert parse('gateway allow tom@x.com "new team lead"', PROVIDERS) == FileRequest(
            "gateway", "allow", "tom@x.com", "new team lead"
        )

    def test_provider_is_case_insensitive_and_spaces_collapse(self) -> None:
        """Extra spaces and capitals in the provider name are forgiven."""
        assert parse("  Community   ann@x.com   needs   access ", PROVIDERS) == FileRequest(
            "community", None, "ann@x.com", "needs access"
        )

    def test_slack_escaped_mailto_is_unwrapped(self) -> None:
        """Slack's <mailto:…|…> escaping of an e-mail gives back the plain address."""
        cmd = parse("community <mailto:ann@x.com|ann@x.com> locked out", PROVIDERS)
        assert isinstance(cmd, FileRequest) and cmd.user == "ann@x.com"

    def test_unbalanced_quote_still_parses(self) -> None:
        """A stray quote in the reason does not make the command unusable."""
        cmd = parse('community ann@x.com she said "help', PROVIDERS)
        assert isinstance(cmd, FileRequest) and cmd.user == "ann@x.com"

    def test_an_action_word_the_instance_lacks_is_still_the_action(self) -> None:
        """The service names the actions on offer; the word is never taken for the user."""
        assert parse("community allow ann@x.com new lead", PROVIDERS) == FileRequest(
            "community", "allow", "ann@x.com", "new lead"
        )

    def test_slack_entities_are_undone(self) -> None:
        """Slack sends typed & < > as entities; the reason keeps what the person typed."""
        assert parse("community ann@x.com a &lt;b&gt; &amp;amp; <!channel>", PROVIDERS) == (
            FileRequest("community", None, "ann@x.com", "a <b> &amp; <!channel>")
        )

    def test_missing_reason_says_so(self) -> None:
        """Leaving out the reason is answered with the usage for that provider."""
        with pytest.raises(ParseError, match="reason"):
            parse("gateway allow tom@x.com", PROVIDERS)

    def test_missing_user_says_so(self) -> None:
        """A provider alone asks whose password to reset."""
        with pytest.raises(ParseError, match="whose password"):
            parse("community", PROVIDERS)


class TestSubcommands:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("help", Help()),
            ("status", Status(None)),
            ("status RABC2345", Status("RABC2345")),
            ("cancel RABC2345", Cancel("RABC2345")),
            ("pending", Pending()),
            ("providers", Providers()),
            ("roles list", RolesList(None)),
            ("roles list <@U0BOB|bob>", RolesList("U0BOB")),
            (
                "roles grant <@U0BOB|bob> approver gateway",
                RolesChange(True, "U0BOB", Role.APPROVER, "gateway"),
            ),
            ("roles revoke U0BOB requester", RolesChange(False, "U0BOB", Role.REQUESTER, None)),
        ],
    )
    def test_subcommand(self, text: str, expected: object) -> None:
        """Each subcommand parses to its typed command."""
        assert parse(text, PROVIDERS) == expected

    def test_unknown_word_gets_help(self) -> None:
        """An unknown first word answers with help naming the word."""
        assert parse("bogus ann@x.com x", PROVIDERS) == Help(unknown="bogus")

    @pytest.mark.parametrize(
        "text",
        [
            "cancel",
            "status a b",
            "roles",
            "roles grant @bob approver",
            "roles grant <@U0BOB> wizard",
            "roles grant <@U0BOB> approver nowhere",
        ],
    )
    def test_malformed_subcommand_explains(self, text: str) -> None:
        """A malformed subcommand raises a message that says what to type."""
        with pytest.raises(ParseError):
            parse(text, PROVIDERS)


class TestWords:
    @given(st.text(alphabet=st.sampled_from(list("ab@. \t\r\n\u00a0\x0b-_é\"'\\")), max_size=40))
    @settings(max_examples=300, deadline=None)
    def test_words_are_what_shlex_reads(self, text: str) -> None:
        """Quotes honoured, and whitespace exactly as shlex has it (the fast path included)."""
        text_ = text.strip()
        try:
            expected = shlex.split(text_)
        except ValueError:  # an unclosed quote: plain words instead
            expected = text_.split()
        assert words(text) == expected
