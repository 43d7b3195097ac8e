#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Log in to a POP3 server over TCP, timing each password's answer.

  pop3-guess.py [--proxy ADDR] [--bind ADDR] PORT LOGIN:PASSWORD...

Connects to 127.0.0.1:PORT (from the source address ADDR with --bind,
e.g. 127.0.0.2), first sends a PROXY v1 header naming ADDR as the client
with --proxy, reads the greeting, then for each LOGIN:PASSWORD sends USER
and PASS and prints "MILLISECONDS REPLY": the time from sending PASS to
its reply. Stops after a +OK (then QUIT), or when the server hangs up
(prints "EOF"). Exits 0, or 1 when the connection fails.
"""

import argparse
import ipaddress
import socket
import sys
import time

TIMEOUT = 120


def read_line(f):
    line = f.readline()
    if not line:
        return None
    if not line.endswith(b"\r\n"):
        sys.exit("a reply line lacks its CRLF: %r" % line)
    return line[:-2].decode("latin-1")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--proxy")
    ap.add_argument("--bind")
    ap.add_argument("port", type=int)
    ap.add_argument("tries", nargs="+")
    args = ap.parse_args()

    s = socket.create_connection(
        ("127.0.0.1", args.port), timeout=TIMEOUT,
        source_address=(args.bind, 0) if args.bind else None)
    f = s.makefile("rb")
    if args.proxy:
        fam = "TCP4" if ipaddress.ip_address(args.proxy).version == 4 else "TCP6"
        dst = "192.0.2.1" if fam == "TCP4" else "2001:db8::1"
        s.sendall(("PROXY %s %s %s 40000 110\r\n" % (fam, args.proxy, dst)).encode())
    if read_line(f) is None:
        print("EOF")
        return 0
    for pair in args.tries:
        login, _, password = pair.partition(":")
        s.sendall(("USER %s\r\n" % login).encode())
        if read_line(f) is None:
            print("EOF")
            return 0
        t0 = time.monotonic()
        s.sendall(("PASS %s\r\n" % password).encode())
        reply = read_line(f)
        ms = int((time.monotonic() - t0) * 1000)
        if reply is None:
            print("EOF")
            return 0
        print("%d %s" % (ms, reply), flush=True)
        if reply.startswith("+OK"):
            break
    try:
        s.sendall(b"QUIT\r\n")
        read_line(f)
    except OSError:
        pass
    s.close()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except OSError as e:
        sys.exit("pop3-guess: %s" % e)
