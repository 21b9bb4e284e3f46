"""paho reads the broker's bytes in large chunks, not three ``recv`` calls a packet.

paho-mqtt's ``_packet_read`` asks its socket for 1 byte of command, then the remaining-length
bytes one at a time, then the rest: at least three ``recv`` system calls for every PUBACK and
every incoming message (issue 15: 100,000 receivers are ~200,000 packets a slot). Here paho's
plain TCP socket is wrapped in :class:`BufferedSocket`, whose ``recv`` reads up to
:data:`CHUNK` bytes at once and hands paho its bytes from that buffer. paho's loop already knows
this shape (its TLS and websocket sockets have it): while ``pending()`` says bytes are buffered
it does not wait in ``select()``, it reads them.

Only paho's plain TCP socket is wrapped: TLS, websockets, unix sockets and proxies keep exactly
the socket paho makes. The wrapping goes through paho's ``Client._create_socket`` (present in
paho-mqtt 2.1 and 2.2); a paho without it keeps its own socket (:func:`read_in_chunks` says so,
and ``tests/transport/test_buffered.py`` fails, to be noticed).

Everything but ``recv`` is the socket's own: ``send`` and ``fileno`` are its bound methods, any
other attribute is looked up on it. A closed connection still reads as ``b""`` (once the buffer
is empty), a socket with nothing to read still raises ``BlockingIOError``, and errors are the
socket's own, so paho sees a lost connection, and reconnects, as before.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

#: how much one ``recv`` system call may read: ~5,000 PUBACKs or ~600 acks of ~100 bytes
CHUNK = 65_536


class _Around:
    """A wrapper of paho's socket ``sock``: what it does not define itself is the socket's own
    (setblocking, settimeout, getpeername, close, fileno, ...)."""

    __slots__ = ("sock",)

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def __getattr__(self, name: str) -> Any:
        if name == "sock":  # not set yet: no endless lookup
            raise AttributeError(name)
        return getattr(self.sock, name)


class BufferedSocket(_Around):
    """A connected TCP socket whose reads come from a buffer filled ``CHUNK`` bytes at a time.

    Used from paho's network thread only (its reads); ``send`` may come from any thread and
    goes straight to the socket.
    """

    __slots__ = ("_buf", "_pos", "fileno", "send")

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self._buf = b""  # bytes read from the socket, not yet handed on from ``_pos``
        self._pos = 0
        self.send = sock.send
        self.fileno = sock.fileno

    def recv(self, bufsize: int) -> bytes:
        """Up to ``bufsize`` bytes: from the buffer, or else from one read of the socket.

        ``b""`` when the peer closed the connection (and nothing is buffered);
        ``BlockingIOError`` when nothing has arrived; the socket's own errors otherwise.
        """
        buf = self._buf
        if not buf:
            buf = self.sock.recv(max(bufsize, CHUNK))
            if len(buf) <= bufsize:  # all of it (also b"", the connection closed)
                return buf
        pos = self._pos
        end = pos + bufsize
        if end >= len(buf):
            self._buf = b""
            self._pos = 0
            return buf[pos:]
        self._buf = buf
        self._pos = end
        return buf[pos:end]

    def pending(self) -> int:
        """Bytes read from the socket and not handed on yet (paho's loop doesn't wait then)."""
        return len(self._buf) - self._pos

    def close(self) -> None:
        self._buf = b""
        self._pos = 0
        self.sock.close()

    def __repr__(self) -> str:
        return f"<BufferedSocket {self.pending()} bytes buffered, {self.sock!r}>"


def read_in_chunks(client: Any) -> bool:
    """Make paho's ``client`` read its plain TCP connections through :class:`BufferedSocket`.

    From its next connection on. False (and nothing changed) when this paho has no
    ``_create_socket`` to wrap: it then reads as paho does.
    """
    make: Callable[[], Any] | None = getattr(client, "_create_socket", None)
    if make is None:
        return False

    def create_socket() -> Any:
        sock = make()
        plain = getattr(client, "_transport", None) == "tcp" and not getattr(client, "_ssl", True)
        # exactly a socket.socket: not an ssl.SSLSocket, a proxy's socket nor a websocket wrapper
        return BufferedSocket(sock) if plain and type(sock) is socket.socket else sock

    client._create_socket = create_socket
    return True


# ---- paho's wake-ups ------------------------------------------------------------------------
#
# With paho's network thread running (``loop_start``), every ``publish`` from another thread
# queues its packet and writes one byte to a socket pair, so that the network thread leaves its
# ``select()`` and writes the packet out: a system call in our thread and a wake-up of paho's for
# every command of a slot. One byte is enough while the network thread has not taken the last
# one yet: the packets queued meanwhile are written with the first. :func:`coalesce_wakes` puts
# :class:`WakeSender` and :class:`WakeReceiver` around that pair.
#
# Why no wake-up is lost: a publisher queues its packet *before* it asks to wake paho; it skips
# the byte only while ``pending`` is set, that is, after a byte was (or is about to be) written
# and before paho's loop read it. paho's loop clears ``pending`` right *after* the ``recv`` it
# makes when that byte wakes it, and only then writes every packet queued: the skipped one among
# them. (Cleared before the ``recv``, a byte written in between would be read with no wake-up
# left pending, and every later publish would wait for paho's next read or its 1 s timeout:
# a 100,000 slot took 37 s instead of 21 that way.)
#
# paho's network thread queues packets too: a PUBACK for every QoS 1 message it reads (every
# receiver's ack), a PINGREQ, a SUBSCRIBE from the connect callback. It asks to wake itself
# then, a system call to write a byte and another to read it back, and one more turn of its
# loop (issue 15: in a profile of a slot to 100,000, writing those bytes was 2 % of the
# service's samples, reading the pair's bytes back 3 %). No byte is needed: each turn
# of paho's loop (``Client._loop``) first asks ``want_write()`` (any packet queued) and then
# waits in ``select()`` for the socket to be writable too, so a packet it queued in one turn is
# written in the next. :class:`WakeSender` writes nothing when called from that thread.


class _Wake:
    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending = False


class WakeSender(_Around):
    """The publishers' end of paho's socket pair: one byte while none is pending, none from
    paho's network thread ``loop`` itself."""

    __slots__ = ("loop", "wake")

    def __init__(
        self, sock: socket.socket, wake: _Wake, loop: threading.Thread | None = None
    ) -> None:
        super().__init__(sock)
        self.wake = wake
        self.loop = loop

    def send(self, data: bytes) -> int:
        if self.wake.pending or threading.current_thread() is self.loop:
            return len(data)
        self.wake.pending = True
        try:
            return self.sock.send(data)
        except OSError:  # no byte went: the next publish tries again (paho ignores a full pair)
            self.wake.pending = False
            raise


class WakeReceiver(_Around):
    """paho's end: reading the bytes clears ``pending`` (after the read: see above)."""

    __slots__ = ("fileno", "wake")

    def __init__(self, sock: socket.socket, wake: _Wake) -> None:
        super().__init__(sock)
        self.wake = wake
        self.fileno = sock.fileno

    def recv(self, bufsize: int) -> bytes:
        try:
            return self.sock.recv(bufsize)
        finally:
            self.wake.pending = False


def coalesce_wakes(client: Any) -> bool:
    """Put :class:`WakeSender`/:class:`WakeReceiver` around paho's socket pair (made by
    ``loop_start``, kept until the client is dropped). False (nothing changed) when this paho
    has no such pair."""
    reader = getattr(client, "_sockpairR", None)
    writer = getattr(client, "_sockpairW", None)
    if type(reader) is not socket.socket or type(writer) is not socket.socket:
        return False
    wake = _Wake()
    loop = getattr(client, "_thread", None)  # paho's network thread, made with the pair
    client._sockpairR = WakeReceiver(reader, wake)
    client._sockpairW = WakeSender(
        writer, wake, loop if isinstance(loop, threading.Thread) else None
    )
    return True
