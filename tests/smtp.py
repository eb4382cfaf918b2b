"""A real SMTP server for tests: aiosmtpd on a free loopback port, keeping every message it accepts.

Mail reaches it through Django's SMTP backend (in this process, or in worker processes given
`sink.env()`), so a test sees what a mailbox would: headers, bodies, links.

    with SmtpSink() as sink:
        ...  # send mail with EMAIL_BACKEND = SMTP_EMAIL_BACKEND, EMAIL_PORT = sink.port
        sink.wait_for(1)
        [message] = sink.messages_to("ada@example.com")

`reject_next(code, text)` makes the server refuse the next N deliveries (e.g. 451 for a
transient failure), for retry tests. The server advertises PIPELINING (RFC 2920) unless
`pipelining=False`.
"""

import email
import email.policy
import socket
import threading
import time
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

SMTP_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Handler:
    def __init__(self, sink: "SmtpSink"):
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.sink.pipelining:
            # RFC 2920, as Mailpit and the big providers advertise it (aiosmtpd reads commands
            # in order anyway); a client that does not pipeline sees no difference.
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.sink.refused_recipients:
            return "550 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.sink.lock:
            if self.sink.rejections:
                code, text = self.sink.rejections.pop(0)
                return f"{code} {text}"
            message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
            self.sink.messages.append(message)
            self.sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class SmtpSink:
    def __init__(self, *, port: int | None = None, pipelining: bool = True):
        self.port = port or _free_port()
        self.pipelining = pipelining
        self.lock = threading.Lock()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.rejections: list[tuple[int, str]] = []
        # Addresses refused at RCPT TO (550), for every message.
        self.refused_recipients: set[str] = set()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> "SmtpSink":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> "SmtpSink":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def settings(self) -> dict:
        """Django settings that send through this server."""
        return {
            "EMAIL_BACKEND": SMTP_EMAIL_BACKEND,
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": self.port,
            "EMAIL_USE_TLS": False,
            "EMAIL_USE_SSL": False,
            "EMAIL_HOST_USER": "",
            "EMAIL_HOST_PASSWORD": "",
        }

    def env(self) -> dict[str, str]:
        """Environment variables for a worker or web process that sends through this server."""
        return {key: str(value) for key, value in self.settings().items()}

    def reject_next(self, count: int = 1, *, code: int = 451, text: str = "Try again later") -> None:
        with self.lock:
            self.rejections.extend([(code, text)] * count)

    def messages_to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if address in (m["To"] or "")]

    def count(self) -> int:
        with self.lock:
            return len(self.messages)

    def wait_for(self, count: int, *, timeout: float = 30.0) -> list[EmailMessage]:
        """Block until at least `count` messages arrived; fail the test (saying how many) if not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count() >= count:
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"SMTP server got {self.count()} message(s) within {timeout} s, expected {count}")
        with self.lock:
            return list(self.messages)


def text_of(message: EmailMessage) -> str:
    """The plain-text body of a message the sink received."""
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""
