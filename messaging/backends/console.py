"""Prints SMS and push messages to the worker's output: the development default."""

import sys
import threading

from messaging.backends import Accepted, Backend, Outgoing


class ConsoleBackend(Backend):
    _lock = threading.Lock()

    def send(self, message: Outgoing) -> Accepted:
        title = f" [{message.subject}]" if message.subject else ""
        with self._lock:
            stream = self.options.get("stream") or sys.stdout
            stream.write(f"{message.channel.upper()} → {message.to}{title}: {message.body}\n")
            stream.flush()
        return Accepted(provider_id=message.idempotency_key, response="console")
