"""``resetbot demo``: the whole flow on one machine, no Slack workspace or provider account needed.

``session`` starts ``bot.rig`` and plays ``scenes``, ``report`` prints what happened, ``control``
keeps a running demo reachable, and ``client`` is how ``resetbot demo say|click`` reach it
(light on purpose: those commands must not start, or even import, the bot).
"""
