"""Alerts: findings rendered as OCSF Detection Findings, suppressed by rules, routed and delivered.

Pure rendering, lifecycle and suppression live here; delivery transports are the deliver_*
modules; reading the store is store/alerts.py and reading Kafka is transport/findings_feed.py.
"""
