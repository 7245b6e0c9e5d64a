"""The Slack surface: listeners (thin), Block Kit views and messages, and Slack side effects."""
