#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A STARTTLS-stripping proxy: the man in the middle of a downgrade
attack, for the mail_client suites.

  strip-proxy.py [--life SECS] [--log FILE] [--keep] PORT_FILE UPSTREAM_PORT

Listens on a free 127.0.0.1 port, writes the port number to PORT_FILE
(written whole, then renamed into place), and forwards every connection
to 127.0.0.1:UPSTREAM_PORT until SECS (default 30) have passed, then
exits: a test can never hang on it.

From the client to the server every byte goes through unchanged. From
the server to the client, while the session is in clear text:
  SMTP (the greeting starts with "2"): the STARTTLS line of an EHLO reply
    is removed, "250-STARTTLS" or "250 STARTTLS" in any case; when it was
    the last line, the line before it becomes the last ("250-" made
    "250 "), so the reply stays valid.
  POP3 (the greeting starts with "+OK"): the STLS line of a CAPA reply is
    removed. The proxy follows the client's commands to tell where each
    reply ends (CAPA, RETR, TOP, and LIST and UIDL without an argument
    are multi-line after "+OK"), so a message line "STLS" is left alone.
Once the client has sent STARTTLS or STLS (offered or not) the proxy only
forwards, both ways. With --keep it never strips anything: a tap that
only logs what the client sent.

--log FILE gets every byte the client sent, one connection after
another, each preceded by "== connection N": a line as it came (CR LF
shown as \\r\\n, other control bytes and bytes above 126 as \\xNN), one
log line per line sent (after "== passthrough", when the client has sent
STARTTLS or STLS, one per chunk received: TLS records). Lines "== removed
LINE" say what the proxy took out of the server's replies. Bytes are
forwarded as they come; only the server's are held until their line
ends, while they are filtered.
"""

import collections
import re
import socket
import sys
import threading

from listener import serve_until

MULTI_ALWAYS = {"CAPA", "RETR", "TOP"}
MULTI_WITHOUT_ARG = {"LIST", "UIDL"}
SMTP_STARTTLS = re.compile(rb"^250[- ]STARTTLS\s*$", re.IGNORECASE)
POP3_STLS = re.compile(rb"^STLS\s*$", re.IGNORECASE)
TLS_COMMAND = re.compile(rb"^(STARTTLS|STLS)\s*$", re.IGNORECASE)


def escape(data):
    out = []
    for b in data:
        if b == 0x0D:
            out.append("\\r")
        elif b == 0x0A:
            out.append("\\n")
        elif b < 0x20 or b > 0x7E:
            out.append("\\x%02x" % b)
        else:
            out.append(chr(b))
    return "".join(out)


class Session:
    def __init__(self, client, server, number, log, log_lock, keep):
        self.keep = keep
        self.client = client
        self.server = server
        self.number = number
        self.log = log
        self.log_lock = log_lock
        self.lock = threading.Lock()
        # What the client asked, oldest first: the POP3 command verb and
        # whether it had an argument, so the server side knows which
        # replies are multi-line.
        self.commands = collections.deque()
        self.passthrough = False

    def write_log(self, text):
        if not self.log:
            return
        with self.log_lock, open(self.log, "a") as f:
            f.write(text + "\n")

    # --- client to server ---------------------------------------------

    def client_to_server(self):
        """Forward every byte at once; cut lines apart only to log them
        and to note the commands."""
        part = b""
        try:
            while True:
                data = self.client.recv(65536)
                if not data:
                    break
                with self.lock:
                    passthrough = self.passthrough
                if passthrough:
                    self.write_log(escape(data))
                    self.server.sendall(data)
                    continue
                while data:
                    cut = data.find(b"\n") + 1
                    if not cut:
                        part += data
                        self.server.sendall(data)
                        if len(part) > 65536:
                            self.write_log(escape(part))
                            part = b""
                        break
                    self.from_client(part + data[:cut])
                    self.server.sendall(data[:cut])
                    part, data = b"", data[cut:]
            if part:
                self.write_log(escape(part))
            self.server.shutdown(socket.SHUT_WR)
        except OSError:
            self.close_both()

    def from_client(self, line):
        """Log one line and note its command, before its last byte goes
        to the server: the reply, which cannot come before, finds it."""
        self.write_log(escape(line))
        text = line.rstrip(b"\r\n")
        with self.lock:
            if self.passthrough:
                return
            if TLS_COMMAND.match(text):
                self.passthrough = True
                self.write_log("== passthrough")
            else:
                words = text.split(b" ")
                self.commands.append((words[0].upper(), len(words) > 1))

    # --- server to client ---------------------------------------------

    def server_to_client(self):
        try:
            for chunk in self.server_lines():
                if chunk is None:
                    break
                self.client.sendall(chunk)
            self.client.shutdown(socket.SHUT_WR)
        except OSError:
            self.close_both()

    def read_server(self):
        """The server's bytes as they come, then None at the end."""
        while True:
            try:
                data = self.server.recv(65536)
            except OSError:
                data = b""
            if not data:
                yield None
                return
            yield data

    def server_lines(self):
        """What to send to the client, filtered while in clear text."""
        buf = b""
        protocol = None
        pending = None          # an SMTP "250-" line held back
        in_multi = False        # inside a POP3 multi-line reply
        in_capa = False
        for data in self.read_server():
            if data is None:
                if pending is not None:
                    yield pending
                if buf:
                    yield buf
                yield None
                return
            with self.lock:
                passthrough = self.passthrough or self.keep
            if passthrough:
                if pending is not None:
                    yield pending
                    pending = None
                yield buf + data
                buf = b""
                continue
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                line += b"\n"
                text = line.rstrip(b"\r\n")
                if protocol is None:
                    protocol = "pop3" if text.startswith(b"+") else "smtp"
                    yield line
                    continue
                if protocol == "smtp":
                    if SMTP_STARTTLS.match(text):
                        self.write_log("== removed " + escape(text))
                        if text[3:4] == b" " and pending is not None:
                            # It ended the reply: the held line does now.
                            yield pending[:3] + b" " + pending[4:]
                            pending = None
                        continue
                    if pending is not None:
                        yield pending
                        pending = None
                    if text[3:4] == b"-":
                        pending = line
                    else:
                        yield line
                    continue
                # POP3: where each reply ends follows the commands.
                if in_multi:
                    if text == b".":
                        in_multi = in_capa = False
                    elif in_capa and POP3_STLS.match(text):
                        self.write_log("== removed " + escape(text))
                        continue
                    yield line
                    continue
                with self.lock:
                    verb, arg = (self.commands.popleft() if self.commands
                                 else (b"", False))
                verb = verb.decode("latin-1")
                if text.startswith(b"+OK") and (
                        verb in MULTI_ALWAYS or
                        (verb in MULTI_WITHOUT_ARG and not arg)):
                    in_multi = True
                    in_capa = verb == "CAPA"
                yield line
            if len(buf) > 65536:
                # No line end in sight: not a reply worth filtering.
                yield buf
                buf = b""

    def close_both(self):
        for s in (self.client, self.server):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(client, number, upstream, log, log_lock, keep):
    if log:
        with log_lock, open(log, "a") as f:
            f.write("== connection %d\n" % number)
    try:
        server = socket.create_connection(("127.0.0.1", upstream), 10)
        server.settimeout(None)
    except OSError as e:
        if log:
            with log_lock, open(log, "a") as f:
                f.write("== upstream: %s\n" % e)
        client.close()
        return
    s = Session(client, server, number, log, log_lock, keep)
    up = threading.Thread(target=s.client_to_server, daemon=True)
    up.start()
    s.server_to_client()
    up.join()
    client.close()
    server.close()


def main(argv):
    life, log, keep = 30.0, None, False
    while len(argv) > 2 and argv[1].startswith("--"):
        if argv[1] == "--keep":
            keep = True
            del argv[1]
            continue
        if argv[1] == "--life":
            life = float(argv[2])
        elif argv[1] == "--log":
            log = argv[2]
        else:
            sys.exit("strip-proxy.py: unknown option " + argv[1])
        del argv[1:3]
    if len(argv) != 3 or not argv[2].isdigit():
        sys.exit("usage: strip-proxy.py [--life SECS] [--log FILE] [--keep] "
                 "PORT_FILE UPSTREAM_PORT")
    port_file, upstream = argv[1], int(argv[2])
    if log:
        open(log, "w").close()
    log_lock = threading.Lock()
    serve_until(port_file, life,
                lambda sock, number: serve(sock, number, upstream, log, log_lock, keep))


if __name__ == "__main__":
    main(sys.argv)
