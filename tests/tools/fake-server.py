#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Misbehaving (and minimal well-behaved) SMTP/POP3 servers for the
mail_client suites.

  fake-server.py [--life SECS] [--log FILE] [--cert PEM --key PEM]
                 PORT_FILE MODE

Listens on a free 127.0.0.1 port, writes the port number to PORT_FILE
(written whole, then renamed into place, so a reader never sees half of
it), and serves every connection in MODE until SECS (default 30) have
passed, then exits: a test can never hang on it. Every line a client
sends is appended to the --log FILE, as received (CR LF shown as \\r\\n),
one connection after another, each preceded by "== connection N". In
the TLS modes (which need --cert and --key: the server's certificate
chain and key) the log also shows "== tls" where the TLS session starts,
so that what follows it came inside TLS; "== handshake failed: REASON"
when it does not; and "== N bytes after STARTTLS in clear text" when the
client sent more than the command before the handshake.

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

TLS modes (--cert/--key). pop3s-* do the TLS handshake first, as a POP3
server on port 995 does:
  pop3s-garbage-raw  the handshake, then "+OK POP3 server is ready" and
                 binary junk written on the socket as they are, outside
                 any TLS record; then waits for the client to hang up
  pop3s-garbage  the handshake, then binary junk inside TLS instead of a
                 greeting, and junk again for every line received; hangs
                 up after 20 lines
  pop3s-stall    the handshake, then never a byte; the connection stays
                 open until the client hangs up
  pop3s-cut      the handshake, then "+OK POP3 rea" (no CR LF) inside TLS,
                 and the TCP connection closes with no close_notify alert
  pop3s-user-only  a well-behaved minimal POP3 server: CAPA lists USER,
                 TOP and PIPELINING but no SASL (AUTH gets "-ERR"), USER
                 and PASS take anything, the maildrop is empty; STAT,
                 LIST, NOOP and QUIT work
  smtp-starttls-inject  greeting, an EHLO reply listing STARTTLS; STARTTLS
                 gets "220 Go ahead\\r\\n250 injected\\r\\n" in one send, then
                 the handshake. Inside TLS a strict minimal SMTP server:
                 EHLO (or HELO) first, else "503"; then MAIL, RCPT, DATA
                 and the message ("250 2.0.0 fake accepted"), RSET, NOOP,
                 QUIT. A client that took the injected "250" for a reply
                 inside TLS is one reply out of step: its DATA gets "250"
                 for the RCPT, not "354"
  smtp-starttls-stall  greeting, an EHLO reply listing STARTTLS, STARTTLS
                 answered "220 Go ahead", and then never a byte: no
                 handshake; the connection stays open until the client
                 hangs up
