"""The duty desk (``earlywarn desk``): an HTTP API and a Chinese staff console over the alerts.

Modules, one concept each: ``settings`` (the frozen configuration), ``store`` (alert
state and timelines in Redis, rebuilt from the alerts topic), ``consumer`` (the Kafka
consumer feeding the store), ``auth`` (users, tokens, sessions, roles), ``audit`` (who
wrote what), ``actions`` (acknowledge, assign, comment, silence, verdicts, inspection
tasks), ``web`` (security headers, CSRF, the request dependencies), ``routers/`` (one
router per resource), ``console`` (the HTML pages), ``metrics`` and ``app`` (the wiring).
"""
