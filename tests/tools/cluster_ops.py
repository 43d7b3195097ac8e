#!/usr/bin/env python3
"""cluster_ops.py: POP3 checks across two hosts of one mail root, each
reached straight at its handler with a PROXY v2 header first (the hosts'
listeners run with -P, as behind HAProxy).

  cluster_ops.py in-use A B USER PASS
      A session on host A holds the maildrop: a login on host B gets
      -ERR [IN-USE]; once A has quit, B logs in.
  cluster_ops.py uidl A B USER PASS
      Host B lists the same unique ids as host A; after B deletes the
      first message, A lists the others with the same ids.
  cluster_ops.py penalty A B USER PASS
      Three failed logins from one client (named in the PROXY header) on
      host A; then on host B that client waits what it earned before its
      right password is checked, and another client logs in at once: one
      penalty table on the shared mail root serves both hosts.
  cluster_ops.py try-login A - USER PASS
      Log in on host A and say how that went (B is not used).
  cluster_ops.py kill-update A B USER PASS PIDFILE MAILROOT ROUNDS
      Host B delivers to USER all the time. Each round, a session on host
      A deletes some messages and QUITs, and its handler (the child of the
      listener in PIDFILE) is killed with SIGKILL at a random moment of
      the UPDATE. After each round the mailbox holds every message
      acknowledged, each once; the deleted ones all gone or all there.
      MAILROOT is best the brick's folder: the bytes as stored, past any
      client's cache.

A and B are ADDR:PORT. Exits 0 when every expectation held; prints what
did not, and exits 1, otherwise.
"""
import os
import poplib
import random
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_load  # noqa: E402
import proxyhdr  # noqa: E402


class ProxiedPOP3(poplib.POP3):
    """POP3 that opens with a PROXY v2 header naming the connection's own
    source, or the client address given."""

    def __init__(self, host, port, timeout, client=None):
        self.client = client
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout):
        sock = super()._create_socket(timeout)
        src = sock.getsockname()
        sock.sendall(proxyhdr.v2([self.client or src[0], self.host,
                                  str(src[1]), str(self.port)],
                                 proxyhdr.NO_OPTIONS))
        return sock


def login(where, user, password, client=None):
    p = ProxiedPOP3(where[0], where[1], timeout=60, client=client)
    p.user(user)
    p.pass_(password)
    return p


def timed_login(where, user, password, client):
    """Seconds a right password took to log in from client."""
    t0 = time.monotonic()
    login(where, user, password, client).quit()
    return time.monotonic() - t0


def penalty(a, b, user, password):
    """Three failed logins from one client on host A: host B makes that
    client wait before it checks even a right password (the hosts'
    pop3d run with -f 1 -F 2: 2 s earned), and lets another client with
    the same login in at once."""
    guesser, bystander = "192.0.2.77", "192.0.2.78"
    p = ProxiedPOP3(a[0], a[1], timeout=60, client=guesser)
    for _ in range(3):
        try:
            p.user(user)
            p.pass_(password + "-wrong")
            fail("host A took a wrong password")
        except poplib.error_proto as e:
            if b"[AUTH]" not in e.args[0]:
                fail(f"host A: {e.args[0]!r}, not [AUTH]")
    p.close()
    waited = timed_login(b, user, password, guesser)
    print(f"host B, the guesser, right password: {waited:.2f} s")
    if waited < 1.9:
        fail("host B did not make the guesser wait what it earned on A")
    waited = timed_login(b, user, password, bystander)
    print(f"host B, another client, same login: {waited:.2f} s")
    if waited >= 1.9:
        fail("host B made another client wait for the login's failures")


def fail(what):
    print(f"cluster_ops: {what}")
    sys.exit(1)


def in_use(a, b, user, password):
    held = login(a, user, password)
    try:
        login(b, user, password).quit()
        fail("host B logged in while host A held the maildrop")
    except poplib.error_proto as e:
        if b"[IN-USE]" not in e.args[0]:
            fail(f"host B: {e.args[0]!r}, not [IN-USE]")
    held.quit()
    login(b, user, password).quit()


def uidls(p):
    return [line.split()[1] for line in p.uidl()[1]]


def uidl(a, b, user, password):
    pa = login(a, user, password)
    ids_a = uidls(pa)
    pa.quit()
    if not ids_a:
        fail("no messages to list")
    pb = login(b, user, password)
    ids_b = uidls(pb)
    if ids_b != ids_a:
        fail(f"host B lists {ids_b[:5]}..., host A {ids_a[:5]}...")
    pb.dele(1)
    pb.quit()
    pa = login(a, user, password)
    ids = uidls(pa)
    pa.quit()
    if ids != ids_a[1:]:
        fail(f"after host B's DELE 1, host A lists {ids[:5]}...")