"""

import os
import socket
import ssl
import sys

from listener import serve_until

JUNK = (b"\x00\x01\x1b[2J\x1b]0;owned\x07\xff\xfe\x80\x9b31m"
        b"\x1bc\x7f\x08\x08\x08\x00")


MAX_LINE = 100000


class Conn:
    def __init__(self, sock, number, log, tls):
        self.sock = sock
        # Lines are cut from a buffer of our own, not a buffered file, so
        # that at STARTTLS nothing the client sent after the command sits
        # unseen in a reader that TLS bypasses.
        self.buf = b""
        self.number = number
        self.log = log
        self.tls = tls

    def note(self, text):
        """A "== TEXT" line in the log."""
        if self.log:
            with open(self.log, "a") as f:
                f.write("== %s\n" % text)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self, text):
        self.send(text + "\r\n")

    def read_data(self):
        """The lines of a DATA up to its "." line: True, or False when the
        client hung up first."""
        while True:
            data = self.read()
            if data is None:
                return False
            if data == ".":
                return True

    def read(self):
        """One line from the client (at most MAX_LINE bytes), logged; None
        when it hung up."""
        while b"\n" not in self.buf and len(self.buf) < MAX_LINE:
            data = self.sock.recv(65536)
            if not data:
                break
            self.buf += data
        end = self.buf.find(b"\n") + 1 or min(len(self.buf), MAX_LINE)
        data, self.buf = self.buf[:end], self.buf[end:]
        if not data:
            return None
        if self.log:
            with open(self.log, "a") as f:
                f.write(data.decode("latin-1").replace("\r", "\\r")
                        .replace("\n", "\\n") + "\n")
        return data.rstrip(b"\r\n").decode("latin-1")

    def start_tls(self):
        """The server's side of the TLS handshake: True when it worked.
        Logs "== tls", or why it failed."""
        if self.buf:
            self.note("%d bytes after STARTTLS in clear text" % len(self.buf))
            self.buf = b""
        try:
            self.sock = self.tls.wrap_socket(self.sock, server_side=True)
        except (OSError, ValueError) as e:
            self.note("handshake failed: %s" % e)
            return False
        self.note("tls")
        return True

    def drain(self):
        """Take whatever the client sends, unlogged, until it hangs up."""
        while self.sock.recv(65536):
            pass


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
            if not c.read_data():
                return
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


# --- TLS modes -------------------------------------------------------------

def mode_pop3s_garbage_raw(c):
    # Around the TLS session, on the socket itself: the client's TLS layer
    # reads this as a record header that makes no sense.
    os.write(c.sock.fileno(), b"+OK POP3 server is ready\r\n" + JUNK +
             b"\r\n" + JUNK + b"\r\n")
    raw = socket.socket(fileno=os.dup(c.sock.fileno()))
    try:
        while raw.recv(65536):
            pass
    finally:
        raw.close()


def mode_pop3s_garbage(c):
    mode_binary(c)


def mode_pop3s_stall(c):
    c.drain()


def mode_pop3s_cut(c):
    c.send(b"+OK POP3 rea")
    # SSLSocket.shutdown() shuts the TCP connection down without a TLS
    # close_notify alert (unwrap() would send one).
    c.sock.shutdown(socket.SHUT_RDWR)


def mode_pop3s_user_only(c):
    c.line("+OK POP3 server is ready")
    user = None
    logged_in = False
    while True:
        cmd = c.read()
        if cmd is None:
            return
        words = cmd.split(" ")
        verb = words[0].upper()
        if verb == "CAPA":
            c.send(b"+OK Capability list follows\r\nUSER\r\nTOP\r\n"
                   b"PIPELINING\r\n.\r\n")
        elif verb == "QUIT":
            c.line("+OK bye")
            return
        elif verb == "NOOP":
            c.line("+OK")
        elif not logged_in and verb == "USER" and len(words) == 2:
            user = words[1]
            c.line("+OK send PASS")
        elif not logged_in and verb == "PASS" and user is not None:
            logged_in = True
            c.line("+OK maildrop has 0 messages (0 octets)")
        elif logged_in and verb == "STAT":
            c.line("+OK 0 0")
        elif logged_in and verb == "LIST" and len(words) == 1:
            c.line("+OK 0 messages (0 octets)")
            c.line(".")
        elif logged_in and verb in ("RETR", "TOP", "DELE", "LIST"):
            c.line("-ERR no such message")
        else:
            c.line("-ERR unrecognized command")


def smtp_starttls_offer(c):
    """Greeting, EHLO with STARTTLS, until STARTTLS: True when it came."""
    c.line("220 fake ESMTP Service ready")
    while True:
        cmd = c.read()
        if cmd is None:
            return False
        verb = cmd.split(" ")[0].split(":")[0].upper()
        if verb == "EHLO":
            c.send(b"250-fake Hello\r\n250-8BITMIME\r\n250 STARTTLS\r\n")
        elif verb == "HELO":
            c.line("250 fake Hello")
        elif verb == "STARTTLS":
            return True
        elif verb == "QUIT":
            c.line("221 fake closing")
            return False
        else:
            c.line("530 5.7.0 Must issue a STARTTLS command first")


def smtp_inner(c):
    """A strict minimal SMTP server, already greeted: one message at a
    time, EHLO first."""
    hello = False
    state = None
    while True:
        cmd = c.read()
        if cmd is None:
            return
        verb = cmd.split(" ")[0].split(":")[0].upper()
        if verb == "EHLO":
            hello, state = True, None
            c.send(b"250-fake Hello\r\n250 8BITMIME\r\n")
        elif verb == "HELO":
            hello, state = True, None
            c.line("250 fake Hello")
        elif verb == "QUIT":
            c.line("221 2.0.0 fake closing")
            return
        elif verb == "NOOP":
            c.line("250 2.0.0 OK")
        elif verb == "RSET":
            state = None
            c.line("250 2.0.0 OK")
        elif verb == "STARTTLS":
            c.line("503 5.5.1 TLS already active")
        elif not hello:
            c.line("503 5.5.1 EHLO first")
        elif verb == "MAIL" and state is None:
            state = "mail"
            c.line("250 2.1.0 Sender ok")
        elif verb == "RCPT" and state in ("mail", "rcpt"):
            state = "rcpt"
            c.line("250 2.1.5 Recipient ok")
        elif verb == "DATA" and state == "rcpt":
            c.line("354 Enter mail, end with \".\" on a line by itself")
            if not c.read_data():
                return
            state = None
            c.line("250 2.0.0 fake accepted")
        else:
            c.line("503 5.5.1 Bad sequence of commands")


def mode_smtp_starttls_inject(c):
    if not smtp_starttls_offer(c):
        return
    c.send(b"220 Go ahead\r\n250 injected\r\n")
    if c.start_tls():
        smtp_inner(c)


def mode_smtp_starttls_stall(c):
    if not smtp_starttls_offer(c):
        return
    c.line("220 Go ahead")
    c.drain()


MODES = {name[5:].replace("_", "-"): fn for name, fn in globals().items()
         if name.startswith("mode_")}
# The modes that need a certificate; pop3s-* start TLS on connection.
TLS_MODES = {m for m in MODES if m.startswith(("pop3s-", "smtp-starttls-"))}


def serve(sock, number, mode, log, tls, implicit):
    if log:
        with open(log, "a") as f:
            f.write("== connection %d\n" % number)
    c = Conn(sock, number, log, tls)
    try:
        if not implicit or c.start_tls():
            mode(c)
    except OSError:
        pass
    finally:
        try:
            c.sock.close()
        except OSError:
            pass


def main(argv):
    life, log, cert, key, tls = 30.0, None, None, None, None
    while len(argv) > 2 and argv[1].startswith("--"):
        if argv[1] == "--life":
            life = float(argv[2])
        elif argv[1] == "--log":
            log = argv[2]
        elif argv[1] == "--cert":
            cert = argv[2]
        elif argv[1] == "--key":
            key = argv[2]
        else:
            sys.exit("fake-server.py: unknown option " + argv[1])
        del argv[1:3]
    if len(argv) != 3 or argv[2] not in MODES:
        sys.exit("usage: fake-server.py [--life SECS] [--log FILE] "
                 "[--cert PEM --key PEM] PORT_FILE MODE\nmodes: " +
                 " ".join(sorted(MODES)))
    port_file, name = argv[1], argv[2]
    mode = MODES[name]
    if name in TLS_MODES:
        if not cert or not key:
            sys.exit("fake-server.py: mode %s needs --cert and --key" % name)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
    implicit = name.startswith("pop3s-")
    if log:
        open(log, "w").close()
    serve_until(port_file, life,
                lambda sock, number: serve(sock, number, mode, log, tls, implicit))


if __name__ == "__main__":
    main(sys.argv)
