"""moto's server in a process of its own, so the world's calls into AWS run beside it.

In one process, moto's request threads and the control plane's threads take turns on one
interpreter lock: a day's replay spent about a fifth of its time inside moto, and every
millisecond of it held up the daemon, the framework and the emulator as well. `MotoProcess`
serves the same `ThreadedMotoServer` (with `moto_transactions` installed) from a child
process on 127.0.0.1 and a free port, behind the same three calls. Nothing of moto is shared
in memory: the world reaches it over HTTP only, as before.

The child ends when its standard input closes, so it never outlives its parent, killed or not.
"""

from __future__ import annotations

import logging
import os
import selectors
import subprocess
import sys
import time

from moto.server import ThreadedMotoServer

from controlplane.sim import moto_request_ids, moto_transactions

#: Seconds the child may take to import moto and listen.
START_TIMEOUT_S = 60.0
#: Seconds the child may take to stop before it is killed.
STOP_TIMEOUT_S = 10.0


class MotoProcess:
    """A moto server in a child process; start(), get_host_and_port(), stop()."""

    def __init__(self) -> None:
        self._child: subprocess.Popen[bytes] | None = None
        self._port: int | None = None

    def start(self) -> None:
        child = subprocess.Popen(
            [sys.executable, "-m", "controlplane.sim.moto_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._child = child
        assert child.stdout is not None
        line = b""
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + START_TIMEOUT_S
            while not line.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    self.stop()
                    raise RuntimeError(f"moto did not listen within {START_TIMEOUT_S:g} s")
                chunk = os.read(child.stdout.fileno(), 64)
                if not chunk:
                    self.stop()
                    raise RuntimeError(f"moto's process ended at start (exit {child.wait()})")
                line += chunk
        self._port = int(line.decode().strip())

    def get_host_and_port(self) -> tuple[str, int]:
        if self._port is None:
            raise RuntimeError("moto's process is not started")
        return "127.0.0.1", self._port

    def stop(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        finally:
            if child.stdout is not None:
                child.stdout.close()


def main() -> None:
    """The child: serve until standard input closes."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # else a line per request
    moto_transactions.install()
    moto_request_ids.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    try:
        sys.stdin.buffer.read()  # returns when the parent closes it, or dies
    finally:
        server.stop()


if __name__ == "__main__":
    main()
