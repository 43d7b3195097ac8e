#!/usr/bin/env python3
"""cluster_load.py: deliveries and POP3 sessions at the same time, then an
account of every message.

SMTP loads deliver numbered messages (one connection each, two or more
recipients) while POP3 workers, one per user, log in again and again, RETR
and DELE a random part of what they find, and QUIT. Afterwards the
mailboxes (read from the file system, MAILROOT) must hold exactly the
messages acknowledged with 250 and not deleted by a session whose QUIT got
+OK: each once, with the body that was sent, byte for byte; and no side
file. Prints a summary line; exits 1 with the findings otherwise.

usage: cluster_load.py --smtp ADDR:PORT[,ADDR:PORT...] [--pop3 ADDR:PORT]
       --mailroot DIR [--loads 4] [--count 250] [--users alice:pw,bob:pw]
       [--seed N] [--source ADDR] [--proxy] [--deadline SECS]
       [--allow-failures [--require-ok ADDR:PORT]]

Load i delivers through the i-th --smtp address (round robin). --proxy
sends a PROXY v2 header first, as HAProxy would, for a connection straight
to one host's handler.
"""
import argparse
import os
import poplib
import random
import re
import smtplib
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proxyhdr  # noqa: E402

TAG = re.compile(rb"^X-Tag: (\S+)$", re.M)


def body_for(tag, rng):
    """A body with lines a mailbox must keep: dots, blank lines, long."""
    lines = [f"message {tag}", "", ".leading dot", "..two dots"]
    for i in range(rng.randrange(1, 40)):
        lines.append(f"{tag} line {i} " + "x" * rng.randrange(0, 200))
    return "\r\n".join(lines) + "\r\n"


