#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""TLS client driver for tests/tls.bats.

  tlsclient.py chat [OPTION...] STEP...
      A scripted SMTP (default) or POP3 (--pop3) dialogue, with TLS done
      through memory BIOs, so that a step can also send broken TLS. Reads
      the greeting first (unless --no-greeting), then runs each STEP and
      prints every reply line, CR LF removed.
      Options:
        --connect PORT|HOST:PORT   connect to a listener (host 127.0.0.1)
        --source ADDR              with --connect: connect from ADDR
        --spawn LOG -- CMD ARG...  listen on --host (default 127.0.0.1),
                                   connect, and run CMD with the accepted
                                   socket as stdin and stdout, stderr
                                   appended to LOG, SOCKMAIL_LOG=stderr; at
                                   the end close the connection and print
                                   "exit N", the handler's status
        --via ADDR                 with --spawn: connect to ADDR (the
                                   listening socket is on all of --host's
                                   family, e.g. --host ::, reached over
                                   IPv4 as a v4-mapped address)
        --pop3                     POP3 replies (CAPA, LIST, UIDL, RETR,
                                   TOP and a bare AUTH are multi-line)
        --implicit                 TLS handshake before the greeting
        --first FILE               send FILE's bytes first, before the
                                   handshake of --implicit and before the
                                   greeting (a PROXY protocol header)
        --no-greeting              do not wait for a greeting
        --cafile FILE              verify the certificate with FILE and
                                   the name "localhost" (default: no check)
        --timeout SECS             bound of each wait (default 15)
        --tls-version 1.1|1.2|1.3  offer only this TLS version
      Steps:
        TEXT            send TEXT CR LF, print the reply
        @send=BYTES     send BYTES (Python escapes: \\r \\n \\x00), no reply
        @read           print one reply
        @tls            TLS handshake; "<plaintext after go-ahead>" when the
                        server sent more than its go-ahead in clear text
        @eof            wait for the server to hang up: print what still
                        came (text lines, or "<N bytes of binary>") then
                        "<eof>", or "<still open>" after --timeout
        @hello-half     send the first half of a TLS ClientHello
        @record-half=TEXT  inside TLS: send half the record carrying TEXT
        @apop=LOGIN:PASSWORD  send APOP with the digest for the greeting's
                        timestamp, print the reply
        @sleep=SECS
      Ends with "<eof>" (exit 6) when the server hangs up in a reply,
      "<timeout>" (exit 4) when a reply does not come, "<tls error: ...>"
      (exit 5) when the handshake fails; exit 3 when a reply line lacks its
      CR LF.
  tlsclient.py smtplib PORT CAFILE FROM TO FILE
      smtplib: EHLO, STARTTLS (the certificate checked for 127.0.0.1),
      EHLO, then FILE's text sent FROM TO. Prints "before KW...", "tls
      VERSION", "after KW...", and "sent" or "error ...".
  tlsclient.py poplib stls|ssl PORT CAFILE LOGIN PASSWORD N
      poplib over STLS or pop3s (POP3_SSL), the certificate checked for
      127.0.0.1: prints the CAPA keywords before and after STLS ("capa
      KW..."; only after for ssl), "tls VERSION", the PASS reply, "stat N
      M", RETR N's reply and lines, and QUIT's reply; "error ..." on a
      poplib error (exit 1).
"""

import codecs
import hashlib
import os
import poplib
import re
import smtplib
import socket
import ssl
import subprocess
import sys
import time
import warnings

NAME = "localhost"
POP3_MULTI = {"CAPA", "LIST", "UIDL", "RETR", "TOP", "AUTH"}
VERSIONS = {"1.1": ssl.TLSVersion.TLSv1_1, "1.2": ssl.TLSVersion.TLSv1_2,
            "1.3": ssl.TLSVersion.TLSv1_3}


class Timeout(Exception):
    pass


class Eof(Exception):
    pass


def client_context(cafile, version=None):
    if cafile:
        ctx = ssl.create_default_context(cafile=cafile)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if version:
        v = VERSIONS[version]
        if v < ssl.TLSVersion.TLSv1_2:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ctx.maximum_version = v
    return ctx


class Conn:
    """A socket with an optional TLS layer over memory BIOs."""

    def __init__(self, sock, timeout, ctx):
        self.sock = sock
        self.timeout = timeout
        self.ctx = ctx
        self.buf = b""
        self.tls = None
        self.inc = self.outgoing = None
        self.bad_crlf = False
        self.greeting = b""

    def deadline(self):
        return time.monotonic() + self.timeout

    def recv_raw(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout()
        self.sock.settimeout(left)
        try:
            return self.sock.recv(65536)
        except socket.timeout:
            raise Timeout() from None
        except ConnectionResetError:
            return b""

    def flush(self):
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def send(self, data):
        if self.tls is None:
            self.sock.sendall(data)
            return
        self.tls.write(data)
        self.flush()

    def feed(self, deadline):
        """Give the TLS layer more bytes from the socket."""
        self.flush()
        raw = self.recv_raw(deadline)
        if raw:
            self.inc.write(raw)
        else:
            self.inc.write_eof()

    def fill(self, deadline):
        """Add more plaintext to buf; False at the end of input."""
        if self.tls is None:
            data = self.recv_raw(deadline)
            self.buf += data
            return bool(data)
        while True:
            try:
                data = self.tls.read(65536)
                self.buf += data
                return bool(data)
            except ssl.SSLWantReadError:
                if self.inc.eof:
                    return False
                self.feed(deadline)
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return False

    def readline(self, deadline):
        while b"\n" not in self.buf:
            if not self.fill(deadline):
                raise Eof()
        line, _, self.buf = self.buf.partition(b"\n")
        line += b"\n"
        if not line.endswith(b"\r\n"):
            self.bad_crlf = True
            print("<no CRLF>")
        return line[:-2] if line.endswith(b"\r\n") else line[:-1]

    def start_tls(self):
        if self.buf:
            print("<plaintext after go-ahead: %r>" % self.buf)
            self.buf = b""
        self.inc, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = self.ctx.wrap_bio(self.inc, self.outgoing,
                                     server_hostname=NAME)
        deadline = self.deadline()
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                if self.inc.eof:
                    raise ssl.SSLEOFError("EOF in the handshake") from None
                self.feed(deadline)
        self.flush()


def show(line):
    sys.stdout.flush()
    sys.stdout.buffer.write(line + b"\n")


def read_reply(conn, pop3, verb):
    """Print one reply; return its first line."""
    deadline = conn.deadline()
    first = line = conn.readline(deadline)
    show(line)
    if pop3:
        if verb in POP3_MULTI and line.startswith(b"+OK"):
            while line != b".":
                line = conn.readline(deadline)
                show(line)
        return first
    while len(line) >= 4 and line[3:4] == b"-":
        line = conn.readline(deadline)
        show(line)
    return first


def multi_verb(text, pop3):
    """The verb of a command, when its reply may be multi-line."""
    words = text.split()
    if not pop3 or not words:
        return ""
    verb = words[0].upper()
    if verb in ("LIST", "UIDL", "AUTH") and len(words) > 1:
        return ""
    return verb


def wait_eof(conn):
    deadline = conn.deadline()
    got = b""
    try:
        while conn.fill(deadline):
            pass
    except Timeout:
        got, conn.buf = conn.buf, b""
        show_rest(got)
        print("<still open>")
        return
    except ssl.SSLError as e:
        got, conn.buf = conn.buf, b""
        show_rest(got)
        print("<tls error: %s>" % e.reason)
        print("<eof>")
        return
    got, conn.buf = conn.buf, b""
    show_rest(got)
    print("<eof>")


def show_rest(data):
    if not data:
        return
    if all(32 <= b < 127 or b in (9, 10, 13) for b in data):
        for line in data.decode("ascii").splitlines():
            print(line)
    else:
        print("<%d bytes of binary>" % len(data))


def half_hello(conn):
    inc, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_context(None).wrap_bio(inc, outgoing, server_hostname=NAME)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    conn.sock.sendall(hello[:len(hello) // 2])


def run_steps(conn, steps, pop3, implicit, greeting, first):
    if first:
        conn.sock.sendall(first)
    if implicit:
        conn.start_tls()
    if greeting:
        conn.greeting = read_reply(conn, pop3, "")
    for step in steps:
        if step == "@tls":
            conn.start_tls()
        elif step == "@read":
            read_reply(conn, pop3, "")
        elif step == "@eof":
            wait_eof(conn)
        elif step == "@hello-half":
            half_hello(conn)
        elif step.startswith("@send="):
            conn.send(codecs.escape_decode(step[6:].encode())[0])
        elif step.startswith("@record-half="):
            conn.tls.write(codecs.escape_decode(step[13:].encode())[0])
            data = conn.outgoing.read()
            conn.sock.sendall(data[:len(data) // 2])
        elif step.startswith("@apop="):
            login, _, password = step[6:].partition(":")
            m = re.search(rb"<[^<>]*>", conn.greeting)
            stamp = m.group(0) if m else b""
            digest = hashlib.md5(stamp + password.encode()).hexdigest()
            conn.send(b"APOP %s %s\r\n" % (login.encode(), digest.encode()))
            read_reply(conn, pop3, "")
        elif step.startswith("@sleep="):
            time.sleep(float(step[7:]))
        else:
            conn.send(step.encode("latin-1") + b"\r\n")
            read_reply(conn, pop3, multi_verb(step, pop3))


def cmd_chat(args):
    pop3 = implicit = False
    greeting = True
    cafile = connect = log = version = via = first = source = None
    host = "127.0.0.1"
    timeout = 15.0
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--pop3":
            pop3 = True
        elif opt == "--implicit":
            implicit = True
        elif opt == "--no-greeting":
            greeting = False
        elif opt == "--cafile":
            cafile = args.pop(0)
        elif opt == "--connect":
            connect = args.pop(0)
        elif opt == "--host":
            host = args.pop(0)
        elif opt == "--via":
            via = args.pop(0)
        elif opt == "--source":
            source = args.pop(0)
        elif opt == "--timeout":
            timeout = float(args.pop(0))
        elif opt == "--tls-version":
            version = args.pop(0)
        elif opt == "--spawn":
            log = args.pop(0)
        elif opt == "--first":
            with open(args.pop(0), "rb") as f:
                first = f.read()
        else:
            sys.exit("tlsclient.py: unknown option " + opt)
    proc = None
    if log is not None:
        sep = args.index("--")
        steps, argv = args[:sep], args[sep + 1:]
        lsock = socket.socket(socket.AF_INET6 if ":" in host
                              else socket.AF_INET)
        lsock.bind((host, 0))
        lsock.listen(1)
        # From HOST itself, unless --via: a connection to 127.0.0.2
        # would come from 127.0.0.1.
        sock = socket.create_connection(
            (via or lsock.getsockname()[0], lsock.getsockname()[1]),
            timeout=timeout, source_address=None if via else (host, 0))
        peer, _ = lsock.accept()
        lsock.close()
        env = dict(os.environ, SOCKMAIL_LOG="stderr")
        with open(log, "ab") as err:
            proc = subprocess.Popen(argv, stdin=peer, stdout=peer,
                                    stderr=err, env=env)
        peer.close()
    else:
        steps = args
        h, _, p = connect.rpartition(":")
        sock = socket.create_connection(
            (h.strip("[]") or host, int(p)), timeout=timeout,
            source_address=(source, 0) if source else None)
    conn = Conn(sock, timeout, client_context(cafile, version))
    status = 0
    try:
        run_steps(conn, steps, pop3, implicit, greeting, first)
    except Timeout:
        print("<timeout>")
        status = 4
    except Eof:
        print("<eof>")
        status = 6
    except ssl.SSLError as e:
        print("<tls error: %s>" % (e.reason or e))
        status = 5
    if conn.bad_crlf and status == 0:
        status = 3
    sock.close()
    if proc is not None:
        try:
            print("exit %d" % proc.wait(timeout=timeout + 15))
        except subprocess.TimeoutExpired:
            print("exit <still running>")
            proc.kill()
            proc.wait()
    sys.stdout.flush()
    return status


def cmd_smtplib(port, cafile, sender, rcpt, path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    ctx = ssl.create_default_context(cafile=cafile)
    try:
        with smtplib.SMTP("127.0.0.1", int(port), timeout=15,
                          local_hostname="client.example") as smtp:
            smtp.ehlo()
            print("before " + " ".join(sorted(smtp.esmtp_features)))
            code, msg = smtp.starttls(context=ctx)
            print("starttls %d %s" % (code, msg.decode()))
            print("tls " + smtp.sock.version())
            smtp.ehlo()
            print("after " + " ".join(sorted(smtp.esmtp_features)))
            refused = smtp.sendmail(sender, [rcpt], text)
            print("sent" if not refused else "refused %r" % (refused,))
    except (smtplib.SMTPException, OSError) as e:
        print("error %r" % (e,))
        return 1
    return 0


def cmd_poplib(mode, port, cafile, login, password, n):
    ctx = ssl.create_default_context(cafile=cafile)
    try:
        if mode == "ssl":
            pop = poplib.POP3_SSL("127.0.0.1", int(port), context=ctx,
                                  timeout=15)
        else:
            pop = poplib.POP3("127.0.0.1", int(port), timeout=15)
            print("capa " + " ".join(sorted(pop.capa())))
            print("stls " + pop.stls(context=ctx).decode())
        print("tls " + pop.sock.version())
        print("capa " + " ".join(sorted(pop.capa())))
        pop.user(login)
        print("pass " + pop.pass_(password).decode())
        print("stat %d %d" % pop.stat())
        resp, lines, _ = pop.retr(int(n))
        print("retr " + resp.decode())
        for line in lines:
            show(b"  " + line)
        print("quit " + pop.quit().decode())
    except (poplib.error_proto, OSError) as e:
        print("error %s" % (e,))
        return 1
    return 0


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "chat":
        return cmd_chat(args)
    if cmd == "smtplib":
        return cmd_smtplib(*args)
    if cmd == "poplib":
        return cmd_poplib(*args)
    sys.exit("tlsclient.py: unknown command " + cmd)


if __name__ == "__main__":
    sys.exit(main())
