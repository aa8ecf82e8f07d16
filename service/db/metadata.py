"""The service's one :class:`sqlalchemy.MetaData`, with the naming convention of its constraints.

Apart from the tables, so that every module that declares tables on it (``service.db.tables``, the
supplier integration's, the follow-up's records) imports it without importing the others.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)
