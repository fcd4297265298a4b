"""A real PostgreSQL server for the feedback store's tests: Debian's `postgresql` package, started on a
temporary data directory, reachable over a Unix socket only (`listen_addresses=''`: no network).

`initdb` refuses to run as root, and CI runs as root: there the cluster belongs to an unprivileged user
(`postgres`, which the Debian package creates, else `nobody`) and its commands run through `runuser`; the
tests still connect as that cluster's superuser over the socket (`trust` authentication, the socket's
folder is the cluster's own). `scripts/setup.sh` installs the package where `initdb` is missing.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

# Debian installs the server's programs per major version here and puts only wrappers on PATH.
_BIN_GLOB = "/usr/lib/postgresql/*/bin"
_UNPRIVILEGED_USERS = ("postgres", "nobody")


def postgres_bin() -> Path | None:
    """The newest installed server's program folder (the one holding `initdb`), if any."""
    found = [Path(p) for p in glob.glob(_BIN_GLOB) if (Path(p) / "initdb").is_file()]
    return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0) if found else None


def _cluster_user() -> str | None:
    """Who owns the cluster: None (this user) unless this is root, which initdb refuses."""
    if os.geteuid() != 0:
        return None
    for name in _UNPRIVILEGED_USERS:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    return None


@dataclass
class PostgresServer:
    """One running cluster; `new_database()` gives each test an empty database of its own."""

    bin_dir: Path
    root: Path
    user: str | None
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root

    @property
    def role(self) -> str:
        return self.user or pwd.getpwuid(os.geteuid()).pw_name

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / argv[0]), *argv[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)

    def start(self) -> None:
        if self.user is not None:
            shutil.chown(self.root, self.user)
        done = self._run(
            "initdb", "-D", str(self.data), "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "-U", self.role
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        options = (
            f"-c listen_addresses='' -c unix_socket_directories='{self.socket_dir}' -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        done = self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        if done.returncode != 0:
            log = (self.root / "server.log").read_text(errors="replace") if (self.root / "server.log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed:\n{done.stdout}\n{done.stderr}\n{log}")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        """A libpq URL to `database` over the socket: what a user passes as `--feedback-db`."""
        return f"postgresql://{quote(self.role)}@/{database}?host={quote(str(self.socket_dir), safe='/')}"

    def new_database(self) -> str:
        import psycopg

        name = f"feedback_{next(self._numbers)}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return self.url(name)


def start_postgres() -> PostgresServer:
    """Start a cluster, or skip (naming why) where no PostgreSQL server is installed or none can run."""
    pytest.importorskip("psycopg", reason="psycopg is a dependency of the project: pip install -e . installs it")
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip(f"no PostgreSQL server in {_BIN_GLOB}: scripts/setup.sh installs it (apt-get install postgresql)")
    user = _cluster_user()
    if os.geteuid() == 0 and user is None:
        pytest.skip(
            f"running as root with none of the users {_UNPRIVILEGED_USERS} to own the cluster (initdb refuses root)"
        )
    # Not pytest's tmp folder: that one is 0700 and the cluster's user (root's case) could not enter it.
    root = Path(tempfile.mkdtemp(prefix="twin-pg-"))
    server = PostgresServer(bin_dir, root, user)
    try:
        server.start()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """An empty database of this test's own on the session's server."""
    return postgres_server.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def feedback_location(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """The feedback store's location on each backend: a SQLite file, then an empty PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "feedback.db"
    return request.getfixturevalue("postgres_url")