class Ledger:
    """What was acknowledged and what was deleted, per user."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}      # tag -> (set of users, body bytes)
        self.deleted = set()  # (user, tag)
        # Tags whose delivery got no 250: stored or not, the sender will
        # try again. Stored, they are a duplicate to be, never a loss.
        self.unconfirmed = set()
        # What POP3 read of a message whose SMTP client had not yet seen
        # its 250 (the server stores, then replies): checked at the end.
        self.read_early = []  # (user, tag, body)
        self.failures = []
        self.replies = {}    # address -> first digit of reply -> count
        self.sessions = 0
        self.in_use = 0

    def note(self, what):
        with self.lock:
            self.failures.append(what)


class ProxiedSMTP(smtplib.SMTP):
    """SMTP that opens with a PROXY v2 header, as HAProxy's send-proxy-v2
    does, naming source_address as the client."""

    def _get_socket(self, host, port, timeout):
        sock = super()._get_socket(host, port, timeout)
        src = sock.getsockname()
        sock.sendall(proxyhdr.v2([src[0], host, str(src[1]), str(port)],
                                 proxyhdr.NO_OPTIONS))
        return sock


def smtp_load(args, ledger, load, rcpts, rng):
    host, port = args.smtp[load % len(args.smtp)]
    where = f"{host}:{port}"
    client = ProxiedSMTP if args.proxy else smtplib.SMTP
    for i in range(args.count):
        tag = f"L{load}-{i}"
        body = body_for(tag, rng)
        msg = f"Subject: {tag}\r\nX-Tag: {tag}\r\n\r\n{body}"
        code = "x"
        try:
            with client(host, port, timeout=60,
                        source_address=(args.source, 0)) as s:
                refused = s.sendmail("load@test.example",
                                     [f"{u}@test.example" for u in rcpts],
                                     msg.encode())
                code = "2"
                if refused:
                    ledger.note(f"{tag}: refused {refused}")
                    code = "x"
        except smtplib.SMTPResponseException as e:
            code = str(e.smtp_code)[0]
        except (OSError, smtplib.SMTPException) as e:
            code = "x"
            ledger.note(f"{tag} via {where}: {e!r}")
        with ledger.lock:
            counts = ledger.replies.setdefault(where, {})
            counts[code] = counts.get(code, 0) + 1
            if code == "2":
                ledger.acked[tag] = (set(rcpts), body.encode())
            else:
                ledger.unconfirmed.add(tag)


def unstuff(lines):
    return [line[1:] if line.startswith(b".") else line for line in lines]


def pop3_worker(args, ledger, user, password, done, rng):
    host, port = args.pop3
    while not done.is_set():
        try:
            p = poplib.POP3(host, port, timeout=60)
        except OSError as e:
            ledger.note(f"pop3 {user}: connect: {e!r}")
            time.sleep(0.2)
            continue
        try:
            p.user(user)
            try:
                p.pass_(password)
            except poplib.error_proto as e:
                if b"IN-USE" in e.args[0]:
                    with ledger.lock:
                        ledger.in_use += 1
                    p.close()
                    time.sleep(0.05)
                    continue
                raise
            _, listing, _ = p.list()
            chosen = [int(x.split()[0]) for x in listing
                      if rng.random() < args.dele_share]
            gone = []
            for n in chosen:
                _, lines, _ = p.retr(n)
                found = [m.group(1) for m in map(TAG.match, lines) if m]
                if not found:
                    ledger.note(f"pop3 {user}: message {n} has no tag")
                    continue
                tag = found[0].decode()
                blank = lines.index(b"") if b"" in lines else len(lines)
                # poplib has undone the dot-stuffing already.
                got = b"\r\n".join(lines[blank + 1:]) + b"\r\n"
                with ledger.lock:
                    sent = ledger.acked.get(tag)
                    if sent is None:
                        ledger.read_early.append((user, tag, got))
                if sent is not None and got != sent[1]:
                    ledger.note(f"pop3 {user}: RETR {tag}: body differs")
                p.dele(n)
                gone.append(tag)
            reply = p.quit()
            if reply.startswith(b"+OK"):
                with ledger.lock:
                    ledger.sessions += 1
                    for tag in gone:
                        ledger.deleted.add((user, tag))
        except (OSError, poplib.error_proto) as e:
            ledger.note(f"pop3 {user}: {e!r}")
            try:
                p.close()
            except OSError:
                pass
        time.sleep(rng.random() * 0.1)


def read_mailbox(path):
    """The messages of a mailbox file: (tag, body lines unstuffed)."""
    # A network file system's client may resolve the name to the file a
    # replace renamed away for a second (ESTALE): ask again.
    for attempt in range(30):
        try:
            os.listdir(os.path.dirname(path))
            with open(path, "rb") as f:
                data = f.read()
            break
        except FileNotFoundError:
            return [], b""
        except OSError:
            if attempt == 29:
                raise
            time.sleep(0.1)
    msgs, cur = [], []
    lines = data.split(b"\n")
    tail = lines.pop()  # after the last LF: must be empty
    for line in lines:
        if line.endswith(b"\r"):
            line = line[:-1]
        if line == b".":
            msgs.append(cur)
            cur = []
        else:
            cur.append(line)
    rest = b"\n".join(cur) + tail
    out = []
    for m in msgs:
        tag = next((t.group(1).decode() for t in map(TAG.match, m) if t),
                   None)
        blank = m.index(b"") if b"" in m else len(m)
        out.append((tag, b"\r\n".join(unstuff(m[blank + 1:])) + b"\r\n"))
    return out, rest


def account(args, ledger, users):
    findings = []
    total = 0
    unconfirmed = 0
    for user in users:
        folder = os.path.join(args.mailroot, "USERS", user)
        msgs, rest = read_mailbox(os.path.join(folder, "my_mailbox.txt"))
        if rest:
            findings.append(f"{user}: {len(rest)} bytes after the last "
                            "message")
        side = [f for f in (os.listdir(folder) if os.path.isdir(folder)
                            else []) if ".tail." in f]
        if side:
            findings.append(f"{user}: side files {side}")
        want = {tag for tag, (rc, _) in ledger.acked.items()
                if user in rc and (user, tag) not in ledger.deleted}
        seen = {}
        for tag, body in msgs:
            if tag is None:
                findings.append(f"{user}: a message with no tag")
                continue
            seen[tag] = seen.get(tag, 0) + 1
            sent = ledger.acked.get(tag)
            if sent is None and tag in ledger.unconfirmed:
                unconfirmed += 1
            elif sent is None:
                findings.append(f"{user}: {tag} stored, never acked")
            elif body != sent[1]:
                findings.append(f"{user}: {tag}: body differs")
        dup = sorted(t for t, n in seen.items() if n > 1)
        lost = sorted(want - set(seen))
        extra = sorted(set(seen) - want - ledger.unconfirmed)
        if dup:
            findings.append(f"{user}: stored twice: {dup[:10]}")
        if lost:
            findings.append(f"{user}: LOST {len(lost)}: {lost[:10]}")
        if extra:
            findings.append(f"{user}: deleted or never acked, yet "
                            f"stored: {extra[:10]}")
        total += len(msgs)
    for user, tag, got in ledger.read_early:
        sent = ledger.acked.get(tag)
        if sent is None and tag not in ledger.unconfirmed:
            findings.append(f"{user}: RETR {tag}: never sent")
        elif sent is not None and got != sent[1]:
            findings.append(f"{user}: RETR {tag}: body differs")
    if unconfirmed:
        print(f"cluster_load: {unconfirmed} copies stored though their "
              "delivery got no 250 (the host went away after writing): "
              "a retry makes a duplicate, not a loss")
    return findings, total


def addr(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


def addrs(text):
    return [addr(a) for a in text.split(",")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smtp", type=addrs, required=True)
    ap.add_argument("--pop3", type=addr)
    ap.add_argument("--mailroot", required=True)
    ap.add_argument("--loads", type=int, default=4)
    ap.add_argument("--count", type=int, default=250)
    ap.add_argument("--users", default="alice:alicepw,bob:bobpw")
    ap.add_argument("--dele-share", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--source", default="127.0.0.1")
    ap.add_argument("--deadline", type=float, default=600)
    ap.add_argument("--proxy", action="store_true")
    ap.add_argument("--allow-failures", action="store_true",
                    help="client errors (a host gone) are no finding")
    ap.add_argument("--require-ok", action="append", default=[],
                    help="yet every delivery through this address is 250")
    args = ap.parse_args()
    print(f"cluster_load: seed {args.seed}", flush=True)
    rng = random.Random(args.seed)
    users = dict(u.split(":", 1) for u in args.users.split(","))
    ledger = Ledger()
    done = threading.Event()
    loads = [threading.Thread(target=smtp_load, daemon=True,
                              args=(args, ledger, i, list(users),
                                    random.Random(rng.random())))
             for i in range(args.loads)]
    readers = [threading.Thread(target=pop3_worker, daemon=True,
                                args=(args, ledger, u, pw, done,
                                      random.Random(rng.random())))
               for u, pw in users.items()] if args.pop3 else []
    start = time.monotonic()
    for t in loads + readers:
        t.start()
    for t in loads:
        t.join(max(0.0, args.deadline - (time.monotonic() - start)))
    done.set()
    for t in readers:
        t.join(60)
    elapsed = time.monotonic() - start
    if any(t.is_alive() for t in loads + readers):
        print("cluster_load: still running at the deadline")
        return 1
    findings, stored = account(args, ledger, list(users))
    if ledger.failures and not args.allow_failures:
        findings.append(f"{len(ledger.failures)} client errors")
    for where in args.require_ok:
        if set(ledger.replies.get(where, {"none": 1})) != {"2"}:
            findings.append(f"{where}: not every reply 250: "
                            f"{ledger.replies.get(where)}")
    print(f"cluster_load: {len(ledger.acked)} acked "
          f"(replies {ledger.replies}), "
          f"{len(ledger.deleted)} deleted in {ledger.sessions} sessions "
          f"({ledger.in_use} in use), {stored} stored, {elapsed:.1f} s")
    for f in ledger.failures[:20]:
        print(f"cluster_load: client: {f}")
    for f in findings:
        print(f"cluster_load: FINDING {f}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