def deliver_forever(b, user, stop, acked, rng):
    """Deliveries to USER through host B until stop; acked gets the tags."""
    i = 0
    while not stop.is_set():
        tag = f"K{i}"
        body = cluster_load.body_for(tag, rng)
        msg = f"Subject: {tag}\r\nX-Tag: {tag}\r\n\r\n{body}"
        try:
            with cluster_load.ProxiedSMTP(b[0], b[1], timeout=60) as s:
                s.sendmail("k@test.example", [f"{user}@test.example"],
                           msg.encode())
            acked[tag] = body.encode()
        except Exception as e:  # a refusal or a cut connection: no loss
            print(f"cluster_ops: delivery {tag}: {e!r}")
        i += 1


def handler_of(pidfile_line):
    out = subprocess.run(["pgrep", "-P", pidfile_line], capture_output=True,
                         text=True).stdout.split()
    return [int(p) for p in out]


def kill_update(a, b, user, password, pidfile, mailroot, rounds):
    rng = random.Random(int(os.environ.get("SEED", time.time())))
    # The POP3 listener of host A: the second line (smtpd, then pop3d).
    listener = open(pidfile).read().split()[1]
    path = os.path.join(mailroot, "USERS", user, "my_mailbox.txt")
    acked, stop = {}, threading.Event()
    t = threading.Thread(target=deliver_forever, daemon=True,
                         args=(b, user, stop, acked,
                               random.Random(rng.random())))
    t.start()
    killed = committed = 0
    deleted = set()
    try:
        for r in range(rounds):
            time.sleep(0.3)
            p = login(a, user, password)
            count = len(p.list()[1])
            chosen = rng.sample(range(1, count + 1), min(count, 5))
            gone = set()
            for n in chosen:
                lines = p.retr(n)[1]
                tag = next(m.group(1).decode() for m in
                           map(re.compile(rb"^X-Tag: (\S+)$").match, lines)
                           if m)
                gone.add(tag)
                p.dele(n)
            pids = handler_of(listener)
            p.sock.sendall(b"QUIT\r\n")
            time.sleep(rng.random() * 0.05)
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
            p.close()
            time.sleep(0.2)
            # A delivery may be under way: its room is no message yet.
            stored = {tag for tag, _ in read(path, strict=False)}
            if gone <= stored:
                pass            # the UPDATE did not happen
            elif not gone & stored:
                committed += 1
                deleted |= gone
            else:
                fail(f"round {r}: half an UPDATE: {sorted(gone & stored)} "
                     f"stayed of {sorted(gone)}")
    finally:
        stop.set()
        t.join(120)
    msgs = read(path)
    tags = [tag for tag, _ in msgs]
    for tag, body in msgs:
        if tag in acked and acked[tag] != body:
            fail(f"{tag}: body differs")
    dup = {x for x in tags if tags.count(x) > 1}
    lost = set(acked) - set(tags) - deleted
    if dup or lost:
        fail(f"stored twice {sorted(dup)[:5]}, lost {sorted(lost)[:5]}")
    folder = os.path.dirname(path)
    side = [f for f in os.listdir(folder) if ".tail." in f]
    if side:
        fail(f"side files {side}")
    print(f"cluster_ops: {rounds} rounds, {killed} handlers killed, "
          f"{committed} UPDATEs committed, {len(acked)} delivered meanwhile,"
          f" all there")


def read(path, strict=True):
    msgs, rest = cluster_load.read_mailbox(path)
    if rest and strict:
        fail(f"{len(rest)} bytes after the last message")
    return msgs


def main(argv):
    if len(argv) < 5:
        sys.exit(__doc__)
    op, a = argv[0], cluster_load.addr(argv[1])
    b = None if argv[2] == "-" else cluster_load.addr(argv[2])
    if op == "in-use":
        in_use(a, b, argv[3], argv[4])
    elif op == "try-login":
        try:
            login(a, argv[3], argv[4]).quit()
            print("cluster_ops: logged in")
        except (OSError, poplib.error_proto) as e:
            print(f"cluster_ops: {e!r}")
    elif op == "uidl":
        uidl(a, b, argv[3], argv[4])
    elif op == "penalty":
        penalty(a, b, argv[3], argv[4])
    elif op == "kill-update" and len(argv) == 8:
        kill_update(a, b, argv[3], argv[4], argv[5], argv[6], int(argv[7]))
    else:
        sys.exit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
