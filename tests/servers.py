"""Throwaway servers for the tests: PostgreSQL, ``mlflow server``, ``mlflow models serve``.

Each runs on a free loopback port, is waited for with a bound, and is stopped with its
whole process group (``mlflow models serve`` runs uvicorn as a child process).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent  # mlflow, and uvicorn that `mlflow models serve` runs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Poll ``url`` until it answers 200; fail with the log's tail if the process exits or
    ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args[:3]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} did not answer within {timeout:.0f}s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    """Stop a process started with ``start_new_session=True`` and everything it started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    # Then whatever is left of its group, which SIGTERM does not end (or orphans).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextlib.contextmanager
def background(args, log: Path, url: str, env=None, timeout: float = 120):
    """Run ``args`` (its own process group, output to ``log``) until ``url`` answers; yield."""
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})}
    with open(log, "w") as out:
        process = subprocess.Popen([str(a) for a in args], stdout=out, stderr=subprocess.STDOUT,
                                   env=env, start_new_session=True)
    try:
        wait_until_up(url, process, log, timeout)
        yield process
    finally:
        stop(process)


@contextlib.contextmanager
def tracking_server(backend_store_uri: str, artifacts: Path, log: Path, workers: int = 1):
    """``mlflow server`` on a free port, storing and serving artifacts under ``artifacts``;
    yields its URI."""
    port = free_port()
    args = [VENV_BIN / "mlflow", "server", "--host", "127.0.0.1", "--port", port,
            "--backend-store-uri", backend_store_uri, "--artifacts-destination", artifacts,
            "--workers", workers]
    # No job runners (ten more processes, for MLflow's GenAI features; kerasseq needs none).
    with background(args, log, f"http://127.0.0.1:{port}/health",
                    env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def model_server(model_uri: str, tracking_uri: str, log: Path):
    """``mlflow models serve -m MODEL_URI --env-manager local`` on a free port; yields its
    ``/invocations`` URL."""
    port = free_port()
    args = [VENV_BIN / "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local",
            "--host", "127.0.0.1", "--port", port]
    with background(args, log, f"http://127.0.0.1:{port}/ping",
                    env={"MLFLOW_TRACKING_URI": tracking_uri}, timeout=180):
        yield f"http://127.0.0.1:{port}/invocations"


def post(url: str, body) -> tuple[int, object]:
    """POST ``body`` (JSON-encoded unless bytes) to ``url``: ``(status, decoded JSON answer)``."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ------------------------------------------------------------------------- PostgreSQL

def postgres_bin() -> Path | None:
    """The folder of PostgreSQL's server programs (initdb, pg_ctl), or None."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    # Debian keeps them off PATH: /usr/lib/postgresql/<major>/bin
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


def _unprivileged_user() -> str:
    """initdb and postgres refuse to run as root: as root they run as this user."""
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            pass
    pytest.fail("running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")


@contextlib.contextmanager
def postgres_cluster(database: str = "mlflow"):
    """A throwaway PostgreSQL cluster on a free loopback port (trust authentication, its
    socket in its own folder, no fsync); yields ``postgresql://mlflow@127.0.0.1:PORT/DB``.
    Skips the test when PostgreSQL is not installed."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin); "
                    "`make install` installs it with apt-get when run as root")
    # Not under pytest's tmp_path: as root that is a folder only root may enter.
    folder = Path(tempfile.mkdtemp(prefix="kerasseq-pg-"))
    run_as = []
    if os.geteuid() == 0:
        user = pwd.getpwnam(_unprivileged_user())
        os.chown(folder, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", user.pw_name, "--"]
    data, port = folder / "data", free_port()

    def pg(*args, **kwargs):
        return subprocess.run([*run_as, *map(str, args)], capture_output=True, text=True,
                              timeout=120, **kwargs)

    started = False
    try:
        result = pg(bin_dir / "initdb", "-D", data, "-U", "mlflow", "--auth=trust", "-E", "UTF8",
                    "--no-locale", "--no-sync")
        assert result.returncode == 0, f"initdb failed:\n{result.stdout}\n{result.stderr}"
        options = (f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off")
        result = pg(bin_dir / "pg_ctl", "-D", data, "-l", folder / "postgres.log", "-o", options,
                    "-w", "-t", "60", "start")
        started = result.returncode == 0
        assert started, (f"pg_ctl start failed:\n{result.stdout}\n{result.stderr}\n"
                         f"{(folder / 'postgres.log').read_text()[-2000:]}")
        result = pg(bin_dir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "mlflow", database)
        assert result.returncode == 0, f"createdb failed:\n{result.stderr}"
        yield f"postgresql://mlflow@127.0.0.1:{port}/{database}"
    finally:
        if started:
            pg(bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)
