#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""SMTP client driver for the bats suites: smtplib (as a real mail program
uses it) and raw sockets (for pipelining and fd-sharing checks).

  smtpclient.py send PORT FROM FILE RCPT...
      smtplib: EHLO, MAIL, RCPT..., DATA with FILE's text (smtplib turns LF
      into CRLF and dot-stuffs). Prints the EHLO keywords as "EHLO kw..."
      and each refused recipient as "REFUSED addr code text". Exit 0 when
      the message was accepted for at least one recipient, 2 when every
      recipient was refused, 1 on any other SMTP error (printed).
  smtpclient.py send-smtputf8 PORT FROM FILE RCPT...
      As send, with MAIL FROM's SMTPUTF8 parameter (RFC 6531): FROM, the
      RCPTs and FILE's text may be UTF-8, sent as such. Prints the EHLO
      keywords, each refused recipient, and "MAIL CODE TEXT" for the
      reply to MAIL FROM, so a test sees the enhanced code in it.
  smtpclient.py send-many PORT RCPT ID COUNT PER_CONN
      COUNT messages, each with the unique token "tok-ID-n" in Subject and
      body, PER_CONN of them over each connection (1: a fresh connection
      per message). Prints one line per failure; exit 1 if any.
  smtpclient.py raw PORT
      Waits for the greeting, then sends all of stdin (LF turned into CRLF)
      in one write, half-closes, and prints every reply line until the
      server hangs up (CRLF removed). Exit 3 if a line lacks its CRLF.
  smtpclient.py socketpair CMD ARG...
      Runs CMD with fds 0, 1 and 2 all one end of a socketpair (as xinetd
      does), sends stdin (LF turned into CRLF), half-closes, and prints all
      that comes back on the other end, raw. Prints "EXIT n" on stderr.
