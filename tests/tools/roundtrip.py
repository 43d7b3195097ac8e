#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""SMTP + POP3 round trip through a supervisor, for the supervisor suites
(systemd units, xinetd, the launchers). Needs only the standard library,
so that it also runs inside a container from stdin (python3 - ARGS).

  roundtrip.py HOST SMTP_PORT POP3_PORT LOGIN PASSWORD TOKEN [PAUSE]

  1. smtplib, as a mail program uses it: EHLO, then one message to
     LOGIN with Subject TOKEN, a body line holding TOKEN and a line
     that begins with a dot; QUIT.
  2. poplib: USER/PASS, STAT, LIST, RETR of every message, DELE of the one
     that holds TOKEN, QUIT; then a second login that must find it gone.

Every byte the server sends is recorded, up to the end of the connection
(after QUIT the client keeps reading until the server hangs up), and must
be a protocol reply: an SMTP line is "NNN text" or "NNN-text", a POP3
status line "+OK ..." or "-ERR ...", and every line ends in CRLF. So a log
line that reached the client (xinetd gives the handler the client on fds
0, 1 and 2) fails the round trip.

With PAUSE (seconds), each session waits that long before its QUIT, so
that a handler is still running when journald reads the log lines it
sent: journald (before systemd 256) finds a sender's unit from its /proc
entry, which an exited handler no longer has.

Prints what it did, one step a line ("smtp 250 ...", "pop3 stat 1 ...",
"retr" lines with "  " in front); on a problem prints "FAIL reason" and
exits 1.
"""

import poplib
import re
import smtplib
import socket
import sys
import time

TIMEOUT = 15
PAUSE = 0.0     # seconds before each QUIT (main)
SMTP_LINE = re.compile(rb"^[2-5][0-9]{2}([ -][^\r\n]*)?\r\n$")
POP3_STATUS = re.compile(rb"^(\+OK|-ERR)( [^\r\n]*)?\r\n$")


class Recorder:
    """A file object's readline that keeps every line read."""

    def __init__(self, f, lines):
        self.f = f
        self.lines = lines

    def readline(self, size=-1):
        line = self.f.readline(size)
        if line:
            self.lines.append(line)
        return line

    def close(self):
        self.f.close()


def drain(sock, lines):
    """Read until the server hangs up (bounded); keep what came."""
    deadline = time.monotonic() + TIMEOUT
    data = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            raise OSError("the server did not hang up after QUIT")
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    if data:
        lines.extend(data.splitlines(keepends=True))


class SMTP(smtplib.SMTP):
    def __init__(self, *args, **kw):
        self.wire = []
        super().__init__(*args, **kw)

    @property
    def file(self):
        return self.__dict__.get("_file")

    @file.setter
    def file(self, f):
        self.__dict__["_file"] = None if f is None else Recorder(f, self.wire)

    def quit(self):
        res = self.docmd("quit")
        self.ehlo_resp = self.helo_resp = None
        self.esmtp_features = {}
        self.does_esmtp = False
        if self.file is not None:
            self.file.close()
            self.__dict__["_file"] = None
        drain(self.sock, self.wire)
        self.close()
        return res


class POP3(poplib.POP3):
    def __init__(self, *args, **kw):
        self.wire = []
        super().__init__(*args, **kw)

    @property
    def file(self):
        return self.__dict__.get("_file")

    @file.setter
    def file(self, f):
        self.__dict__["_file"] = None if f is None else Recorder(f, self.wire)

    def quit(self):
        resp = self._shortcmd("QUIT")
        drain(self.sock, self.wire)
        self.close()
        return resp


def check_smtp_wire(lines):
    for line in lines:
        if not SMTP_LINE.match(line):
            return "not an SMTP reply line: %r" % line
    return None


def check_pop3_wire(lines):
    """Every line ends in CRLF, and the first (the greeting) and the last
    (the reply to QUIT, then the hang-up) are status lines. A stray line
    between replies would already have broken poplib, which reads each
    reply's first line as a status line."""
    if not lines:
        return "no POP3 reply at all"
    for line in lines:
        if not line.endswith(b"\r\n"):
            return "POP3 line without CRLF: %r" % line
    for line in (lines[0], lines[-1]):
        if not POP3_STATUS.match(line):
            return "not a POP3 status line: %r" % line
    return None


def fail(msg):
    print("FAIL " + msg)
    sys.exit(1)


def smtp_send(host, port, login, token):
    body = ("From: sender@client.example\n"
            "To: %s@localhost\n"
            "Subject: %s\n"
            "\n"
            "round trip %s\n"
            ".leading dot\n"
            "end\n" % (login, token, token))
    smtp = SMTP(host, port, local_hostname="client.example", timeout=TIMEOUT)
    try:
        code, _ = smtp.ehlo()
        print("smtp ehlo %d" % code)
        refused = smtp.sendmail("sender@client.example",
                                [login + "@localhost"], body)
        if refused:
            fail("recipient refused: %r" % (refused,))
        print("smtp accepted")
        time.sleep(PAUSE)
        code, msg = smtp.quit()
        print("smtp quit %d" % code)
    except (smtplib.SMTPException, OSError) as e:
        fail("SMTP: %r; server sent %r" % (e, smtp.wire))
    problem = check_smtp_wire(smtp.wire)
    if problem:
        fail(problem)
    print("smtp wire ok (%d lines)" % len(smtp.wire))


def pop3_fetch(host, port, login, password, token):
    pop = POP3(host, port, timeout=TIMEOUT)
    found = None
    try:
        pop.user(login)
        pop.pass_(password)
        count, octets = pop.stat()
        print("pop3 stat %d %d" % (count, octets))
        resp, listing, _ = pop.list()
        if len(listing) != count:
            fail("LIST shows %d messages, STAT %d" % (len(listing), count))
        for n in range(1, count + 1):
            resp, msg, _ = pop.retr(n)
            for line in msg:
                print("  " + line.decode("utf-8", "replace"))
            if any(token.encode() in line for line in msg):
                found = n
                if b"..leading dot" in msg or b".leading dot" not in msg:
                    fail("the dot-stuffed line came back wrong: %r" % msg)
        if found is None:
            fail("no message holds %s" % token)
        print("pop3 dele %s" % pop.dele(found).decode())
        time.sleep(PAUSE)
        print("pop3 quit %s" % pop.quit().decode())
    except (poplib.error_proto, OSError) as e:
        fail("POP3: %r; server sent %r" % (e, pop.wire))
    problem = check_pop3_wire(pop.wire)
    if problem:
        fail(problem)
    print("pop3 wire ok (%d lines)" % len(pop.wire))

    # The deletion was committed at QUIT.
    pop = POP3(host, port, timeout=TIMEOUT)
    try:
        pop.user(login)
        pop.pass_(password)
        for n in range(1, pop.stat()[0] + 1):
            if any(token.encode() in line for line in pop.retr(n)[1]):
                fail("%s is still there after DELE and QUIT" % token)
        time.sleep(PAUSE)
        pop.quit()
    except (poplib.error_proto, OSError) as e:
        fail("POP3 (second login): %r; server sent %r" % (e, pop.wire))
    problem = check_pop3_wire(pop.wire)
    if problem:
        fail(problem)
    print("pop3 deleted ok")


def main(argv):
    global PAUSE
    if len(argv) not in (7, 8):
        sys.stderr.write(__doc__)
        return 64
    host, sport, pport, login, password, token = argv[1:7]
    PAUSE = float(argv[7]) if len(argv) == 8 else 0.0
    smtp_send(host, int(sport), login, token)
    pop3_fetch(host, int(pport), login, password, token)
    print("round trip ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
