"""Make sure Redis answers at REDIS_URL: start a local one bound to 127.0.0.1 when it can (installing Debian's
redis-server first when it is missing and root or sudo allows, as `make test` installs Chromium), else say how
to get it in one line.

REDIS_URL unset means the local Redis of `make run`, with a password generated once into var/redis.password
(mode 600): without one, anyone on the host could queue jobs or read and change the queue. `--url` prints the
URL to use (REDIS_URL, or the local one with its password) for the Makefile to hand to the processes it starts.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import redis

PASSWORD_FILE = Path("var/redis.password")
APT_INSTALL = Path(__file__).resolve().parent / "apt_install.sh"
LOCAL = "redis://:{password}@127.0.0.1:6379/0"


def local_password() -> str:
    """The local Redis' password, generated on first use; only this user may read the file."""
    if not PASSWORD_FILE.exists():
        PASSWORD_FILE.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(PASSWORD_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
    return PASSWORD_FILE.read_text().strip()


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or LOCAL.format(password=quote(local_password(), safe=""))


def answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.AuthenticationError:
        raise
    except redis.RedisError:
        return False


def open_to_anyone(host: str, port: int) -> bool:
    """Whether the Redis at host:port answers a client that gives no password."""
    return answers(redis.Redis(host=host, port=port, socket_connect_timeout=1, socket_timeout=1))


def start(host: str, port: int, password: str | None) -> None:
    """redis-server bound to 127.0.0.1, files under var/redis/; the password goes in a config file of mode 600,
    never on the command line (where `ps` would show it)."""
    var = Path("var/redis").resolve()
    var.mkdir(parents=True, exist_ok=True)
    conf = var / "redis.conf"
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        quoted = password.replace("\\", "\\\\").replace('"', '\\"') if password else ""
        f.write(f'requirepass "{quoted}"\n' if password else "")
    subprocess.run(["redis-server", str(conf), "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port),
                    "--dir", str(var), "--logfile", str(var / "redis.log"), "--pidfile", str(var / "redis.pid")],
                   check=True)  # fmt: skip


def installed() -> bool:
    """Whether redis-server is on PATH, after trying Debian's package when it was not (the installer's own
    messages are dropped: the caller prints the one line that says what to do)."""
    if shutil.which("redis-server") is None:
        print("redis-server is missing: installing Debian's package (apt-get install redis-server)")
        subprocess.run([str(APT_INSTALL), "redis-server"], capture_output=True, check=False)
    return shutil.which("redis-server") is not None


def main() -> int:
    if sys.argv[1:] == ["--url"]:
        print(redis_url())
        return 0
    url = redis_url()
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    kwargs = client.connection_pool.connection_kwargs
    host, port, password = kwargs.get("host", "127.0.0.1"), kwargs.get("port", 6379), kwargs.get("password")
    try:
        if answers(client):
            if password and host in ("127.0.0.1", "localhost") and open_to_anyone(host, port):
                print(f"warning: the Redis at {host}:{port} has no password (make run did not start it), so anyone "
                      "on this host can queue jobs; give it one (requirepass) or stop it", file=sys.stderr)  # fmt: skip
            return 0
    except redis.AuthenticationError:
        print(f"error: the Redis at {host}:{port} refuses the password in REDIS_URL (or {PASSWORD_FILE}); "
              "set REDIS_URL with that server's password", file=sys.stderr)  # fmt: skip
        return 1
    if host not in ("127.0.0.1", "localhost") or not installed():
        print(
            f"error: no Redis at {host}:{port}; install it (Debian/Ubuntu: sudo apt-get install redis-server) "
            "or set REDIS_URL to a running one",
            file=sys.stderr,
        )
        return 1
    start(host, port, password)
    for _ in range(50):
        if answers(client):
            print(f"started redis-server on 127.0.0.1:{port} (files in var/redis)")
            return 0
        time.sleep(0.1)
    print(f"error: redis-server did not answer on 127.0.0.1:{port}; see var/redis/redis.log", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
