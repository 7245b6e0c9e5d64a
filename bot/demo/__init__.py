"""``resetbot demo``: the whole flow on one machine, no Slack workspace or provider account needed.

``session`` starts ``bot.rig`` and plays ``scenes``, ``report`` prints what happened, ``control``
keeps a running demo reachable. ``startup`` (port check, progress) and ``client`` (how ``resetbot
demo say|click`` find and reach it) are light on purpose: they run before, or instead of,
loading the bot.
"""
