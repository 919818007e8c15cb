"""A throwaway PostgreSQL server on localhost for the scale-out tests and benchmark.

``initdb`` in a fresh temporary folder, ``pg_ctl start`` on a free TCP port of 127.0.0.1 with its
unix socket in that folder, trust authentication for one role; :func:`throwaway_postgres` stops
the server (``pg_ctl stop -m immediate``) and removes the folder when its block ends, also on
failure. PostgreSQL refuses to run as root, so when this process is root the server runs as an
unprivileged system user (``postgres`` if Debian's package created it, else ``nobody``) through
``runuser``, in a folder chowned to that user.

Debian installs the binaries in ``/usr/lib/postgresql/<version>/bin`` (not on ``PATH``);
``make test`` installs the package (``mk/postgres.mk``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

ROLE = "neurotype"


def find_postgres_bin() -> Path | None:
    """Folder holding ``initdb`` and ``pg_ctl``: ``PATH`` first, then Debian's, newest version first."""
    on_path = shutil.which("initdb")
    candidates = ([Path(on_path).resolve().parent] if on_path else []) + [
        Path(p).parent for p in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                                       key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
                                       reverse=True)]
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_user() -> str | None:
    """The user the server runs as: ``None`` (this one) unless this process is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")


def _as_user(user: str | None, command: list[str]) -> list[str]:
    return command if user is None else ["runuser", "-u", user, "--", *command]


@contextlib.contextmanager
def throwaway_postgres(database: str = "optuna") -> Iterator[str]:
    """Start a PostgreSQL server, yield a SQLAlchemy URL of an empty database on it, then stop it.

    Raises
    ------
    FileNotFoundError
        When no ``initdb`` is installed.
    """
    import sqlalchemy

    binaries = find_postgres_bin()
    if binaries is None:
        raise FileNotFoundError("initdb/pg_ctl not found on PATH or in /usr/lib/postgresql/*/bin")
    user = _server_user()
    folder = Path(tempfile.mkdtemp(prefix="neurotype-pg-"))
    data = folder / "data"
    started = False
    try:
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        subprocess.run(_as_user(user, [str(binaries / "initdb"), "-D", str(data), "-U", ROLE, "-A", "trust",
                                       "-E", "UTF8", "--no-sync", "--no-instructions"]),
                       check=True, capture_output=True, text=True, timeout=120)
        port = free_port()
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        result = subprocess.run(_as_user(user, [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"),
                                                "-o", options, "-w", "-t", "60", "start"]),
                                capture_output=True, text=True, timeout=120)
        started = True  # even a failed start may have left a postmaster behind: stop it below
        if result.returncode != 0:
            log = (folder / "log").read_text() if (folder / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {result.stderr.strip()} {log[-2000:]}")
        admin = sqlalchemy.create_engine(f"postgresql://{ROLE}@127.0.0.1:{port}/postgres",
                                         isolation_level="AUTOCOMMIT")
        for attempt in range(50):
            try:
                with admin.connect() as connection:
                    connection.execute(sqlalchemy.text(f'CREATE DATABASE "{database}"'))
                break
            except sqlalchemy.exc.OperationalError:
                if attempt == 49:
                    raise
                time.sleep(0.2)
        admin.dispose()
        yield f"postgresql://{ROLE}@127.0.0.1:{port}/{database}"
    finally:
        if started:
            subprocess.run(_as_user(user, [str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                                           "stop"]), capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)
