"""Webhook signing secrets, sealed at rest under the server's key.

Signing needs each secret itself (it is an HMAC key), so unlike an API key it cannot be kept as a
hash. It is kept *sealed*: encrypted and authenticated with Fernet (AES-128-CBC and HMAC-SHA256, from
the ``cryptography`` package) under a key derived from the server's secret key, so a copy of the
database (a backup, a dump, a read-only SQL injection) does not disclose the secrets that would let
its holder forge webhooks to suppliers. The server's key comes from, in this order:

``PLATSA_SECRET_KEY``
    One or more keys, comma-separated, each at least 32 characters (``platsa`` makes none; e.g.
    ``python -c "import secrets; print(secrets.token_urlsafe(32))"``). The first seals; every one
    opens. To change the key, put the new one first and keep the old one after it: on start the
    service re-seals every stored secret under the first key (:func:`reseal`), after which the old
    one can be dropped.
``PLATSA_SECRET_KEY_FILE``
    When ``PLATSA_SECRET_KEY`` is empty: a file holding the key, made with a new random key (mode
    0600) on first start if it does not exist. Its default is a file beside a SQLite database file
    (``platsa.db`` → ``platsa.db.key``), so that ``platsa serve --demo`` needs no configuration and
    the database file alone does not disclose the secrets.
the database itself
    With neither (a PostgreSQL database without a configured key or key file), a key generated on
    first start is kept in ``integration_secrets``, and a warning says at every start that this
    guards nothing against a leak of the database (``docs/deploy.md``).

A sealed value is ``sealed:v1:`` followed by the Fernet token. A value without that prefix is a secret
stored in clear by an earlier version of Platsa; :func:`reseal` seals it on start. A secret that no
key opens (the key was lost or replaced) cannot sign: deliveries to its endpoint fail, saying so in
the supplier's delivery log, until the supplier rotates the endpoint's secret.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import threading
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from service.config import Settings
from service.db.engine import writer
from service.integration.tables import integration_secrets, webhook_secrets

logger = logging.getLogger(__name__)

PREFIX = "sealed:v1:"
#: Shortest accepted server key, characters (a random 32-character key holds well over 128 bits).
MIN_KEY_LENGTH = 32
_STORED_NAME = "secret_key"
_INFO = b"platsa/webhook-secrets/v1"


class SealError(ValueError):
    """A sealed secret that none of the server's keys opens, or an unusable server key."""


def _fernet(key: str) -> Fernet:
    # HKDF turns any long random string into the 32 bytes Fernet wants, bound to this one use.
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(key.encode("utf-8"))
    return Fernet(base64.urlsafe_b64encode(derived))


