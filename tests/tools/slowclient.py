#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Clients that stall, for tests/deadlines.bats: each one connects to a
listener on 127.0.0.1, does its part of a session in time, then goes slow
in one way, and reports how long the server took to cut it off.

  slowclient.py trickle PORT [--pop3] [--line L]... [--drip TEXT]
      Read the greeting, send each --line L (CR LF added) and read its
      reply, then send TEXT (default "NOOP"), one byte every --every
      seconds (default 0.4), over and over, never a line ending. Prints
      "cut after S s" (from the first dripped byte to the server hanging
      up) and "last: REPLY" (its last reply line).

  slowclient.py tls-trickle PORT [--starttls smtp]
      A TLS ClientHello, one byte every --every seconds: straight away
      (pop3s), or after EHLO and STARTTLS (--starttls smtp). Prints "cut
      after S s" from the first byte.

  slowclient.py noread PORT --send TEXT --log FILE
      Connect with the smallest receive buffer, send TEXT (Python escapes)
      and never read. Waits until FILE (the handler's log) has a
      "timeout" line and prints "cut after S s" from the end of sending.

  slowclient.py steady PORT [--pop3] [--line L]... --every S --send TEXT
      After the --line steps, send TEXT CR LF every S seconds, reading
      each reply, a client that is never idle; prints "cut after S s"
      (from the first TEXT to the hang-up) and "last: REPLY".

Every wait is bounded by --limit (default 20 s); an exit status of 1
means the server never cut the client off within it.
"""

import argparse
import select
import socket
import ssl
import sys
import time


def connect(port: int, rcvbuf: int = 0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        # Before connect, so that the window the server sees is small.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(15)
    s.connect(("127.0.0.1", port))
    return s


class Lines:
    """Reply lines off a socket."""

    def __init__(self, sock: socket.socket, pop3: bool):
        self.sock, self.pop3, self.buf = sock, pop3, b""
        self.last = ""

    def line(self) -> str:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError("server hung up")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\n", 1)
        self.last = raw.rstrip(b"\r").decode("utf-8", "replace")
        return self.last

    def reply(self) -> str:
        """One whole reply: SMTP continuation lines, not POP3 bodies."""
        line = self.line()
        while not self.pop3 and len(line) > 3 and line[3] == "-":
            line = self.line()
        return line

    def command(self, text: str) -> str:
        self.sock.sendall(text.encode() + b"\r\n")
        return self.reply()


def gone(sock: socket.socket, lines: Lines | None) -> bool:
    """Whether the server has hung up; keeps any reply it sent last."""
    ready, _, _ = select.select([sock], [], [], 0)
    if not ready:
        return False
    try:
        data = sock.recv(4096)
    except (ConnectionResetError, ssl.SSLError, OSError):
        return True
    if not data:
        return True
    if lines is not None:
        lines.buf += data
        while b"\n" in lines.buf:
            raw, lines.buf = lines.buf.split(b"\n", 1)
            lines.last = raw.rstrip(b"\r").decode("utf-8", "replace")
    return False


def drip(sock: socket.socket, data: bytes, every: float, limit: float,
         lines: Lines | None) -> float | None:
    """Send data a byte at a time until the server hangs up; the time
    from the first byte, or None when it never did."""
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < limit:
        if gone(sock, lines):
            return time.monotonic() - t0
        try:
            sock.sendall(data[i % len(data):i % len(data) + 1])
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - t0
        i += 1
        end = time.monotonic() + every
        while time.monotonic() < end:
            if gone(sock, lines):
                return time.monotonic() - t0
            time.sleep(0.02)
    return None


def report(cut: float | None, lines: Lines | None) -> int:
    if cut is None:
        print("never cut off")
        return 1
    print(f"cut after {cut:.2f} s")
    if lines is not None:
        print(f"last: {lines.last}")
    return 0


def session(a: argparse.Namespace) -> tuple[socket.socket, Lines]:
    """Connect, read the greeting and run the --line steps in time."""
    sock = connect(a.port)
    lines = Lines(sock, a.pop3)
    lines.reply()
    for text in a.line:
        lines.command(text)
    return sock, lines


def cmd_trickle(a: argparse.Namespace) -> int:
    sock, lines = session(a)
    return report(drip(sock, a.drip.encode(), a.every, a.limit, lines), lines)


def client_hello() -> bytes:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def cmd_tls_trickle(a: argparse.Namespace) -> int:
    sock = connect(a.port)
    if a.starttls == "smtp":
        lines = Lines(sock, False)
        lines.reply()
        lines.command("EHLO client.example")
        if not lines.command("STARTTLS").startswith("220"):
            print(f"no STARTTLS: {lines.last}")
            return 1
    return report(drip(sock, client_hello(), a.every, a.limit, None), None)


def cmd_noread(a: argparse.Namespace) -> int:
    sock = connect(a.port, rcvbuf=1)
    data = a.send.encode().decode("unicode_escape").encode("latin-1")
    sock.setblocking(False)
    sent = 0
    t_end = time.monotonic() + a.limit
    while sent < len(data) and time.monotonic() < t_end:
        try:
            sent += sock.send(data[sent:])
        except BlockingIOError:
            select.select([], [sock], [], 0.1)
    t0 = time.monotonic()
    while time.monotonic() - t0 < a.limit:
        with open(a.log, encoding="utf-8", errors="replace") as f:
            if any(" timeout: " in line for line in f):
                sock.close()
                return report(time.monotonic() - t0, None)
        time.sleep(0.05)
    sock.close()
    return report(None, None)


def cmd_steady(a: argparse.Namespace) -> int:
    sock, lines = session(a)
    t0 = time.monotonic()
    while time.monotonic() - t0 < a.limit:
        try:
            sock.sendall(a.send.encode() + b"\r\n")
            lines.reply()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            return report(time.monotonic() - t0, lines)
        end = time.monotonic() + a.every
        while time.monotonic() < end:
            if gone(sock, lines):
                return report(time.monotonic() - t0, lines)
            time.sleep(0.02)
    return report(None, lines)


def main() -> int:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("trickle", "tls-trickle", "noread", "steady"):
        q = sub.add_parser(name)
        q.add_argument("port", type=int)
        q.add_argument("--every", type=float, default=0.4)
        q.add_argument("--limit", type=float, default=20)
        q.add_argument("--pop3", action="store_true")
        q.add_argument("--line", action="append", default=[])
        q.add_argument("--drip", default="NOOP")
        q.add_argument("--starttls", choices=["smtp"])
        q.add_argument("--send", default="NOOP")
        q.add_argument("--log")
    a = p.parse_args()
    return {"trickle": cmd_trickle, "tls-trickle": cmd_tls_trickle,
            "noread": cmd_noread, "steady": cmd_steady}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
