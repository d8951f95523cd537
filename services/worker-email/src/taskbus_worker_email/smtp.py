"""A reused SMTP session, and SMTP failures sorted into what the batch should do about them."""

from email.message import EmailMessage
from types import TracebackType

import aiosmtplib

from taskbus_worker_email.settings import EmailWorkerSettings


def readable(text: str) -> str:
    """``text`` as valid Unicode, to go into events and results.

    aiosmtplib keeps the bytes of a reply that is not UTF-8 (``550 Empf\\xe4nger unbekannt``
    from a Latin-1 server) as lone surrogates, which an event's UTF-8 JSON cannot hold (the
    result failed to serialize, the batch for good): here they become ``\\xe4``, so the reply
    stays legible and says which byte it was.
    """
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that stands for no byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


class DeliveryError(Exception):
    """A message could not be handed over to the SMTP server; its text is the server's reply
    or the local reason, made ``readable``."""

    def __init__(self, message: str) -> None:
        super().__init__(readable(message))


class Rejected(DeliveryError):
    """The server refused this message for good (5xx): trying again cannot help."""


class Deferred(DeliveryError):
    """A passing failure (4xx, connection lost or refused): the message may go through later."""

    def __init__(self, message: str, *, unreachable: bool) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class Misconfigured(DeliveryError):
    """The server refuses every message from us: sender, login or TLS setup is wrong."""


def _response(code: int, text: str) -> str:
    return f"{code} {text}".strip()


def _by_code(code: int, text: str) -> DeliveryError:
    if code >= 500:
        return Rejected(_response(code, text))
    # 421: the server is shutting the session down, a fault of the server, not of this message.
    return Deferred(_response(code, text), unreachable=code == 421)


class Mailer:
    """One SMTP connection reused across a batch, opened lazily and reopened after a drop.

    Use as an async context manager: a clean exit says QUIT, an exception or a cancellation
    just closes the socket so that stopping never waits on the server.
    """

    def __init__(self, settings: EmailWorkerSettings) -> None:
        self._settings = settings
        self._client: aiosmtplib.SMTP | None = None

    async def __aenter__(self) -> "Mailer":
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        client, self._client = self._client, None
        if client is None or not client.is_connected:
            return
        if exc_type is None:
            try:
                await client.quit()
                return
            except (aiosmtplib.SMTPException, OSError):
                pass
        client.close()

    async def send(self, message: EmailMessage, recipient: str) -> None:
        """Hand ``message`` to the server for ``recipient`` alone.

        Raises ``Rejected``, ``Deferred`` or ``Misconfigured``.
        """
        client = await self._connected()
        try:
            await client.send_message(
                message, sender=self._settings.envelope_sender, recipients=[recipient]
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0]
            raise _by_code(refused.code, refused.message) from exc
        except aiosmtplib.SMTPSenderRefused as exc:
            if exc.code >= 500:
                reply = _response(exc.code, exc.message)
                raise Misconfigured(f"sender {exc.sender} refused: {reply}") from exc
            raise Deferred(_response(exc.code, exc.message), unreachable=False) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(exc.code, exc.message) from exc
        except aiosmtplib.SMTPNotSupported as exc:
            # An internationalised address to a server without SMTPUTF8.
            raise Rejected(str(exc)) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            self._drop()
            raise Deferred(f"connection lost: {exc}", unreachable=True) from exc
        except ValueError as exc:
            raise Rejected(f"address cannot be sent: {exc}") from exc

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        settings = self._settings
        password = settings.smtp_password
        # start_tls must be explicit: aiosmtplib's default upgrades whenever the server offers it.
        client = aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username or None,
            password=password.get_secret_value() if password and settings.smtp_username else None,
            start_tls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_s,
        )
        try:
            await client.connect()
        except aiosmtplib.SMTPNotSupported as exc:
            client.close()
            raise Misconfigured(f"SMTP server {self._where}: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            client.close()
            reply = _response(exc.code, exc.message)
            if exc.code >= 500:
                raise Misconfigured(f"SMTP server {self._where} refused us: {reply}") from exc
            raise Deferred(f"SMTP server {self._where}: {reply}", unreachable=True) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise Deferred(
                f"cannot reach SMTP server {self._where}: {exc}", unreachable=True
            ) from exc
        self._client = client
        return client

    @property
    def _where(self) -> str:
        return f"{self._settings.smtp_host}:{self._settings.smtp_port}"

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