class SecretBox:
    """Seals and opens webhook signing secrets under the server's keys (the first seals).

    Examples
    --------
    >>> box = SecretBox(["k" * 32])
    >>> sealed = box.seal("whsec_abc")
    >>> sealed.startswith("sealed:v1:") and "whsec_abc" not in sealed, box.open(sealed)
    (True, 'whsec_abc')
    >>> SecretBox(["n" * 32, "k" * 32]).open(sealed)  # an older key still opens
    'whsec_abc'
    """

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SealError("no server key")
        short = [i for i, k in enumerate(keys, start=1) if len(k) < MIN_KEY_LENGTH]
        if short:
            # Never the key itself in a message: it would end up in a log.
            raise SealError(f"server key number {', '.join(map(str, short))} is shorter than "
                            f"{MIN_KEY_LENGTH} characters")
        self._first = _fernet(keys[0])
        self._all = MultiFernet([self._first, *(_fernet(k) for k in keys[1:])])

    def seal(self, secret: str) -> str:
        """``secret`` encrypted and authenticated under the first key."""
        return PREFIX + self._all.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, stored: str) -> str:
        """The secret in ``stored``; a value without the prefix was stored in clear and is returned as is.

        Raises
        ------
        SealError
            No key of this box opens it.
        """
        if not stored.startswith(PREFIX):
            return stored
        try:
            return self._all.decrypt(stored[len(PREFIX):].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SealError("none of the server's keys opens this secret") from None

    def resealed(self, stored: str) -> str | None:
        """``stored`` sealed under the first key, or None when it already is.

        Raises
        ------
        SealError
            No key of this box opens it.
        """
        if stored.startswith(PREFIX):
            token = stored[len(PREFIX):].encode("ascii")
            try:
                self._first.decrypt(token)
                return None
            except InvalidToken:
                pass
        return self.seal(self.open(stored))


def _split(value: str) -> list[str]:
    return [k.strip() for k in value.split(",") if k.strip()]


def _key_from_file(path: Path) -> str:
    """The key in ``path``, made (mode 0600) with a new random key when the file does not exist."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
        logger.info("made a new server key for webhook secrets in %s", path)
    try:
        keys = _split(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SealError(f"cannot read the server key file {path}: {exc.strerror}") from None
    if not keys:
        raise SealError(f"the server key file {path} is empty")
    return ",".join(keys)


_boxes: dict[tuple[str, ...], SecretBox] = {}
_lock = threading.Lock()


def _box(keys: list[str]) -> SecretBox:
    with _lock:
        found = _boxes.get(tuple(keys))
        if found is None:
            found = _boxes[tuple(keys)] = SecretBox(keys)
        return found


def _configured(settings: Settings) -> list[str] | None:
    configured = settings.secret_key.get_secret_value()
    if configured:
        return _split(configured)
    path = settings.secret_key_path
    return _split(_key_from_file(path)) if path is not None else None


def load_box(conn: sa.Connection, settings: Settings) -> SecretBox:
    """The box of the server's keys (see the module's docstring for where they come from).

    A key kept in the database is made inside the caller's transaction when it is missing (a
    database used before the service ever started); :func:`ensure_key` makes it on start.
    """
    keys = _configured(settings)
    if keys is None:
        stored = conn.execute(sa.select(integration_secrets.c.value)
                              .where(integration_secrets.c.name == _STORED_NAME)).scalar()
        if stored is None:
            stored = secrets.token_urlsafe(32)
            conn.execute(integration_secrets.insert().values(name=_STORED_NAME, value=stored))
        keys = [str(stored)]
    return _box(keys)


def ensure_key(db: sa.Engine, settings: Settings) -> SecretBox:
    """Find or make the server's key on start, and re-seal what needs it (:func:`reseal`)."""
    if _configured(settings) is None:
        logger.warning("PLATSA_SECRET_KEY is not set: webhook secrets are sealed under a key kept in the "
                       "database itself, which guards nothing against a leak of the database "
                       "(docs/deploy.md)")
    try:
        with writer(db).begin() as conn:
            box = load_box(conn, settings)
    except sa.exc.IntegrityError:  # another process made the stored key at the same moment: use theirs
        with writer(db).begin() as conn:
            box = load_box(conn, settings)
    reseal(db, box)
    return box


def reseal(db: sa.Engine, box: SecretBox) -> int:
    """Seal secrets stored in clear, and re-seal those under an older key, under ``box``'s first key.

    Returns how many were changed. A secret that no key opens is left as it is, with a warning (its
    endpoint's deliveries fail until the supplier rotates the secret).
    """
    changed = unopened = 0
    with writer(db).begin() as conn:
        rows = conn.execute(sa.select(webhook_secrets.c.secret_id, webhook_secrets.c.secret)
                            .order_by(webhook_secrets.c.secret_id)).all()
        for row in rows:
            try:
                new = box.resealed(row.secret)
            except SealError:
                unopened += 1
                continue
            if new is not None:
                conn.execute(webhook_secrets.update().where(webhook_secrets.c.secret_id == row.secret_id)
                             .values(secret=new))
                changed += 1
    if changed:
        logger.info("sealed %d webhook secret(s) under the current server key", changed)
    if unopened:
        logger.warning("%d webhook secret(s) cannot be opened with the server's keys: their endpoints' "
                       "deliveries fail until the suppliers rotate them (was PLATSA_SECRET_KEY changed "
                       "without keeping the old key after the new one?)", unopened)
    return changed
