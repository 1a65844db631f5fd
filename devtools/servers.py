"""Real servers on 127.0.0.1 for the scale-out tests and benchmark, secured as the README's
recipes are: PostgreSQL with password authentication, an MLflow tracking server over it with
MLflow's basic-auth app, and a Ray head node with token authentication (and the worker
processes of a joblib sweep, which both kill). Each is started, waited for and stopped by a
context manager; nothing is mocked.

PostgreSQL is Debian's (package `postgresql`, which .ci/run installs where it is missing); it
refuses to run as root, so as root it runs as the `postgres` user the package creates.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil


def joblib_workers(process: subprocess.Popen) -> list[psutil.Process]:
    """The processes of a joblib-launched sweep that run its trials (not loky's resource tracker)."""
    return [p for p in psutil.Process(process.pid).children(recursive=True) if "popen_loky_posix" in " ".join(p.cmdline())]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _postgres_bin(name: str) -> str | None:
    return shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)


def postgres_installed() -> bool:
    return all(_postgres_bin(name) for name in ("initdb", "pg_ctl", "createdb"))


@contextmanager
def postgres(*databases: str) -> Iterator[tuple[str, dict[str, str]]]:
    """A throwaway PostgreSQL server with `databases` created, secured as the README's recipe
    is: listening on 127.0.0.1 only, every connection (the local socket too) authenticated by
    password (scram-sha-256). Yields its URL without a database and without the password
    (postgresql://postgres@127.0.0.1:PORT) and the environment a client needs (PGPASSWORD)."""
    if not postgres_installed():
        raise RuntimeError("PostgreSQL's initdb, pg_ctl, createdb not found: install Debian's postgresql package (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="ampcapture-pg-"))
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data, port, password = root / "data", free_port(), secrets.token_urlsafe(24)
    (root / "password").write_text(password)
    if as_user:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(root / "password", "postgres", "postgres")
    credentials = {"PGPASSWORD": password}

    def run(*cmd: str) -> None:
        subprocess.run([*as_user, *cmd], check=True, capture_output=True, text=True, env={**os.environ, **credentials})

    run(_postgres_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=scram-sha-256", f"--pwfile={root / 'password'}", "-E", "UTF8")
    (root / "password").unlink()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
    run(_postgres_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "-t", "60", "start")
    try:
        for name in databases:
            run(_postgres_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", name)
        yield f"postgresql://postgres@127.0.0.1:{port}", credentials
    finally:
        subprocess.run([*as_user, _postgres_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _wait_for(url: str, process: subprocess.Popen, log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}): {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"no answer from {url} within {seconds:g} s: {log.read_text()[-3000:]}")


AUTH_CONFIG = """[mlflow]
default_permission = NO_PERMISSIONS
database_uri = {users}
admin_username = ampcapture
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
"""


@contextmanager
def mlflow_server(backend_store_uri: str, artifacts: Path, env: dict[str, str] | None = None, auth: bool = True) -> Iterator[tuple[str, dict[str, str]]]:
    """`mlflow server` with MLflow's basic-auth app over `backend_store_uri`, serving artifacts
    from `artifacts`, on 127.0.0.1; `env`: what it needs to reach its store (PGPASSWORD). Yields
    its URL and the environment a client needs (MLFLOW_TRACKING_USERNAME and _PASSWORD).
    `auth=False`: the plain server `mlflow ui` starts (what a browser on this machine opens)."""
    port, log = free_port(), artifacts.parent / "mlflow-server.log"
    config, password = artifacts.parent / "mlflow-auth.ini", secrets.token_urlsafe(24)
    server_env = {**os.environ, **(env or {})}
    if auth:
        config.write_text(AUTH_CONFIG.format(users=f"sqlite:///{artifacts.parent / 'mlflow-users.db'}"))
        server_env.update(
            {
                "MLFLOW_AUTH_CONFIG_PATH": str(config),
                "MLFLOW_AUTH_ADMIN_PASSWORD": password,  # the admin the auth app creates on its first start
                "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
            }
        )
    cmd = [sys.executable, "-m", "mlflow", "server", *(["--app-name", "basic-auth"] if auth else [])]
    cmd += ["--backend-store-uri", backend_store_uri, "--artifacts-destination", str(artifacts)]
    with open(log, "w") as out:
        cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=server_env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{url}/health", process, log)
        yield url, {"MLFLOW_TRACKING_USERNAME": "ampcapture", "MLFLOW_TRACKING_PASSWORD": password} if auth else {}
    finally:
        _stop(process, 30)


@contextmanager
def ray_head(num_cpus: int = 2) -> Iterator[tuple[str, dict[str, str]]]:
    """A one-node Ray cluster (`ray start --head --block`) on loopback with token authentication
    (Ray's default for local clusters since 2.59); yields its address and the environment a
    client needs to join it (RAY_AUTH_MODE, RAY_AUTH_TOKEN)."""
    port, temp = free_port(), Path(tempfile.mkdtemp(prefix="ray"))  # short: Ray's socket paths have a length limit
    ray = Path(sys.executable).parent / "ray"
    args = ["--node-ip-address=127.0.0.1", f"--port={port}", f"--num-cpus={num_cpus}", "--include-dashboard=false", f"--temp-dir={temp}"]
    log, auth = temp / "head.log", {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    cmd = [str(ray), "start", "--head", "--block", "--disable-usage-stats", *args]
    with open(log, "w") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=temp, env={**os.environ, **auth})
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Ray head did not start: {log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield address, auth
    finally:
        _stop(process, 60)
        shutil.rmtree(temp, ignore_errors=True)


def _stop(process: subprocess.Popen, seconds: float) -> None:
    process.terminate()
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
