"""The in-sandbox egress relay: TCP on ``127.0.0.1:PORT`` to the egress proxy's Unix socket, byte for byte.

Not imported by sealgate. The runner passes this file's bytes into the sandbox as a sealed
memfd (``/run/sealgate/egress-relay.py``), and the sandbox's init shell runs it as
``/usr/bin/python3 -I -S /run/sealgate/egress-relay.py PORT SOCKET`` before the tool, under
the run's seccomp filter, rlimits and uid (runner/_bwrap.py). Standard library only: the
sandbox has the system python and no sealgate.

The relay is plumbing, not a boundary: the tool could bypass it and talk to the socket
directly, and every request is checked by the proxy outside the sandbox either way. It is
needed because the sandbox's network namespace has only ``lo`` and common clients (curl,
urllib, requests) speak to an HTTP proxy over TCP, not over a Unix socket.

It binds and listens first and then forks: the parent exits 0, so the init shell starts the
tool only once the port accepts connections, and the child serves until the sandbox's pid 1
exits, which ends the pid namespace and the relay with it. It is single-threaded
(``selectors``): a thread would count against the run's ``RLIMIT_NPROC``.
"""

from __future__ import annotations

import os
import selectors
import socket
import sys

MAX_LINKS = 256
CHUNK = 1 << 16
UNIX_CONNECT_TIMEOUT_S = 5.0


class _Side:
    """One socket of a link, and the bytes read from its peer that still have to be written to it."""

    __slots__ = ("eof", "events", "out", "peer", "shut", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.peer: _Side = self
        self.out = b""
        self.eof = False  # nothing more will be read from this socket
        self.shut = False  # its write side was shut down
        self.events = 0  # what the selector watches it for


class _Link:
    """A client connection and its proxy connection; reads from a side only once the other's buffer is empty."""

    def __init__(self, sel: selectors.BaseSelector, links: set[_Link], client: socket.socket, proxy: socket.socket):
        self.sel = sel
        self.links = links
        self.a, self.b = _Side(client), _Side(proxy)
        self.a.peer, self.b.peer = self.b, self.a
        self.closed = False
        links.add(self)
        self.update()

    def handle(self, side: _Side, mask: int) -> None:
        if self.closed:
            return  # closed by an earlier event of the same select() round
        try:
            if mask & selectors.EVENT_WRITE and side.out:
                sent = side.sock.send(side.out)
                side.out = side.out[sent:]
            if mask & selectors.EVENT_READ:
                data = side.sock.recv(CHUNK)
                if data:
                    side.peer.out += data
                else:
                    side.eof = True
        except BlockingIOError:
            pass
        except OSError:
            self.close()
            return
        self.update()

    def update(self) -> None:
        for side in (self.a, self.b):
            if side.eof and not side.peer.out and not side.peer.shut:
                side.peer.shut = True
                try:
                    side.peer.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    self.close()
                    return
        if self.a.eof and self.b.eof and not self.a.out and not self.b.out:
            self.close()
            return
        for side in (self.a, self.b):
            want = selectors.EVENT_WRITE if side.out else 0
            if not side.eof and not side.peer.out:
                want |= selectors.EVENT_READ
            if want == side.events:
                continue
            if side.events and want:
                self.sel.modify(side.sock, want, (self, side))
            elif side.events:
                self.sel.unregister(side.sock)
            else:
                self.sel.register(side.sock, want, (self, side))
            side.events = want

    def close(self) -> None:
        self.closed = True
        for side in (self.a, self.b):
            if side.events:
                self.sel.unregister(side.sock)
                side.events = 0
            side.sock.close()
        self.links.discard(self)


def serve(listener: socket.socket, target: str) -> None:
    sel = selectors.DefaultSelector()
    links: set[_Link] = set()
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ, None)
    while True:
        for key, mask in sel.select():
            if key.data is None:
                try:
                    client, _ = listener.accept()
                except OSError:
                    continue
                if len(links) >= MAX_LINKS:
                    client.close()
                    continue
                proxy = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    proxy.settimeout(UNIX_CONNECT_TIMEOUT_S)
                    proxy.connect(target)
                except OSError:
                    proxy.close()
                    client.close()
                    continue
                client.setblocking(False)
                proxy.setblocking(False)
                _Link(sel, links, client, proxy)
            else:
                link, side = key.data
                link.handle(side, mask)


def main(argv: list[str]) -> int:
    port, target = int(argv[1]), argv[2]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
    except OSError as exc:
        print(f"sealgate-egress-relay: cannot listen on 127.0.0.1:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    if os.fork() != 0:
        return 0  # listening: the init shell may start the tool
    # The tool's stdout and stderr are the run's output; the relay writes nothing there.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    serve(listener, target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
