#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""POP3 client driver for the bats suites.

  pop3client.py apop LOGIN PASSWORD CMD ARG...
      Runs CMD (the handler) with pipes, reads its greeting, and sends
      "APOP LOGIN DIGEST" with the RFC 1939 digest: the lowercase hex MD5
      of the greeting's timestamp (from "<" to ">") followed by PASSWORD.
      Then sends each line of stdin (CRLF added), closes the handler's
      input and prints every reply line, CR removed; the greeting's
      timestamp is printed as <TIMESTAMP>. Prints "DIGEST-OF <timestamp>"
      first, so a test can see what was hashed, and exits with the
      handler's status. Exit 3 if a reply line lacks its CRLF, 4 if the
      greeting has no timestamp.
  pop3client.py timed-login LOGIN PASSWORD CMD ARG...
      Runs CMD (the handler) with pipes, reads its greeting, sends USER
      LOGIN and reads the reply, then sends PASS PASSWORD and prints
      "MILLISECONDS REPLY": the time from sending PASS to its reply.
      Then sends QUIT and exits with the handler's status.
  pop3client.py poplib PORT LOGIN PASSWORD ACTION...
      Python's poplib against 127.0.0.1:PORT: user/pass_, then each
      ACTION in turn, printing what poplib returns:
        stat          "stat COUNT OCTETS"
        list          "list RESP", then one "  N SIZE" line per message
        retr N        "retr RESP", then each line of the message
                      ("  " in front), then "octets N" (poplib's count)
        top N K       like retr
        uidl          "uidl RESP", then one "  N UID" line per message
        dele N        "dele RESP"
        quit          "quit RESP"
      A poplib error prints "error TEXT" and ends with exit 1.
"""

import hashlib
import poplib
import re
import subprocess
import sys
import time

TIMEOUT = 15


def cmd_apop(login, password, argv):
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    greeting = proc.stdout.readline()
    status = 0
    m = re.search(rb"<[^<>]*>", greeting)
    if m is None:
        print("NO TIMESTAMP in " + greeting.decode("latin-1").rstrip())
        proc.kill()
        proc.wait()
        return 4
    stamp = m.group(0)
    digest = hashlib.md5(stamp + password.encode()).hexdigest()
    print("DIGEST-OF " + stamp.decode("latin-1"))
    script = "APOP %s %s\r\n" % (login, digest)
    for line in sys.stdin.read().splitlines():
        script += line + "\r\n"
    out, _ = proc.communicate(script.encode(), timeout=60)
    replies = greeting.replace(stamp, b"<TIMESTAMP>") + out
    for line in replies.split(b"\n")[:-1]:
        if not line.endswith(b"\r"):
            status = 3
        print(line.rstrip(b"\r").decode("latin-1"))
    if replies and not replies.endswith(b"\n"):
        status = 3
    if status:
        print("a reply line lacks its CRLF")
        return status
    return proc.returncode


def cmd_timed_login(login, password, argv):
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdin.write(("USER %s\r\n" % login).encode())
    proc.stdin.flush()
    proc.stdout.readline()
    start = time.monotonic()
    proc.stdin.write(("PASS %s\r\n" % password).encode())
    proc.stdin.flush()
    reply = proc.stdout.readline()
    elapsed = time.monotonic() - start
    print("%d %s" % (elapsed * 1000, reply.decode("latin-1").rstrip("\r\n")))
    proc.communicate(b"QUIT\r\n", timeout=60)
    return proc.returncode


def say(line):
    """Print one line of bytes as they are."""
    sys.stdout.buffer.write(line + b"\n")
    sys.stdout.buffer.flush()


def show(tag, resp, items=()):
    say(tag.encode() + b" " + resp)
    for item in items:
        say(b"  " + item)


def cmd_poplib(port, login, password, actions):
    box = poplib.POP3("127.0.0.1", int(port), timeout=TIMEOUT)
    try:
        box.user(login)
        box.pass_(password)
        for action in actions:
            words = action.split()
            verb = words[0]
            if verb == "stat":
                count, octets = box.stat()
                say(b"stat %d %d" % (count, octets))
            elif verb == "list":
                resp, items, _ = box.list()
                show("list", resp, items)
            elif verb in ("retr", "top"):
                if verb == "retr":
                    resp, items, octets = box.retr(int(words[1]))
                else:
                    resp, items, octets = box.top(int(words[1]), int(words[2]))
                show(verb, resp, items)
                say(b"octets %d" % octets)
            elif verb == "uidl":
                resp, items, _ = box.uidl()
                show("uidl", resp, items)
            elif verb == "dele":
                show("dele", box.dele(int(words[1])))
            elif verb == "quit":
                show("quit", box.quit())
                return 0
            else:
                say(b"unknown action " + action.encode())
                return 2
    except poplib.error_proto as e:
        say(b"error " + b" ".join(
            a if isinstance(a, bytes) else str(a).encode() for a in e.args))
        return 1
    return 0


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "apop":
        return cmd_apop(sys.argv[2], sys.argv[3], sys.argv[4:])
    if len(sys.argv) >= 5 and sys.argv[1] == "timed-login":
        return cmd_timed_login(sys.argv[2], sys.argv[3], sys.argv[4:])
    if len(sys.argv) >= 5 and sys.argv[1] == "poplib":
        return cmd_poplib(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
