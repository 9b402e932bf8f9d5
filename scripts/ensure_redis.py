"""Make sure Redis answers at REDIS_URL: start a local one bound to 127.0.0.1 when it can, else say how to get it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import redis

URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def main() -> int:
    client = redis.Redis.from_url(URL, socket_connect_timeout=1, socket_timeout=1)
    if answers(client):
        return 0
    host = client.connection_pool.connection_kwargs.get("host", "127.0.0.1")
    port = client.connection_pool.connection_kwargs.get("port", 6379)
    if host not in ("127.0.0.1", "localhost") or shutil.which("redis-server") is None:
        print(f"error: no Redis at {URL}; install it (Debian/Ubuntu: sudo apt-get install redis-server) "
              "or set REDIS_URL to a running one", file=sys.stderr)
        return 1
    var = Path("var/redis").resolve()
    var.mkdir(parents=True, exist_ok=True)
    subprocess.run(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port),
                    "--dir", str(var), "--logfile", str(var / "redis.log"), "--pidfile", str(var / "redis.pid")],
                   check=True)
    for _ in range(50):
        if answers(client):
            print(f"started redis-server on 127.0.0.1:{port} (files in {var})")
            return 0
        time.sleep(0.1)
    print(f"error: redis-server did not answer on 127.0.0.1:{port}; see {var / 'redis.log'}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
