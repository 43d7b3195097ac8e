#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Misbehaving (and minimal well-behaved) SMTP/POP3 servers for the
mail_client suites.

  fake-server.py [--life SECS] [--log FILE] PORT_FILE MODE

Listens on a free 127.0.0.1 port, writes the port number to PORT_FILE
(written whole, then renamed into place, so a reader never sees half of
it), and serves every connection in MODE until SECS (default 30) have
passed, then exits: a test can never hang on it. Every line a client
sends is appended to the --log FILE, as received (CR LF shown as \\r\\n),
one connection after another, each preceded by "== connection N".

Modes:
  silent         accept, say nothing, keep the connection open
  binary         a greeting of binary junk (NUL, ESC sequences, high
                 bytes), then junk again for every line received; hangs
                 up after 20 lines
  endless-line   one line that never ends, until the client hangs up
  smtp-flood     an endless multi-line SMTP reply ("220-..." lines)
  smtp-bad-codes greeting 220, then replies with no valid code ("2",
                 "", "25x", "999 what", "250" alone, ...) in turn, the
                 turn going on from one connection to the next
  smtp-cut       greeting "220 fake Service re" and then the connection
                 closes in the middle of the line
  smtp-cut-ehlo  a good greeting; the EHLO reply stops in the middle of a
                 continuation line and the connection closes
  smtp-helo-only an RFC 821 server: EHLO gets "500", HELO "250"; takes
                 the mail and logs it
  pop3-stall     POP3 greeting, then never answers USER
  pop3-endless-capa   login works; the CAPA reply never ends with "."
                 (200000 lines, then the connection closes)
  pop3-cut-top   login works, STAT says 1 message, TOP's reply stops in
                 the middle of a header line and the connection closes
  pop3-huge-count  login works, STAT claims 18446744073709551615
                 messages, TOP and RETR get "-ERR"; hangs up after 300
                 commands
  pop3-long-fields login works, 1 message whose From: and Subject: are
                 20000 characters long and whose lines carry control
                 characters; RETR sends it too
  pop3-minimal   an RFC 1939 server without CAPA and TOP (both "-ERR"):
                 USER/PASS (any), STAT, LIST, RETR, DELE, QUIT over two
                 fixed messages
  pop3-pipelining-no-top  the same, but CAPA lists PIPELINING (and still
                 no TOP)
