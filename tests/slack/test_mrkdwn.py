"""User text reaches Slack as text: no pings, no disguised links."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.slack import mrkdwn as md


class TestEscape:
    def test_channel_ping_is_neutralised(self) -> None:
        """<!channel> and <!here> arrive as literal text."""
        assert md.escape("hi <!channel> <!here>") == "hi &lt;!channel&gt; &lt;!here&gt;"

    def test_fake_link_is_neutralised(self) -> None:
        """<http://evil|bank> cannot render as a link labelled 'bank'."""
        assert "<" not in md.escape("<http://evil.example|bank>")

    def test_ampersand_first(self) -> None:
        """Ampersands are escaped once, so '&lt;' typed by a user shows as typed."""
        assert md.escape("a & &lt;") == "a &amp; &amp;lt;"

    def test_code_span_cannot_break_out(self) -> None:
        """Backticks inside a code span are replaced, so it cannot be closed early."""
        assert md.code("x`<!channel>`") == "`x'&lt;!channel&gt;'`"

    def test_mentions_only_for_ids(self) -> None:
        """Only a real id becomes a mention; anything else is escaped text."""
        assert md.user("U0ALICE") == "<@U0ALICE>"
        assert md.user("U1> <!channel") == "U1&gt; &lt;!channel"

    def test_date_has_a_utc_fallback(self) -> None:
        """Dates render in the reader's zone with a UTC fallback."""
        text = md.date(datetime(2026, 1, 2, 3, 4, tzinfo=UTC))
        assert text.startswith("<!date^") and text.endswith("|2026-01-02 03:04 UTC>")
