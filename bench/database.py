"""The bench's own PostgreSQL database: where it is, creating, migrating and cloning it.

The bench truncates and fills tables, so it never runs on the developer's database:

- BENCH_DATABASE_URL, if set, is used as is (its name must end in `_bench`);
- otherwise the server of DATABASE_URL with `_bench` added to the database name
  (DATABASE_URL=postgres://…/loyalty → loyalty_bench);
- otherwise postgres://postgres@127.0.0.1:5432/loyalty_bench.

Each expiry measurement runs on a fresh clone (`CREATE DATABASE … TEMPLATE`) of the
generated data, so every method starts from byte-for-byte the same tables.
"""

from __future__ import annotations

import contextlib
import os
from urllib.parse import urlsplit, urlunsplit

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/loyalty_bench"
SUFFIX = "_bench"
POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql", "postgis"}


class BenchRefused(Exception):
    """The bench cannot run with this configuration; the message says why."""


def bench_database_url(environ: os._Environ | dict) -> tuple[str, str]:
    """(URL of the bench database, where it came from)."""
    explicit = environ.get("BENCH_DATABASE_URL", "").strip()
    if explicit:
        url, source = explicit, "BENCH_DATABASE_URL"
    elif environ.get("DATABASE_URL", "").strip():
        url, source = _bench_sibling(environ["DATABASE_URL"].strip()), "DATABASE_URL"
    else:
        url, source = DEFAULT_URL, "default"
    parts = urlsplit(url)
    if parts.scheme not in POSTGRES_SCHEMES:
        raise BenchRefused(
            f"The bench needs PostgreSQL, but {source} is {parts.scheme or '(no scheme)'}://…; "
            "SQLite cannot tell how the production database behaves. Point DATABASE_URL "
            f"(or BENCH_DATABASE_URL) at a PostgreSQL server, e.g. {DEFAULT_URL}"
        )
    name = parts.path.lstrip("/")
    if not name.endswith(SUFFIX):
        raise BenchRefused(
            f"Refusing to run on database {name!r}: the bench empties the tables it uses, "
            f"so its database name must end in {SUFFIX!r}."
        )
    return url, source


def _bench_sibling(url: str) -> str:
    """The same server as `url`, database name with `_bench` added (loyalty → loyalty_bench)."""
    parts = urlsplit(url)
    if parts.scheme not in POSTGRES_SCHEMES:
        return url  # refused by the caller with a clear message
    name = parts.path.lstrip("/") or "loyalty"
    if not name.endswith(SUFFIX):
        name += SUFFIX
    return urlunsplit(parts._replace(path="/" + name))


def _maintenance_connection():
    """An autocommit connection to the server's `postgres` database (CREATE/DROP DATABASE)."""
    import psycopg
    from django.db import connection

    s = connection.settings_dict
    return psycopg.connect(
        dbname="postgres",
        host=s.get("HOST") or None,
        port=s.get("PORT") or None,
        user=s.get("USER") or None,
        password=s.get("PASSWORD") or None,
        autocommit=True,
    )


def database_ensure(name: str) -> bool:
    """Create the database if missing; True when it was created."""
    from psycopg import sql

    with _maintenance_connection() as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def database_clone(*, template: str, name: str) -> None:
    """(Re)create `name` as a file copy of `template` (nobody may be connected to it)."""
    from psycopg import sql

    with _maintenance_connection() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        strategy = " STRATEGY = FILE_COPY" if conn.info.server_version >= 150000 else ""
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}" + strategy).format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )


def database_drop(name: str) -> None:
    from psycopg import sql

    with _maintenance_connection() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def database_use(name: str) -> None:
    """Point Django's default connection at another database on the same server."""
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = name


def settle(tables: list[str]) -> None:
    """VACUUM ANALYZE the tables and CHECKPOINT, so a measurement starts without debt
    (dead rows, missing statistics, dirty buffers of the data load)."""
    from django.db import DatabaseError, connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE " + ", ".join(tables))
        # CHECKPOINT needs superuser or pg_checkpoint; without it the bench still runs.
        with contextlib.suppress(DatabaseError):
            cursor.execute("CHECKPOINT")
