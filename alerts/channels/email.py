"""Channel `email`: SMTP (STARTTLS when configured), a text and an HTML part."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from alerts.channels.base import ChannelBase
from alerts.channels.http import scrub
from alerts.digest import Outgoing
from alerts.errors import ChannelConfigError, DeliveryError
from alerts.markup import escape_subject, truncate_chars

__all__ = ["EmailChannel"]


class EmailChannel(ChannelBase):
    uses_http = False

    def build(self, message: Outgoing) -> EmailMessage:
        """The MIME message: headers carry no CR/LF from data, whatever the templates say."""
        config = self.config
        if not config.host or not config.sender or not config.to:
            raise ChannelConfigError(f"channels.{self.name}: type email needs host, sender and to")
        subject = self.renderer.render("subject", message, locale=self.locale)
        mail = EmailMessage(policy=SMTP)
        mail["Subject"] = truncate_chars(escape_subject(subject), 200)
        mail["From"] = escape_subject(config.sender)
        mail["To"] = ", ".join(escape_subject(a) for a in config.to)
        mail["Date"] = formatdate(usegmt=True)
        domain = config.sender.rpartition("@")[2] or "shoppulse.local"
        # the same Message-ID on every attempt lets mail systems drop a duplicate
        mail["Message-ID"] = f"<{message.delivery_id}@{escape_subject(domain)}>"
        mail["X-Idempotency-Key"] = message.delivery_id
        # keep vacation responders and ticket systems from answering alert mail
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(self.renderer.render("text", message, locale=self.locale))
        mail.add_alternative(
            self.renderer.render("html", message, locale=self.locale), subtype="html"
        )
        return mail

    def send(self, message: Outgoing) -> None:
        config = self.config
        mail = self.build(message)
        port = config.port or (587 if config.starttls else 25)
        where = f"{self.name}: SMTP {config.host}:{port}"
        password = config.password.get_secret_value() if config.password else None
        try:
            with smtplib.SMTP(config.host or "", port, timeout=config.timeout_seconds) as smtp:
                if config.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if config.username:
                    smtp.login(config.username, password or "")
                smtp.send_message(mail)
        except (smtplib.SMTPException, OSError) as exc:
            detail = scrub(str(exc), [password]) or type(exc).__name__
            raise DeliveryError(f"{where} failed: {detail}", channel=self.name) from None
