"""The overnight refresh (DESIGN.md, "Runs everywhere"): when each connection refreshes, and the one process that
decides it.

timing.py: a schedule as local times in the workspace's timezone, and the APScheduler trigger over it.
policy.py: what a scheduled moment does (the play button's path, or a logged skip) and the failure policy.
service.py: APScheduler 3 with its job store in the application database, behind a database lock so that
exactly one process schedules.
keepalive.py: grants renewed before they lapse unused or a scheduled night needs them; admins told when one fails.
"""
