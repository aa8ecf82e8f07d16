"""``platsa serve --demo``: a generated region, a key per role and an admin account, on an empty database."""

from __future__ import annotations

import secrets

import sqlalchemy as sa

from service import accounts, store
from service.auth import CreatedKey, Role, create_key
from service.db.engine import writer

DEMO_REGION = ("gothenburg", "small", 7)


def load_demo(db: sa.Engine) -> list[CreatedKey] | None:
    """Import the demo region and create one key per role, if the database holds no region yet.

    Returns the new keys (their tokens are shown once), or None when a region is already stored:
    ``--demo`` never overwrites real data.
    """
    from fixtures import generate_region  # the demo is the one place the service uses fixtures

    with writer(db).begin() as conn:
        if store.read_manifest(conn) is not None:
            return None
        name, size, seed = DEMO_REGION
        region = generate_region(name, size, seed=seed)
        store.replace_region(conn, region)
        district = str(region.districts.get_column("district_id")[0])
        supplier = str(region.places.get_column("supplier_id")[0])
        return [
            create_key(conn, role=Role.ADMIN, name="demo admin"),
            create_key(conn, role=Role.COORDINATOR, name="demo coordinator"),
            create_key(conn, role=Role.LABOUR_MARKET_UNIT, name=f"demo {district}", district_id=district),
            create_key(conn, role=Role.SUPPLIER, name=f"demo {supplier}", supplier_id=supplier),
            create_key(conn, role=Role.RESEARCHER, name="demo researcher"),
            create_key(conn, role=Role.ORDERER, name="demo orderer"),
        ]


#: The username of the demo's admin account.
DEMO_ADMIN = "admin"


def create_demo_admin(db: sa.Engine) -> str | None:
    """Create the account ``admin`` with a random password and return the password (shown once), or
    None when an account of that name exists already (``platsa account set-password admin`` then)."""
    password = secrets.token_urlsafe(12)  # 16 characters, 96 random bits
    with writer(db).begin() as conn:
        if accounts.get_account(conn, DEMO_ADMIN) is not None:
            return None
        accounts.create_account(conn, username=DEMO_ADMIN, password=password, role="admin",
                                display_name="Demo admin")
    return password
