"""shoppulse's flows; importing them keeps secrets in request URLs out of the logs."""

from flows import redaction

redaction.install()
