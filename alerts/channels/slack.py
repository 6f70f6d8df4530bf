"""Channel `slack`: a Slack incoming webhook with mrkdwn text."""

from __future__ import annotations

from alerts.channels.base import ChannelBase
from alerts.channels.http import post_json
from alerts.digest import Outgoing

__all__ = ["SLACK_TEXT_LIMIT", "SlackChannel"]

# Slack truncates a message's text after 40,000 characters
SLACK_TEXT_LIMIT = 40_000


class SlackChannel(ChannelBase):
    # incoming webhooks take about one message a second
    rate_limit_seconds = 1.0

    def send(self, message: Outgoing) -> None:
        text = self.renderer.fit(
            "slack", message, locale=self.locale, limit=SLACK_TEXT_LIMIT, measure=len
        )
        # incoming webhooks take no extra fields: the idempotency key travels in the header
        # and in the text's footer; `text` stays as the notification's fallback
        body: dict[str, object] = {"text": text, "unfurl_links": False}
        blocks = _blocks(text)
        if blocks:
            body["blocks"] = blocks
        post_json(
            self.http,
            channel=self.name,
            url=self._url(),
            body=body,
            delivery_id=message.delivery_id,
            timeout=self.config.timeout_seconds,
        )


def _blocks(text: str) -> list[dict[str, object]]:
    """Section blocks of at most 3,000 characters (Slack's limit), split on lines; at most 50."""
    chunks: list[str] = []
    current = ""
    for line in text.splitlines():
        while len(line) > 3000:
            chunks.append(line[:3000])
            line = line[3000:]
        if len(current) + len(line) + 1 > 3000:
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current.strip():
        chunks.append(current)
    chunks = [c for c in chunks if c.strip()]
    if len(chunks) > 50:
        return []
    return [{"type": "section", "text": {"type": "mrkdwn", "text": c}} for c in chunks]
