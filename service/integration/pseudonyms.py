"""The candidate reference a supplier sees: a pseudonym, stable per supplier, unlinkable across them.

DOMAIN.md: suppliers must not receive priority-group membership, and the internal candidate id is
never shown to them. A supplier still needs a handle that stays the same across proposals (to
recognise a person it met before), so the reference is an HMAC-SHA256 of (supplier id, candidate id)
under a server secret. Two suppliers get different references for the same person, and without the
secret neither can compute a reference from an id nor tell whether two references are one person.

The key is ``PLATSA_PSEUDONYM_SECRET``; when it is empty one is generated on first use and kept in
the ``integration_secrets`` table, so references survive restarts without configuration.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import sqlalchemy as sa

from service.db.engine import writer
from service.integration.tables import integration_secrets

PREFIX = "cand_"
_SECRET_NAME = "pseudonym_secret"


def candidate_reference(key: bytes, supplier_id: str, candidate_id: str) -> str:
    """The reference of ``candidate_id`` for ``supplier_id`` under ``key``.

    Examples
    --------
    >>> a = candidate_reference(b"k", "s1", "c1")
    >>> a == candidate_reference(b"k", "s1", "c1"), a == candidate_reference(b"k", "s2", "c1")
    (True, False)
    >>> a.startswith("cand_") and len(a) == 31
    True
    """
    # A separator that cannot occur in either id keeps ("s1", "2c") and ("s12", "c") apart.
    message = b"platsa/candidate-reference/v1\x00" + supplier_id.encode() + b"\x00" + candidate_id.encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    # 130 bits of the digest: collisions are out of reach for any region, and it stays readable.
    return PREFIX + base64.b32encode(digest).decode("ascii")[:26].lower()


def load_key(conn: sa.Connection, configured: str) -> bytes:
    """The pseudonym key: ``configured`` if set, else the one stored in the database.

    The stored key is made by :func:`ensure_key` when the service starts; should it be missing
    (a database used before the service ever started), it is made here, inside the caller's
    transaction.
    """
    if configured:
        return configured.encode("utf-8")
    stored = conn.execute(sa.select(integration_secrets.c.value)
                          .where(integration_secrets.c.name == _SECRET_NAME)).scalar()
    if stored is None:
        stored = secrets.token_hex(32)
        conn.execute(integration_secrets.insert().values(name=_SECRET_NAME, value=stored))
    return str(stored).encode("utf-8")


def ensure_key(db: sa.Engine, configured: str) -> None:
    """Make the stored key on start, in a transaction of its own, unless one is configured."""
    if configured:
        return
    try:
        with writer(db).begin() as conn:
            load_key(conn, configured)
    except sa.exc.IntegrityError:
        pass  # another process made it at the same moment: theirs is kept