"""

import os
import socket
import sys
import threading
import time

JUNK = (b"\x00\x01\x1b[2J\x1b]0;owned\x07\xff\xfe\x80\x9b31m"
        b"\x1bc\x7f\x08\x08\x08\x00")


class Conn:
    def __init__(self, sock, number, log):
        self.sock = sock
        self.file = sock.makefile("rb")
        self.number = number
        self.log = log

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self, text):
        self.send(text + "\r\n")

    def read(self):
        """One line from the client, logged; None when it hung up."""
        data = self.file.readline(100000)
        if not data:
            return None
        if self.log:
            with open(self.log, "a") as f:
                f.write(data.decode("latin-1").replace("\r", "\\r")
                        .replace("\n", "\\n") + "\n")
        return data.rstrip(b"\r\n").decode("latin-1")


def mode_silent(c):
    while c.read() is not None:
        pass


def mode_binary(c):
    c.send(JUNK + b"\r\n")
    for _ in range(20):
        if c.read() is None:
            return
        c.send(JUNK + b" \x00\xff\r\n")


def mode_endless_line(c):
    chunk = b"x" * 65536
    while True:
        c.send(chunk)


def mode_smtp_flood(c):
    chunk = b"220-flood flood flood flood flood flood\r\n" * 1000
    while True:
        c.send(chunk)


BAD_CODES = ["2", "", "25x", "999 what", "250", "-250 dash", "2500 x",
             "\xff\xfe0 high"]
bad_code_count = [0]


def mode_smtp_bad_codes(c):
    c.line("220 fake Service ready")
    while c.read() is not None:
        # One rotation over all connections: each new connection's first
        # command gets the next bad reply.
        i = bad_code_count[0]
        bad_code_count[0] += 1
        c.send(BAD_CODES[i % len(BAD_CODES)].encode("latin-1") + b"\r\n")


def mode_smtp_cut(c):
    c.send(b"220 fake Service re")


def mode_smtp_cut_ehlo(c):
    c.line("220 fake Service ready")
    if c.read() is None:
        return
    c.send(b"250-fake Hello\r\n250-PIPELI")


def mode_smtp_helo_only(c):
    c.line("220 fake Service ready")
    while True:
        cmd = c.read()
        if cmd is None:
            return
        verb = cmd.split(" ")[0].split(":")[0].upper()
        if verb == "EHLO":
            c.line("500 Syntax error, command unrecognized")
        elif verb == "HELO":
            c.line("250 OK Hello")
        elif verb in ("MAIL", "RCPT"):
            c.line("250 OK")
        elif verb == "DATA":
            c.line('354 Enter mail, end with "." on a line by itself')
            while True:
                data = c.read()
                if data is None:
                    return
                if data == ".":
                    break
            c.line("250 OK Message accepted for delivery")
        elif verb == "QUIT":
            c.line("221 fake Service closing transmission channel")
            return
        else:
            c.line("500 Syntax error, command unrecognized")


def pop3_login(c):
    """Greeting, USER, PASS (any): True when logged in. A CAPA before
    them gets "-ERR", as from a server that has no capabilities to tell
    before a login."""
    c.line("+OK POP3 server is ready")
    for reply in ("+OK send PASS", "+OK maildrop ready"):
        while True:
            cmd = c.read()
            if cmd is None:
                return False
            if cmd.split(" ")[0].upper() != "CAPA":
                break
            c.line("-ERR not before a login")
        c.line(reply)
    return True


def mode_pop3_stall(c):
    c.line("+OK POP3 server is ready")
    while c.read() is not None:
        pass


def mode_pop3_endless_capa(c):
    if not pop3_login(c) or c.read() is None:
        return
    c.line("+OK Capability list follows")
    chunk = b"X-NEVER-ENDING\r\n" * 1000
    for _ in range(200):
        c.send(chunk)


def mode_pop3_cut_top(c):
    if not pop3_login(c):
        return
    while True:
        cmd = c.read()
        if cmd is None:
            return
        verb = cmd.split(" ")[0].upper()
        if verb == "CAPA":
            c.send(b"+OK\r\nTOP\r\nPIPELINING\r\n.\r\n")
        elif verb == "STAT":
            c.line("+OK 1 60")
        elif verb == "TOP":
            c.send(b"+OK\r\nFrom: cut@test.example\r\nSubj")
            return
        else:
            c.line("-ERR no")


def mode_pop3_huge_count(c):
    if not pop3_login(c):
        return
    for _ in range(300):
        cmd = c.read()
        if cmd is None:
            return
        verb = cmd.split(" ")[0].upper()
        if verb == "CAPA":
            c.send(b"+OK\r\nTOP\r\n.\r\n")
        elif verb == "STAT":
            c.line("+OK 18446744073709551615 0")
        else:
            c.line("-ERR no such message")


LONG_MESSAGE = (b"From: " + b"f" * 20000 + b"@test.example\r\n"
                b"Subject: " + b"s\x1b[2J" * 5000 + b"\r\n"
                b"Received: 2026-11-27 : 21 : 04\r\n"
                b"\r\n"
                b"body \x00\x07\x1b[31m red\r\n"
                b".\r\n")


def mode_pop3_long_fields(c):
    if not pop3_login(c):
        return
    while True:
        cmd = c.read()
        if cmd is None:
            return
        verb = cmd.split(" ")[0].upper()
        if verb == "CAPA":
            c.send(b"+OK\r\nTOP\r\nPIPELINING\r\n.\r\n")
        elif verb == "STAT":
            c.line("+OK 1 %d" % len(LONG_MESSAGE))
        elif verb in ("TOP", "RETR"):
            c.send(b"+OK message follows\r\n" + LONG_MESSAGE)
        elif verb == "QUIT":
            c.line("+OK bye")
            return
        else:
            c.line("-ERR no")


MINIMAL = [
    "From: one@test.example\r\nTo: bob@test.example\r\nSubject: first\r\n"
    "Received: 2026-11-27 : 21 : 04\r\nbody one\r\n",
    "From: two@test.example\r\nTo: bob@test.example\r\nSubject: second\r\n"
    "Received: 2026-11-28 : 08 : 15\r\nbody two\r\n",
]


def mode_pop3_minimal(c, capa=None):
    if not pop3_login(c):
        return
    deleted = set()
    while True:
        cmd = c.read()
        if cmd is None:
            return
        words = cmd.split(" ")
        verb = words[0].upper()
        try:
            n = int(words[1]) if len(words) > 1 else 0
        except ValueError:
            n = 0
        live = [i for i in range(len(MINIMAL)) if i not in deleted]
        if verb == "CAPA" and capa is not None:
            c.send(b"+OK Capability list follows\r\n" +
                   b"".join(k + b"\r\n" for k in capa) + b".\r\n")
        elif verb == "STAT":
            c.line("+OK %d %d" % (len(live),
                                   sum(len(MINIMAL[i]) for i in live)))
        elif verb == "LIST":
            c.line("+OK")
            for i in live:
                c.line("%d %d" % (i + 1, len(MINIMAL[i])))
            c.line(".")
        elif verb == "RETR" and 1 <= n <= len(MINIMAL) and n - 1 in live:
            c.line("+OK %d octets" % len(MINIMAL[n - 1]))
            c.send(MINIMAL[n - 1] + ".\r\n")
        elif verb == "DELE" and 1 <= n <= len(MINIMAL) and n - 1 in live:
            deleted.add(n - 1)
            c.line("+OK message %d deleted" % n)
        elif verb == "QUIT":
            c.line("+OK bye")
            return
        else:
            c.line("-ERR unrecognized command")


def mode_pop3_pipelining_no_top(c):
    mode_pop3_minimal(c, capa=[b"USER", b"PIPELINING"])


MODES = {name[5:].replace("_", "-"): fn for name, fn in globals().items()
         if name.startswith("mode_")}


def serve(sock, number, mode, log):
    if log:
        with open(log, "a") as f:
            f.write("== connection %d\n" % number)
    c = Conn(sock, number, log)
    try:
        mode(c)
    except OSError:
        pass
    finally:
        try:
            sock.close()
        except OSError:
            pass


def main(argv):
    life, log = 30.0, None
    while len(argv) > 1 and argv[1].startswith("--"):
        if argv[1] == "--life":
            life = float(argv[2])
        elif argv[1] == "--log":
            log = argv[2]
        else:
            sys.exit("fake-server.py: unknown option " + argv[1])
        del argv[1:3]
    if len(argv) != 3 or argv[2] not in MODES:
        sys.exit("usage: fake-server.py [--life SECS] [--log FILE] "
                 "PORT_FILE MODE\nmodes: " + " ".join(sorted(MODES)))
    port_file, mode = argv[1], MODES[argv[2]]
    if log:
        open(log, "w").close()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % listener.getsockname()[1])
    os.rename(port_file + ".tmp", port_file)
    deadline = time.monotonic() + life
    number = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        listener.settimeout(left)
        try:
            sock, _ = listener.accept()
        except socket.timeout:
            break
        number += 1
        threading.Thread(target=serve, args=(sock, number, mode, log),
                         daemon=True).start()
    # Daemon threads die with the process: nothing outlives the deadline.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
