"""Admin of messages (Unfold): templates with preview and test send, the outbox with
"send again" and delivery by day, NPS surveys, push devices."""

from messaging.admin import message_templates, outbox, surveys

__all__ = ["message_templates", "outbox", "surveys"]