"""

import smtplib
import socket
import subprocess
import sys
import time

TIMEOUT = 15
HELO_NAME = "client.example"


def crlf(data):
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def cmd_send(port, sender, path, rcpts):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        with smtplib.SMTP("127.0.0.1", int(port), local_hostname=HELO_NAME,
                          timeout=TIMEOUT) as smtp:
            smtp.ehlo()
            print("EHLO " + " ".join(sorted(smtp.esmtp_features)))
            refused = smtp.sendmail(sender, rcpts, text)
    except smtplib.SMTPRecipientsRefused as e:
        for addr, (code, msg) in sorted(e.recipients.items()):
            print("REFUSED %s %d %s" % (addr, code, msg.decode()))
        return 2
    except (smtplib.SMTPException, OSError) as e:
        print("ERROR %r" % (e,))
        return 1
    for addr, (code, msg) in sorted(refused.items()):
        print("REFUSED %s %d %s" % (addr, code, msg.decode()))
    return 0


def cmd_send_smtputf8(port, sender, path, rcpts):
    with open(path, "rb") as f:
        data = crlf(f.read())     # smtplib sends bytes as they are
    try:
        with smtplib.SMTP("127.0.0.1", int(port), local_hostname=HELO_NAME,
                          timeout=TIMEOUT) as smtp:
            smtp.ehlo()
            print("EHLO " + " ".join(sorted(smtp.esmtp_features)))
            # What sendmail() does, step by step, to show MAIL's reply.
            code, msg = smtp.mail(sender, ["SMTPUTF8"])
            print("MAIL %d %s" % (code, msg.decode("utf-8", "replace")))
            if code != 250:
                return 1
            accepted = 0
            for rcpt in rcpts:
                code, msg = smtp.rcpt(rcpt)
                if code in (250, 251):
                    accepted += 1
                else:
                    print("REFUSED %s %d %s" % (rcpt, code, msg.decode("utf-8", "replace")))
            if not accepted:
                return 2
            code, msg = smtp.data(data)
            print("DATA %d %s" % (code, msg.decode("utf-8", "replace")))
            return 0 if code == 250 else 1
    except (smtplib.SMTPException, OSError) as e:
        print("ERROR %r" % (e,))
        return 1


def one_message(ident, n):
    tok = "tok-%s-%d" % (ident, n)
    return ("From: sender%s@client.example\n"
            "To: rcpt@test.example\n"
            "Subject: %s\n"
            "\n"
            "body of %s\n"
            ".leading dot in %s\n"
            "end\n" % (ident, tok, tok, tok))


def cmd_send_many(port, rcpt, ident, count, per_conn):
    failures = 0
    smtp = None
    for n in range(int(count)):
        # A few tries each: under load a connect may be refused by a full
        # accept queue; a lost reply would show as a duplicate, not a retry.
        for attempt in range(3):
            try:
                if smtp is None:
                    smtp = smtplib.SMTP("127.0.0.1", int(port),
                                        local_hostname=HELO_NAME,
                                        timeout=TIMEOUT)
                break
            except OSError as e:
                smtp = None
                if attempt == 2:
                    print("connect %s-%d: %r" % (ident, n, e))
                    return 1
                time.sleep(0.1)
        try:
            smtp.sendmail("sender%s@client.example" % ident, [rcpt],
                          one_message(ident, n))
        except (smtplib.SMTPException, OSError) as e:
            print("send %s-%d: %r" % (ident, n, e))
            failures += 1
            smtp.close()
            smtp = None
            continue
        if (n + 1) % int(per_conn) == 0:
            smtp.quit()
            smtp = None
    if smtp is not None:
        smtp.quit()
    return 1 if failures else 0


def recv_all(sock, deadline):
    data = b""
    resets = 0
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            # The peer closed with our input unread (a handler that exits
            # at once). On a Unix socket the error comes first, once, and
            # what the peer wrote before closing can still be read.
            if resets:
                return data, True
            resets += 1
            continue
        if not chunk:
            return data, True
        data += chunk
    return data, False


def cmd_raw(port):
    payload = crlf(sys.stdin.buffer.read())
    deadline = time.monotonic() + TIMEOUT
    with socket.create_connection(("127.0.0.1", int(port)),
                                  timeout=TIMEOUT) as sock:
        greeting = b""
        while not greeting.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            greeting += chunk
        sock.sendall(payload)  # one write: every command at once
        sock.shutdown(socket.SHUT_WR)
        rest, closed = recv_all(sock, deadline)
    data = greeting + rest
    status = 0 if closed else 4
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        status = 3
    for line in lines:
        if not line.endswith(b"\r"):
            status = 3
        sys.stdout.buffer.write(line.rstrip(b"\r") + b"\n")
    return status


def cmd_socketpair(argv):
    payload = crlf(sys.stdin.buffer.read())
    ours, theirs = socket.socketpair()
    fd = theirs.fileno()
    proc = subprocess.Popen(argv, stdin=fd, stdout=fd, stderr=fd,
                            close_fds=True)
    theirs.close()
    try:
        ours.sendall(payload)
        ours.shutdown(socket.SHUT_WR)
    except (BrokenPipeError, ConnectionResetError):
        pass    # a handler that refuses to start may be gone already
    data, closed = recv_all(ours, time.monotonic() + TIMEOUT)
    ours.close()
    try:
        status = proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        status = proc.wait()
    sys.stdout.buffer.write(data)
    sys.stderr.write("EXIT %d\n" % status)
    return 0 if closed else 4


def main(argv):
    if len(argv) >= 5 and argv[1] == "send":
        return cmd_send(argv[2], argv[3], argv[4], argv[5:])
    if len(argv) >= 5 and argv[1] == "send-smtputf8":
        return cmd_send_smtputf8(argv[2], argv[3], argv[4], argv[5:])
    if len(argv) == 7 and argv[1] == "send-many":
        return cmd_send_many(*argv[2:])
    if len(argv) == 3 and argv[1] == "raw":
        return cmd_raw(argv[2])
    if len(argv) >= 3 and argv[1] == "socketpair":
        return cmd_socketpair(argv[2:])
    sys.stderr.write(__doc__)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
