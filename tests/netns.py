"""Machines for tests, made of Linux network namespaces: each its own network stack and address,
joined to this one by a veth pair on a bridge, as machines on one LAN are.

``Machines(3)`` makes namespaces at 10.77.0.11, .12, .13, with this host at 10.77.0.1 (the
bridge's address): a process run on a machine (``run``) reaches this host's services only at
that address, never at 127.0.0.1, which is its own. ``lose`` kills every process of a machine
at once with SIGKILL (the machine lost, its worker without a chance to clean up); ``close``
kills what is left and removes the namespaces and the bridge, whatever happened (and the
machines a killed test run left, it never having had the chance, are removed before new ones
are made).

``Relay`` makes a service that listens on this host's loopback only (a PostgreSQL cluster
shared with others, which cannot be restarted to listen elsewhere) reachable at the bridge's
address, as a TCP relay.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Sequence

SUBNET = "10.77.0"
HOST = f"{SUBNET}.1"


def problem() -> str | None:
    """Why this process cannot make machines, or None."""
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    name = f"lvprobe{os.getpid() % 100000}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "delete", name], capture_output=True)
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class Machines:
    def __init__(self, count: int) -> None:
        tag = os.getpid() % 100000
        self.bridge = f"lvbr{tag}"
        self.names = [f"lvm{tag}n{i}" for i in range(1, count + 1)]
        self.addresses = [f"{SUBNET}.{10 + i}" for i in range(1, count + 1)]
        self.processes: list[subprocess.Popen] = []
        try:
            self._make()
        except BaseException:
            self.close()
            raise

    def _make(self) -> None:
        _remove_leftovers()
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{HOST}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i, (name, address) in enumerate(zip(self.names, self.addresses, strict=True), 1):
            outside, inside = f"{self.bridge}h{i}", f"{self.bridge}m{i}"
            _ip("netns", "add", name)
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", name)
            _ip("link", "set", outside, "master", self.bridge)
            _ip("link", "set", outside, "up")
            _ip("-n", name, "addr", "add", f"{address}/24", "dev", inside)
            _ip("-n", name, "link", "set", inside, "up")
            _ip("-n", name, "link", "set", "lo", "up")

    def run(self, machine: int, argv: Sequence[str], **popen) -> subprocess.Popen:
        """``argv`` on machine ``machine`` (0-based), with ``popen`` for ``subprocess.Popen``."""
        process = subprocess.Popen(["ip", "netns", "exec", self.names[machine], *argv], **popen)
        self.processes.append(process)
        return process

    def pids(self, machine: int) -> list[int]:
        found = subprocess.run(
            ["ip", "netns", "pids", self.names[machine]], capture_output=True, text=True
        )
        return [int(pid) for pid in found.stdout.split()]

    def lose(self, machine: int) -> None:
        """Every process on ``machine`` killed at once (SIGKILL), as when it loses power."""
        for pid in self.pids(machine):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for process in self.processes:
            if process.args[3] == self.names[machine]:
                process.wait(timeout=30)

    def close(self) -> None:
        for machine in range(len(self.names)):
            with contextlib.suppress(Exception):
                self.lose(machine)
        for process in self.processes:
            with contextlib.suppress(Exception):
                process.kill()
                process.wait(timeout=30)
        for name in self.names:
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)
        # Deleting a namespace deletes its veth ends, and with them their peers here.
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True)


def _remove_leftovers() -> None:
    """The machines of a test run that was killed before its finalizers ran: their bridge holds
    this host's address, which a second bridge cannot share."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in listed.splitlines():
        name = line.split()[0] if line.split() else ""
        if re.fullmatch(r"lvm\d+n\d+", name):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    for bridge in re.findall(r"^\d+: (lvbr\d+)[:@]", links, flags=re.MULTILINE):
        subprocess.run(["ip", "link", "delete", bridge], capture_output=True)


class Relay:
    """Connections to ``listen`` (host, port) relayed to ``target``, each both ways."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(listen)
        self.address = self.server.getsockname()[:2]
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(1 << 16):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            # One side gone, the pair is: a server must not wait on a client that died.
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stop.set()
        self.server.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
