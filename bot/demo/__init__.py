"""The demo harness (rig, Slack stand-in, provider sandboxes); product modules never import it."""
