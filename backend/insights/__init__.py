"""Insights (docs/insights.md): when to send, who reads and who replies, follow-up reminders.

`besttime` and `engagement` are pure; `reminders` fires due reminders; `gmail` finds replies
through the Gmail API; `api` is the blueprint (routes under /api/v1 and /cron/reminders).
"""
