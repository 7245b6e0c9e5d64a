"""The request life-cycle and its policy, free of Slack: the listeners call it, then render."""
