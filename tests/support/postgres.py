"""A throwaway PostgreSQL cluster for integration tests.

The session fixture `postgres_cluster` runs `initdb` in a fresh temporary
directory, starts the server on a free loopback port and removes everything at
the end. It is tuned for tests, not for safety: fsync and synchronous commit are
off (a crashed *gateway* must not lose acknowledged work; a crashed test database
may), and `max_connections` leaves room for several gateway replicas with full
connection pools plus the test's own connections.

`initdb` refuses to run as root, so when the tests run as root (CI and the dev
machines do) the server runs as the `postgres` OS user, which the Debian package
creates. Missing binaries skip the tests locally and fail them under `CI=true`:
CI must never report green because PostgreSQL was quietly absent (`./dev test`
installs the `postgresql` package first).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.net import free_port

__all__ = [
    "DATABASE",
    "USER",
    "PostgresCluster",
    "PostgresUnavailableError",
    "find_bindir",
    "in_ci",
    "postgres_cluster",
    "postgres_database",
    "postgres_dsn",
    "start_or_skip",
]

DATABASE = "citycredit"
USER = "citycredit"
# Debian's layout: one folder per major version. CITYCREDIT_PG_BINDIR overrides it.
DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"
_NEEDED = ("initdb", "pg_ctl", "postgres", "createdb", "dropdb")
_START_TIMEOUT_S = 60
_SERVER_OS_USER = "postgres"


class PostgresUnavailableError(Exception):
    """PostgreSQL cannot be run here at all (as opposed to failing to start)."""


def find_bindir() -> Path | None:
    """The newest folder holding every server binary the fixture needs, or None."""
    override = os.environ.get("CITYCREDIT_PG_BINDIR")
    if override:
        candidates = [Path(override)]
    else:
        candidates = sorted(Path("/").glob(DEBIAN_BINDIRS.lstrip("/")), key=_major_version, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path and not override:
        candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if all(os.access(bindir / name, os.X_OK) for name in _NEEDED):
            return bindir
    return None


def _major_version(bindir: Path) -> int:
    match = re.fullmatch(r"\d+", bindir.parent.name)
    return int(match.group()) if match else -1


def _runuser() -> str | None:
    found = shutil.which("runuser")
    if found:
        return found
    return next((p for p in ("/usr/sbin/runuser", "/sbin/runuser") if os.access(p, os.X_OK)), None)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@dataclass
class PostgresCluster:
    """One running PostgreSQL server in its own temporary directory."""

    bindir: Path
    root: Path
    port: int
    # OS user the server runs as; None = the current user.
    os_user: str | None
    _names: Iterator[int] = field(default_factory=itertools.count, repr=False)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    @classmethod
    def start(cls, *, max_connections: int = 400, settings: dict[str, str] | None = None) -> PostgresCluster:
        """initdb, configure and start a server; raises PostgresUnavailableError or RuntimeError."""
        bindir = find_bindir()
        if bindir is None:
            raise PostgresUnavailableError(
                f"no PostgreSQL server binaries ({', '.join(_NEEDED)}) under {DEBIAN_BINDIRS} or on PATH; "
                "install the Debian package `postgresql` (./dev test does) or set CITYCREDIT_PG_BINDIR")
        os_user = None
        if os.geteuid() == 0:
            try:
                server_user = pwd.getpwnam(_SERVER_OS_USER)
            except KeyError:
                raise PostgresUnavailableError(
                    f"running as root and there is no {_SERVER_OS_USER!r} OS user to run the server as "
                    "(initdb refuses root)") from None
            os_user = _SERVER_OS_USER
            if _runuser() is None:
                raise PostgresUnavailableError("running as root and `runuser` (util-linux) is missing")
        # /tmp rather than $TMPDIR or pytest's tmp_path: the server user must be able to reach it.
        root = Path(tempfile.mkdtemp(prefix="citycredit-pg-", dir="/tmp" if os_user else None))
        if os_user:
            os.chown(root, server_user.pw_uid, server_user.pw_gid)
        cluster = cls(bindir=bindir, root=root, port=0, os_user=os_user)
        try:
            cluster._initdb()
            cluster._start_on_free_port(max_connections, settings or {})
            cluster._run([str(bindir / "createdb"), *cluster._client_args(), DATABASE])
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def dsn(self, database: str = DATABASE) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; returns its DSN."""
        name = f"{re.sub(r'[^a-z0-9_]', '_', prefix.lower())[:40]}_{next(self._names)}"
        self._run([str(self.bindir / "createdb"), *self._client_args(), name])
        return self.dsn(name)

    def drop_database(self, dsn: str) -> None:
        name = dsn.rsplit("/", 1)[1]
        self._run([str(self.bindir / "dropdb"), *self._client_args(), "--force", "--if-exists", name])

    def stop(self) -> None:
        """Stop the server at once (nothing in it is worth a clean shutdown) and delete its files."""
        if (self.datadir / "postmaster.pid").exists():
            try:
                self._run(self._as_server_user([str(self.bindir / "pg_ctl"), "-D", str(self.datadir),
                                                "-m", "immediate", "-w", "stop"]), timeout_s=30)
            except (RuntimeError, subprocess.TimeoutExpired):
                self._kill_postmaster()
        shutil.rmtree(self.root, ignore_errors=True)

    # --- internals ---------------------------------------------------------------------------------

    def _client_args(self) -> list[str]:
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", USER]

    def _as_server_user(self, argv: Sequence[str]) -> list[str]:
        if not self.os_user:
            return list(argv)
        return [_runuser() or "runuser", "-u", self.os_user, "--", *argv]

    def _run(self, argv: Sequence[str], *, timeout_s: float = _START_TIMEOUT_S) -> None:
        result = subprocess.run(argv, cwd=self.root, capture_output=True, text=True, timeout=timeout_s,
                                check=False, env={**os.environ, "LC_ALL": "C", "PGCONNECT_TIMEOUT": "10"})
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
                               f"{self._log_tail()}")

    def _initdb(self) -> None:
        self._run(self._as_server_user([
            str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", USER, "--auth=trust",
            "-E", "UTF8", "--locale=C", "--no-sync"]))

    def _start_on_free_port(self, max_connections: int, settings: dict[str, str]) -> None:
        conf = self.datadir / "postgresql.conf"
        base = conf.read_text()
        for attempt in range(3):  # another process may grab the port between probe and bind
            self.port = free_port()
            values = {
                "listen_addresses": "'127.0.0.1'",
                "port": str(self.port),
                "unix_socket_directories": f"'{self.root}'",
                "max_connections": str(max_connections),
                "shared_buffers": "64MB",
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
                "logging_collector": "off",
                **settings,
            }
            conf.write_text(base + "\n# citycredit tests\n" + "".join(f"{k} = {v}\n" for k, v in values.items()))
            try:
                self._run(self._as_server_user([
                    str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile),
                    "-w", "-t", str(_START_TIMEOUT_S), "start"]), timeout_s=_START_TIMEOUT_S + 10)
                return
            except RuntimeError:
                if attempt == 2 or "already in use" not in self._log_tail():
                    raise

    def _log_tail(self, lines: int = 20) -> str:
        try:
            tail = self.logfile.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n--- server log ---\n" + "\n".join(tail) if tail else ""

    def _kill_postmaster(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.datadir / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)


# --- fixtures ----------------------------------------------------------------------------------------


def start_or_skip(**kwargs: object) -> PostgresCluster:
    """`PostgresCluster.start`, skipping when PostgreSQL cannot run here, failing instead under CI."""
    try:
        return PostgresCluster.start(**kwargs)  # type: ignore[arg-type]
    except PostgresUnavailableError as exc:
        if in_ci():
            pytest.fail(f"PostgreSQL is required in CI: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL is not available: {exc}")


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL server for this test session (one per xdist worker)."""
    cluster = start_or_skip()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_dsn(postgres_cluster: PostgresCluster) -> str:
    """`postgresql://citycredit@127.0.0.1:PORT/citycredit`, shared by the whole session."""
    return postgres_cluster.dsn()


@pytest.fixture
def postgres_database(postgres_cluster: PostgresCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database for one test (dropped afterwards); its DSN."""
    dsn = postgres_cluster.create_database(request.node.name)
    try:
        yield dsn
    finally:
        postgres_cluster.drop_database(dsn)
