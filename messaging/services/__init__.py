"""Business writes on messages: queue, deliver, resend; consent withdrawn by members;
NPS surveys. One function per write."""

from messaging.services.consent import sms_stop_receive, unsubscribe
from messaging.services.delivery import (
    DeliveryStats,
    message_resend,
    messages_deliver,
    messages_due,
    messages_recover,
    messages_resend,
)
from messaging.services.devices import push_device_register, push_device_remove
from messaging.services.outbox import message_queue, messages_queue_for
from messaging.services.receipts import purchase_receipt_queue
from messaging.services.surveys import survey_answer, survey_from_token, surveys_queue_due

__all__ = [
    "DeliveryStats",
    "message_queue",
    "message_resend",
    "messages_deliver",
    "messages_due",
    "messages_queue_for",
    "messages_recover",
    "messages_resend",
    "purchase_receipt_queue",
    "push_device_register",
    "push_device_remove",
    "sms_stop_receive",
    "survey_answer",
    "survey_from_token",
    "surveys_queue_due",
    "unsubscribe",
]
