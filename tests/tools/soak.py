#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""soak.py: a soak test of sockmail. Both handlers run under
`systemd-socket-activate --accept --inetd` on free loopback ports, over a
fresh mail root of four users, while for --duration seconds

  - senders (smtplib, one thread each) deliver messages to one user or to
    several, small ones and ~100 KiB ones, one or more a session; every
    message carries a unique token in its Subject and body, and its whole
    text follows from the token, so every copy found later is compared
    line for line with what was sent;
  - POP3 clients (poplib, one thread each) log in as a random user, STAT,
    LIST, UIDL, RETR a few messages, DELE some of those they retrieved,
    and QUIT, or now and then hang up without QUIT;
  - a killer sends SIGKILL to a random handler (a child of one of the two
    systemd-socket-activate processes, found through /proc) at random
    short intervals (--kill-gap), preferring one that is busy (running or
    in disk wait) when there is one; and, on cue from a client about to
    send DATA or a QUIT with DELEs (--cue-share of them), to that
    client's own handler a random moment within the step, so that kills
    also land inside deliveries and UPDATEs, which random ones seldom hit.

Then, with traffic and killer stopped and every handler gone, it reads
each mailbox itself as sockmail-mailbox(5) says a reader does (messages split
on "." lines; a torn tail after the last one ignored), logs in once more
to each maildrop over POP3 to see that the handler agrees and leaves the
file as it was, and delivers one last message to each user, after which
any torn tail must be gone (the next writer cuts it off, and moves
nothing to a side file: every tail here is a killed delivery's). It fails
unless
  - every acknowledged copy (token, recipient) is in that mailbox exactly
    once, or was retrieved by that recipient and then deleted (in a
    session whose QUIT got +OK, or whose QUIT got no answer);
  - no copy deleted in a session whose QUIT got +OK is still there, and
    no copy that some session retrieved vanished without being deleted;
  - no token is in a mailbox twice (a killed DATA may deliver or not,
    never twice), and none is where it was not sent;
  - every message, in the mailboxes and in RETR replies, is whole and its
    own, byte for byte; a torn tail is the start of a copy that was never
    acknowledged, then the NULs of the room its delivery reserved, to the
    end of the file; each mailbox passes mbox_check.py (apart from the
    tail);
  - no file is left but the mailboxes and the temp files of killed
    handlers (sockmail-mailbox(5): their names carry host and pid);
  - the handlers' stderr holds no sanitizer report; and no client waited
    --io-timeout seconds for a reply (a hang).

Counts are per copy, a (token, recipient) pair: sent (DATA attempted),
acknowledged (250 after DATA), retrieved (by a session of that
recipient), deleted (DELE'd in a session whose QUIT got +OK), remaining
(in the final mailboxes, the last deliveries included); kills are
handlers killed. The last line is

  sent N, acknowledged N, retrieved N, deleted N, remaining N, kills N: PASS

(or FAIL); the exit status is 0 or 1 (130 when interrupted). Problems are
printed as they are found, as "PROBLEM: ...".

The handlers are BUILDDIR/src/sockmail-{smtpd,pop3d}, BUILDDIR from
--builddir, else $abs_top_builddir, else the source tree; --smtpd and
--pop3d name them directly. The work directory (mail root, spool, the
handlers' stderr) is --workdir, or a new one under $TMPDIR, removed after
a pass and kept after a failure.
"""

import argparse
import collections
import contextlib
import ctypes
import heapq
import io
import os
import poplib
import random
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

TOOLS = os.path.dirname(os.path.abspath(__file__))
DOMAIN = "test.example"
HOST = "127.0.0.1"

# (login as in userinfo.txt, the password stored there, the one typed)
USERS = (("bob", "bobpass", "bobpass"),
         ("otherlab", "otherpass", "otherpass"),
         ("IbrahimEK", "ibrahim123", "ibrahim123"),
         ("SimonDS", "{PLAIN}simon456", "simon456"))
PASSWORDS = {login: typed for login, _, typed in USERS}

LARGE_SIZE = 100 * 1024     # a large message's body, roughly
SMALL_MAX = 2000            # a small one's filler, at most
LARGE_SHARE = 0.12          # of the messages sent
MULTI_SHARE = 0.3           # of the messages sent to several users
MESSAGES_PER_SESSION = (1, 1, 1, 2, 3, 5, 8)
# A POP3 session retrieves up to half the maildrop (at least MIN_RETR, at
# most MAX_RETR messages), so that deletions keep pace with deliveries and
# the mailboxes stay small enough for a long run.
MIN_RETR, MAX_RETR = 8, 100
DELE_SHARE = 0.85           # of the messages a session retrieved
HANGUP_SHARE = 0.2          # of the POP3 sessions: no QUIT
SHOWN_PROBLEMS = 40

# A message cut short: a delivery killed between two writes, the first
# ending in a line-starting "." (stuffing), which sockmail-mailbox(5) reads
# as the end of a message when it is the last byte of the file.
TORN_HINT = "; a torn write taken for a whole message?"
GOODBYE = b"+OK Thanks for using POP3 server"
IN_USE = b"-ERR [IN-USE]"
RECEIVED = re.compile(rb"^Received: \d{4}-\d{2}-\d{2} : \d{2} : \d{2}$")
# What systemd-socket-activate itself writes to the shared stderr.
ACTIVATOR_LINE = re.compile(r"^(Listening on |Communication attempt on fd |"
                            r"Connection from |Spawned |Execing |Child \d+ "
                            r"died |Received SIG)")
# Variables the handlers need; systemd-socket-activate passes on only
# TERM, PATH, USER and HOME unless told with -E.
HANDLER_ENV = ("TZ", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")


sys.dont_write_bytecode = True      # no __pycache__ in the source tree
import mbox_check as MBOX_CHECK     # noqa: E402 (this folder, after the flag)


class Problems:
    """Every failed check, from any thread; the first few are printed at
    once, so that a long run shows trouble early."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, text):
        with self.lock:
            if text in self.items:
                return          # found again by a later check
            self.items.append(text)
            if len(self.items) <= SHOWN_PROBLEMS:
                print("PROBLEM: " + text, flush=True)

    def report_rest(self):
        if len(self.items) > SHOWN_PROBLEMS:
            print("(%d more problems)" % (len(self.items) - SHOWN_PROBLEMS))


PROBLEMS = Problems()


class Clock:
    """The deadline every loop checks, and a stop that ends them early."""

    def __init__(self, duration):
        self.deadline = time.monotonic() + duration
        self.stopped = threading.Event()

    def running(self):
        return not self.stopped.is_set() and time.monotonic() < self.deadline

    def pause(self, secs):
        left = self.deadline - time.monotonic()
        self.stopped.wait(max(0.0, min(secs, left)))

    def stop(self):
        self.stopped.set()


# ---- messages ------------------------------------------------------------

def make_filler():
    rng = random.Random(0)
    alphabet = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                "0123456789 .,:;-_!?()<>=+*/'\"")
    return "".join(rng.choice(alphabet) for _ in range(4096))


FILLER = make_filler()


def stuffed(line):
    """A content line as sockmail-mailbox(5) stores it."""
    return b"." + line if line.startswith(b".") else line


class Message:
    """One message as a sender writes it. Its text follows from its token,
    so that any copy found later can be checked line for line."""

    def __init__(self, token, sender, recipients, large):
        self.token = token
        self.sender = sender
        self.recipients = recipients     # logins, as in userinfo.txt
        self.large = large

    def header_lines(self):
        to = ", ".join("%s@%s" % (login, DOMAIN) for login in self.recipients)
        return ["From: sender%d@client.example" % self.sender,
                "To: " + to,
                "Subject: " + self.token]

    def body_lines(self):
        """Lines starting with "." (one in three of the filler) and a line
        holding only "." exercise dot-stuffing on the wire and on disk."""
        rng = random.Random(self.token)
        tok = self.token
        lines = ["body of " + tok, ".leading dot of " + tok, ".", ""]
        target = LARGE_SIZE if self.large else rng.randint(0, SMALL_MAX)
        size = 0
        while size < target:
            n = rng.randint(0, 78)
            start = rng.randrange(len(FILLER) - n)
            line = FILLER[start:start + n]
            if rng.random() < 1 / 3:
                line = "." + line
            lines.append(line)
            size += len(line) + 1
        lines.append("end of " + tok)
        return lines

    def text(self):
        """What the client hands smtplib (which adds CRLF and stuffing)."""
        lines = self.header_lines() + ["X-Soak: a soak test message", ""]
        return "\n".join(lines + self.body_lines()) + "\n"

    def served_lines(self):
        """The message as RETR serves it, un-stuffed (as poplib returns
        it), with None for the Received: line, whose time is the server's."""
        head = [ln.encode() for ln in self.header_lines()]
        rest = ["X-Soak: a soak test message", ""] + self.body_lines()
        return head + [None] + [ln.encode() for ln in rest]

    def stored_lines(self):
        """The record as the mailbox holds it, "." line included."""
        return [stuffed(ln) if ln is not None else None
                for ln in self.served_lines()] + [b"."]


def same_lines(got, want):
    """Whether got are the lines want, a None in want standing for any
    well-formed Received: line."""
    if len(got) != len(want):
        return False
    return all(RECEIVED.match(g) if w is None else g == w
               for g, w in zip(got, want))


def first_difference(got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        if not (RECEIVED.match(g) if w is None else g == w):
            return "line %d is %r, not %r" % (i + 1, g[:80], w)
    return "%d lines, not %d" % (len(got), len(want))


def token_of(lines):
    """The Subject: of a record or RETR reply, its third line."""
    if len(lines) > 2 and lines[2].startswith(b"Subject: "):
        return lines[2][len(b"Subject: "):].decode("ascii", "replace")
    return None


# ---- bookkeeping ---------------------------------------------------------

class Book:
    """What the clients know, per copy (token, login). A copy is sent when
    DATA was attempted for an accepted recipient; acknowledged on 250;
    refused on a definite other reply after DATA (sockmail-smtpd(8): then
    nothing is stored); retrieved when a session of login RETR'd it;
    deleted when a session DELE'd it and its QUIT got +OK; uncertain when
    that QUIT got no answer (the UPDATE may or may not have happened)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.messages = {}
        self.sent, self.acked, self.retrieved = set(), set(), set()
        self.deleted, self.uncertain = set(), set()
        self.refused = {}
        self.events = collections.Counter()
        self.killed = {"smtpd": set(), "pop3d": set()}

    def count(self, event, n=1):
        with self.lock:
            self.events[event] += n

    def note_sent(self, msg, logins):
        with self.lock:
            self.messages[msg.token] = msg
            self.sent.update((msg.token, u) for u in logins)

    def note_acked(self, msg, logins):
        with self.lock:
            self.acked.update((msg.token, u) for u in logins)

    def note_refused(self, msg, logins, reply):
        with self.lock:
            self.refused.update(((msg.token, u), reply) for u in logins)

    def note_retrieved(self, token, login):
        with self.lock:
            self.retrieved.add((token, login))

    def note_deleted(self, tokens, login, committed):
        with self.lock:
            target = self.deleted if committed else self.uncertain
            target.update((t, login) for t in tokens)

    def note_kill(self, kind, pid, how):
        with self.lock:
            self.killed[kind].add(pid)
            self.events["kills"] += 1
            self.events[kind + " kills"] += 1
            self.events[how + " kills"] += 1

    def message(self, token):
        with self.lock:
            return self.messages.get(token)

    def was_sent(self, token, login):
        with self.lock:
            return (token, login) in self.sent


# ---- the listeners -------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_listening(port):
    """Whether HOST:port is in LISTEN state, read from /proc/net/tcp so
    that checking does not spawn a handler."""
    want = "0100007F:%04X" % port
    with open("/proc/net/tcp") as f:
        return any(fields[1] == want and fields[3] == "0A"
                   for fields in (ln.split() for ln in f) if len(fields) > 3)


def proc_stat(pid):
    """(ppid, process group, state letter) of pid, or None once it is
    gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[2]), fields[0]


def die_with_parent():
    """In the activator before exec: get SIGTERM when soak.py dies, even
    by SIGKILL, so that no listener outlives it."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


class Listener:
    """One handler under systemd-socket-activate --accept --inetd, in a
    process group of its own, its stderr (and the handlers') in a log."""

    ATTEMPTS = 5
    WAIT = 10.0      # seconds for the listener to come up

    def __init__(self, kind, argv, env_args, log_path):
        self.kind, self.argv, self.env_args = kind, argv, env_args
        self.log_path = log_path
        self.proc = None
        self.port = None

    @property
    def pid(self):
        return self.proc.pid

    def start(self):
        for attempt in range(1, self.ATTEMPTS + 1):
            if self.try_port(free_port()):
                return
            self.stop()
            print("%s: listener attempt %d failed" % (self.kind, attempt))
        raise RuntimeError("%s: no listener after %d attempts; see %s"
                           % (self.kind, self.ATTEMPTS, self.log_path))

    def try_port(self, port):
        argv = (["systemd-socket-activate", "--accept", "--inetd",
                 "-l", "%s:%d" % (HOST, port)] + self.env_args +
                ["--"] + self.argv)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=log, start_new_session=True,
                preexec_fn=die_with_parent)
        self.port = port
        end = time.monotonic() + self.WAIT
        while time.monotonic() < end:
            if port_listening(port):
                return True
            if self.proc.poll() is not None:
                return False        # the port was taken in the meantime
            time.sleep(0.05)
        return False

    def children(self):
        """The handlers running now: the activator's children."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        path = "/proc/%d/task/%d/children" % (self.pid, self.pid)
        try:
            with open(path) as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return self.children_by_scan()

    def children_by_scan(self):
        pids = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                st = proc_stat(int(name))
                if st is not None and st[0] == self.pid:
                    pids.append(int(name))
        return pids

    def group_members(self):
        """Live processes of the activator's group (it and its handlers),
        also after the activator is gone."""
        pids = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                st = proc_stat(int(name))
                if st is not None and st[1] == self.pid and st[2] != "Z":
                    pids.append(int(name))
        return pids

    def stop(self):
        """End the activator, then any handler of its group still running;
        bounded."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for _ in range(50):
            members = self.group_members()
            if not members:
                break
            for pid in members:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        self.proc = None


def handler_env_args(spool):
    args = ["-E", "SOCKMAIL_LOG=stderr", "-E", "TMPDIR=" + spool]
    for name in HANDLER_ENV:
        if name in os.environ:
            args += ["-E", "%s=%s" % (name, os.environ[name])]
    return args


# ---- the killer ----------------------------------------------------------

def kill_handler(listener, pid):
    """SIGKILL pid if it is (still) one of listener's handlers. Through a
    pidfd: the process checked is the one signalled, never a later process
    that reused the pid."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return False
    try:
        st = proc_stat(pid)
        if st is None or st[0] != listener.pid or st[2] == "Z":
            return False
        signal.pidfd_send_signal(fd, signal.SIGKILL)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def socket_inode(server_port, client_port):
    """The inode of the server side of the loopback TCP connection from
    client_port to server_port, from /proc/net/tcp; None when gone."""
    local = "0100007F:%04X" % server_port
    remote = "0100007F:%04X" % client_port
    with open("/proc/net/tcp") as f:
        for fields in (ln.split() for ln in f):
            if len(fields) > 9 and fields[1] == local and \
                    fields[2] == remote and fields[9] != "0":
                return fields[9]
    return None


def handler_of(listener, client_port):
    """The pid of the handler serving the client on client_port (its
    stdin is that connection), or None."""
    inode = socket_inode(listener.port, client_port)
    if inode is None:
        return None
    for pid in listener.children():
        with contextlib.suppress(OSError):
            if os.readlink("/proc/%d/fd/0" % pid) == "socket:[%s]" % inode:
                return pid
    return None


class Killer(threading.Thread):
    """SIGKILL for handlers: a random one (a busy one, running or in disk
    wait, when there is one at that moment) every gap seconds; and, on cue
    from a client about to send DATA or QUIT, that client's own handler a
    random moment later, so that kills also land inside deliveries and
    UPDATEs, which random ones seldom hit."""

    def __init__(self, listeners, book, clock, rng, gap):
        super().__init__(name="killer", daemon=True)
        self.listeners = {lst.kind: lst for lst in listeners}
        self.book, self.clock, self.rng, self.gap = book, clock, rng, gap
        self.cond = threading.Condition()
        self.cues = []          # heap of (due, sequence, kind, client_port)
        self.sequence = 0

    def cue(self, kind, client_port, delay):
        """Kill the kind handler serving client_port delay seconds from
        now."""
        with self.cond:
            self.sequence += 1
            heapq.heappush(self.cues, (time.monotonic() + delay,
                                       self.sequence, kind, client_port))
            self.cond.notify()

    def run(self):
        guarded(self.loop)

    def loop(self):
        random_due = self.next_random_due()
        while self.clock.running():
            now = time.monotonic()
            with self.cond:
                cue = self.cues and self.cues[0][0] <= now
                if cue:
                    _, _, kind, client_port = heapq.heappop(self.cues)
                elif random_due > now:
                    due = min([random_due] + [c[0] for c in self.cues[:1]])
                    self.cond.wait(min(due - now, 0.5))
                    continue
            if cue:
                self.kill_cued(kind, client_port)
            else:
                self.kill_random()
                random_due = self.next_random_due()

    def next_random_due(self):
        if self.gap[1] <= 0:
            return float("inf")     # random kills off
        return time.monotonic() + self.rng.uniform(*self.gap)

    def kill_random(self):
        listener = self.rng.choice(list(self.listeners.values()))
        pids = listener.children()
        busy = [p for p in pids if (proc_stat(p) or (0, 0, "?"))[2] in "RD"]
        if busy or pids:
            pid = self.rng.choice(busy or pids)
            if kill_handler(listener, pid):
                self.book.note_kill(listener.kind, pid, "random")

    def kill_cued(self, kind, client_port):
        listener = self.listeners[kind]
        pid = handler_of(listener, client_port)
        if pid is not None and kill_handler(listener, pid):
            self.book.note_kill(kind, pid, "cued")


class Duration:
    """A running estimate of how long a step takes, to aim cued kills
    within it (sanitizer builds and loaded machines are slower)."""

    def __init__(self):
        self.value = 0.02

    def add(self, secs):
        self.value = 0.8 * self.value + 0.2 * secs

    def random_moment(self, rng):
        return rng.uniform(0, 1.5 * self.value)


def guarded(body):
    """Run a thread's body; a crash of the soak itself is a problem, never
    a silent pass."""
    try:
        body()
    except Exception:           # noqa: BLE001 - reported, then the run fails
        PROBLEMS.add("%s crashed:\n%s" % (threading.current_thread().name,
                                          traceback.format_exc()))


# ---- the clients ---------------------------------------------------------

class Shared:
    """What every client thread works with."""

    def __init__(self, book, clock, users, io_timeout, cue_share):
        self.book, self.clock, self.users = book, clock, users
        self.io_timeout, self.cue_share = io_timeout, cue_share
        self.killer = None


class Client(threading.Thread):
    """A client thread: its own random numbers, and the steps common to
    SMTP and POP3."""

    KIND = None         # the handler it talks to

    def __init__(self, name, port, shared, rng):
        super().__init__(name=name, daemon=True)
        self.port, self.shared, self.rng = port, shared, rng
        self.book, self.clock = shared.book, shared.clock
        self.users, self.io_timeout = shared.users, shared.io_timeout

    def run(self):
        guarded(self.loop)

    def loop(self):
        raise NotImplementedError

    def lost(self, exc):
        """The connection broke: a kill (counted) or a hang (a problem)."""
        if isinstance(exc, TimeoutError):
            PROBLEMS.add("%s: no reply in %g s (a hang?)"
                         % (self.name, self.io_timeout))
        else:
            self.book.count(self.KIND + " connections lost")

    def maybe_cue_kill(self, sock, duration):
        """Now and then, have the killer kill this connection's handler
        within the step about to start (its usual duration given)."""
        killer = self.shared.killer
        if killer is not None and self.rng.random() < self.shared.cue_share:
            killer.cue(self.KIND, sock.getsockname()[1],
                       duration.random_moment(self.rng))


# ---- SMTP senders --------------------------------------------------------

class Sender(Client):
    """Sessions of one or more messages each, until the deadline. A
    handler killed under it ends the session; the next one starts afresh."""

    KIND = "smtpd"

    def __init__(self, number, port, shared, rng):
        super().__init__("sender %d" % number, port, shared, rng)
        self.number = number
        self.count = 0
        self.data_time = {False: Duration(), True: Duration()}  # by size

    def loop(self):
        while self.clock.running():
            self.session()
            self.clock.pause(self.rng.uniform(0, 0.05))

    def next_message(self):
        token = "soak-%d-%d" % (self.number, self.count)
        self.count += 1
        if len(self.users) > 1 and self.rng.random() < MULTI_SHARE:
            k = self.rng.randint(2, len(self.users))
            recipients = tuple(self.rng.sample(self.users, k))
        else:
            recipients = (self.rng.choice(self.users),)
        large = self.rng.random() < LARGE_SHARE
        return Message(token, self.number, recipients, large)

    def rcpt_address(self, login):
        """The login as a client may spell it (sockmail-userinfo(5): matched
        case-insensitively; sockmail-smtpd(8): any domain)."""
        local = login if self.rng.random() < 0.5 else login.lower()
        domain = DOMAIN if self.rng.random() < 0.8 else "elsewhere.example"
        return "%s@%s" % (local, domain)

    def connect(self):
        try:
            smtp = smtplib.SMTP(HOST, self.port, timeout=self.io_timeout,
                                local_hostname="client.example")
        except TimeoutError:
            PROBLEMS.add("%s: no greeting in %g s (a hang?)"
                         % (self.name, self.io_timeout))
            return None
        except (smtplib.SMTPException, OSError) as e:
            self.lost(e)                        # killed at once
            return None
        try:
            code, _ = smtp.ehlo()
        except (smtplib.SMTPException, OSError) as e:
            self.lost(e)
            smtp.close()
            return None
        if code != 250:
            PROBLEMS.add("%s: EHLO got %d" % (self.name, code))
            smtp.close()
            return None
        return smtp

    def session(self):
        smtp = self.connect()
        if smtp is None:
            return
        self.book.count("smtp sessions")
        try:
            for _ in range(self.rng.choice(MESSAGES_PER_SESSION)):
                if not self.clock.running() or not self.send(smtp):
                    return
                self.clock.pause(self.rng.uniform(0, 0.02))
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()
        finally:
            smtp.close()

    def send(self, smtp):
        """One message; False when the connection is gone."""
        msg = self.next_message()
        data = msg.text()
        options = ["SIZE=%d" % len(data)] if self.rng.random() < 0.5 else []
        try:
            code, reply = smtp.mail("sender%d@client.example" % self.number,
                                    options)
            if code != 250:
                PROBLEMS.add("%s: MAIL got %d %r" % (self.name, code, reply))
                return False
            accepted = []
            for login in msg.recipients:
                code, reply = smtp.rcpt(self.rcpt_address(login))
                if code == 250:
                    accepted.append(login)
                else:
                    PROBLEMS.add("%s: RCPT %s got %d %r"
                                 % (self.name, login, code, reply))
            if not accepted:
                smtp.rset()
                return True
            self.book.note_sent(msg, accepted)
            code, reply = self.data(smtp, msg, data)
        except smtplib.SMTPDataError as e:     # DATA itself refused
            PROBLEMS.add("%s: DATA got %d %r" % (self.name, e.smtp_code,
                                                 e.smtp_error))
            self.book.note_refused(msg, accepted, e.smtp_code)
            return False
        except (smtplib.SMTPException, OSError) as e:
            self.lost(e)
            return False
        if code == 250:
            self.book.note_acked(msg, accepted)
            return True
        PROBLEMS.add("%s: %s got %d %r after DATA"
                     % (self.name, msg.token, code, reply))
        self.book.note_refused(msg, accepted, code)
        return code != 421

    def data(self, smtp, msg, data):
        """DATA, now and then with a kill cued to land within it."""
        took = self.data_time[msg.large]
        self.maybe_cue_kill(smtp.sock, took)
        start = time.monotonic()
        code, reply = smtp.data(data)
        if code == 250:
            took.add(time.monotonic() - start)
        return code, reply


# ---- POP3 sessions -------------------------------------------------------

class Gone(Exception):
    """The handler went away under a session (killed)."""


class Popper(Client):
    """POP3 sessions as random users until the deadline."""

    KIND = "pop3d"

    def __init__(self, number, port, shared, rng):
        super().__init__("popper %d" % number, port, shared, rng)
        self.quit_time = Duration()

    def loop(self):
        while self.clock.running():
            login = self.rng.choice(self.users)
            pop = self.login(login)
            if pop is not None:
                try:
                    self.transaction(pop, login)
                except Gone:
                    pass
                finally:
                    pop.close()
            self.clock.pause(self.rng.uniform(0, 0.1))

    def call(self, what, fn, *args):
        """A poplib call; a dead handler raises Gone, a -ERR reply is a
        problem (and Gone too: the session cannot go on as planned)."""
        try:
            return fn(*args)
        except poplib.error_proto as e:
            reply = e.args[0] if e.args else b""
            if isinstance(reply, bytes):        # the server's own -ERR
                PROBLEMS.add("%s: %s got %r" % (self.name, what, reply))
            else:                               # poplib's "-ERR EOF" etc.
                self.book.count("pop3d connections lost")
            raise Gone() from e
        except OSError as e:
            self.lost(e)
            raise Gone() from e

    def login(self, login):
        try:
            pop = poplib.POP3(HOST, self.port, timeout=self.io_timeout)
        except (poplib.error_proto, OSError) as e:
            self.lost(e)
            return None
        try:
            pop.user(login)
            pop.pass_(PASSWORDS[login])
        except poplib.error_proto as e:
            reply = e.args[0] if e.args else b""
            if isinstance(reply, bytes) and reply.startswith(IN_USE):
                self.book.count("pop3 in-use")  # another session has it
            elif isinstance(reply, bytes):
                PROBLEMS.add("%s: login as %s got %r"
                             % (self.name, login, reply))
            else:
                self.book.count("pop3d connections lost")
            pop.close()
            return None
        except OSError as e:
            self.lost(e)
            pop.close()
            return None
        self.book.count("pop3 sessions")
        return pop

    def transaction(self, pop, login):
        count = self.check_listings(pop)
        limit = min(MAX_RETR, max(MIN_RETR, count // 2))
        picks = self.rng.sample(range(1, count + 1),
                                min(count, self.rng.randint(1, limit)))
        dele = []
        for n in picks:
            if not self.clock.running():
                break
            token = self.retrieve(pop, login, n)
            if token is not None and self.rng.random() < DELE_SHARE:
                dele.append((n, token))
        for n, _ in dele:
            reply = self.call("DELE %d" % n, pop.dele, n)
            if reply != b"+OK message %d deleted" % n:
                PROBLEMS.add("%s: DELE %d got %r" % (self.name, n, reply))
        if self.rng.random() < HANGUP_SHARE:
            self.book.count("pop3 hang-ups")    # nothing gets deleted
            return
        self.quit(pop, login, [t for _, t in dele])

    def check_listings(self, pop):
        """STAT, LIST and UIDL agree (sockmail-pop3d(8)); the message count."""
        count, octets = self.call("STAT", pop.stat)
        _, listing, _ = self.call("LIST", pop.list)
        _, uids, _ = self.call("UIDL", pop.uidl)
        sizes = [int(ln.split()[1]) for ln in listing]
        ids = [ln.split()[1] for ln in uids]
        if len(sizes) != count or sum(sizes) != octets:
            PROBLEMS.add("%s: STAT says %d (%d octets), LIST %d (%d)"
                         % (self.name, count, octets, len(sizes), sum(sizes)))
        if len(ids) != count or len(set(ids)) != len(ids):
            PROBLEMS.add("%s: STAT says %d, UIDL lists %d ids, %d distinct"
                         % (self.name, count, len(ids), len(set(ids))))
        return count

    def retrieve(self, pop, login, n):
        """RETR n, check it is a whole message of ours, sent to login;
        its token."""
        reply, lines, octets = self.call("RETR %d" % n, pop.retr, n)
        if reply != b"+OK %d octets" % octets:
            PROBLEMS.add("%s: RETR %d said %r, sent %d octets"
                         % (self.name, n, reply, octets))
        token = token_of(lines)
        msg = self.book.message(token) if token else None
        if msg is None or not self.book.was_sent(token, login):
            PROBLEMS.add("%s: RETR %d as %s: a message never sent there: %r"
                         % (self.name, n, login, lines[:4]))
            return None
        want = msg.served_lines()
        if not same_lines(lines, want):
            PROBLEMS.add("%s: RETR of %s as %s is not the message sent: %s%s"
                         % (self.name, token, login,
                            first_difference(lines, want), TORN_HINT
                            if len(lines) < len(want) else ""))
        self.book.note_retrieved(token, login)
        return token

    def quit(self, pop, login, tokens):
        """QUIT: +OK commits the DELEs; no answer leaves them uncertain.
        Now and then a kill is cued to land within the UPDATE."""
        if tokens:
            self.maybe_cue_kill(pop.sock, self.quit_time)
        start = time.monotonic()
        try:
            reply = pop.quit()
        except poplib.error_proto as e:
            reply = e.args[0] if e.args else b""
            if isinstance(reply, bytes):
                PROBLEMS.add("%s: QUIT got %r" % (self.name, reply))
                return          # UPDATE failed: the mailbox is unchanged
            self.book.note_deleted(tokens, login, committed=False)
            self.book.count("pop3 quits unanswered")
            return
        except OSError as e:
            self.lost(e)
            self.book.note_deleted(tokens, login, committed=False)
            self.book.count("pop3 quits unanswered")
            return
        if reply != GOODBYE:
            PROBLEMS.add("%s: QUIT got %r" % (self.name, reply))
        if tokens:
            self.quit_time.add(time.monotonic() - start)
        self.book.note_deleted(tokens, login, committed=True)


# ---- reading the mailboxes -----------------------------------------------

def split_mailbox(data):
    """(whole, tail): the part of a mailbox that holds whole messages, with
    the LF a final "." may lack, and the torn tail after it
    (sockmail-mailbox(5): messages end at a line holding only "."; a "."
    at the very end without its LF still ends one; what follows the last
    is no message)."""
    if data == b"." or data.endswith(b"\n."):
        return data + b"\n", b""
    if data.startswith(b".\n"):
        end = 2
    else:
        end = 0
    last = data.rfind(b"\n.\n")
    if last >= 0:
        end = last + 3
    return data[:end], data[end:]


def records(whole):
    """The stored lines of each message, without the "." line."""
    out, current = [], []
    for line in whole.split(b"\n")[:-1]:
        if line == b".":
            out.append(current)
            current = []
        else:
            current.append(line)
    return out


def mbox_check(whole, where, workdir):
    """mbox_check.py's verdict on the whole messages; its Subject list."""
    fd, path = tempfile.mkstemp(prefix="check-", dir=workdir)
    with os.fdopen(fd, "wb") as f:
        f.write(whole)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = MBOX_CHECK.check(path)
    os.unlink(path)
    if rc != 0:
        PROBLEMS.add("%s: mbox_check.py: %s"
                     % (where, err.getvalue().replace(path, "").strip()))
    return [s for s in out.getvalue().split("\n") if s]


RECEIVED_LEN = len(b"Received: 2026-01-01 : 00 : 00")


def record_length(msg):
    """The length of msg's record in a mailbox."""
    return sum((RECEIVED_LEN if ln is None else len(ln)) + 1
               for ln in msg.stored_lines())


def tail_fits(tail, msg):
    """Whether tail is what a delivery of msg killed in mid-append leaves
    (sockmail-mailbox(5), store.h): the room for the whole record, reserved as
    NULs, of which the start holds the record's first bytes."""
    if len(tail) != record_length(msg) or not tail.endswith(b"\0"):
        return False
    text = tail.split(b"\0", 1)[0]
    if tail[len(text):].strip(b"\0"):
        return False            # text after the NULs: no append does that
    if not text:
        return True             # killed before the first byte was written
    want = msg.stored_lines()
    pieces = text.split(b"\n")
    if len(pieces) > len(want):
        return False
    for i, piece in enumerate(pieces):
        partial = i == len(pieces) - 1
        w = want[i]
        if w is None:            # the Received: line
            ok = (b"Received: "[:len(piece)] == piece[:10] if partial
                  else RECEIVED.match(piece))
        else:
            ok = w.startswith(piece) if partial else piece == w
        if not ok:
            return False
    return True


class MailboxCheck:
    """One user's final mailbox, read directly from the file."""

    def __init__(self, login, path, book, workdir):
        self.login, self.path, self.book = login, path, book
        self.workdir = workdir
        self.where = "mailbox of %s" % login
        self.data = b""
        if os.path.exists(path):
            with open(path, "rb") as f:
                self.data = f.read()
        self.whole, self.tail = split_mailbox(self.data)
        self.records = records(self.whole)
        self.tokens = [token_of(r) for r in self.records]

    def check(self):
        subjects = mbox_check(self.whole, self.where, self.workdir)
        if subjects != [t for t in self.tokens if t is not None]:
            PROBLEMS.add("%s: mbox_check.py and soak.py split it apart "
                         "differently" % self.where)
        for rec in self.records:
            self.check_record(rec)
        if self.tail:
            self.check_tail()

    def check_record(self, rec):
        token = token_of(rec)
        msg = self.book.message(token) if token else None
        if msg is None or not self.book.was_sent(token, self.login):
            PROBLEMS.add("%s: a message never sent there: %r"
                         % (self.where, rec[:4]))
            return
        want = msg.stored_lines()[:-1]
        if not same_lines(rec, want):
            PROBLEMS.add("%s: %s is not the message sent: %s%s"
                         % (self.where, token, first_difference(rec, want),
                            TORN_HINT if len(rec) < len(want) else ""))

    def check_tail(self):
        """A torn tail must be what a copy for this user that was sent and
        never acknowledged leaves when its delivery is killed: the start of
        its record, then NULs to the end of the file."""
        self.book.count("torn tails")
        with self.book.lock:
            candidates = [self.book.messages[t] for t, u in self.book.sent
                          if u == self.login and
                          (t, u) not in self.book.acked]
        if not any(tail_fits(self.tail, m) for m in candidates):
            PROBLEMS.add("%s: a tail of %d bytes after the last message "
                         "that is no unacknowledged delivery's start: %r"
                         % (self.where, len(self.tail), self.tail[:200]))


def final_login(port, login, io_timeout):
    """A clean POP3 session as login after everything else ended: the
    maildrop must be free, and the handler's message count (after it cut
    any torn tail) is returned."""
    try:
        pop = poplib.POP3(HOST, port, timeout=io_timeout)
        try:
            pop.user(login)
            pop.pass_(PASSWORDS[login])
            count, _ = pop.stat()
            _, uids, _ = pop.uidl()
            if len(uids) != count:
                PROBLEMS.add("final login as %s: STAT %d, UIDL %d"
                             % (login, count, len(uids)))
            reply = pop.quit()
            if reply != GOODBYE:
                PROBLEMS.add("final login as %s: QUIT got %r"
                             % (login, reply))
            return count
        finally:
            pop.close()
    except (poplib.error_proto, OSError) as e:
        PROBLEMS.add("final login as %s failed: %r" % (login, e))
        return None


def final_delivery(port, login, book, io_timeout):
    """One clean delivery to login, its copy acknowledged (or a problem)."""
    msg = Message("final-" + login, 0, (login,), False)
    try:
        with smtplib.SMTP(HOST, port, timeout=io_timeout,
                          local_hostname="client.example") as smtp:
            book.note_sent(msg, [login])
            smtp.sendmail("sender0@client.example",
                          ["%s@%s" % (login, DOMAIN)], msg.text())
            book.note_acked(msg, [login])
    except (smtplib.SMTPException, OSError) as e:
        PROBLEMS.add("final delivery to %s failed: %r" % (login, e))


def check_copies(book, found):
    """The bookkeeping against the final mailboxes; found maps each login
    to the tokens read from its mailbox."""
    counts = {u: collections.Counter(t) for u, t in found.items()}
    present = {(t, u) for u, c in counts.items() for t in c}
    gone_ok = book.deleted | book.uncertain
    for u, c in counts.items():
        for t, n in sorted(c.items()):
            if n > 1:
                PROBLEMS.add("%s is in the mailbox of %s %d times" % (t, u, n))
    for t, u in sorted(book.acked - present):
        if (t, u) not in book.retrieved or (t, u) not in gone_ok:
            PROBLEMS.add("%s was acknowledged for %s, yet it is not in the "
                         "mailbox and was not deleted there" % (t, u))
    for t, u in sorted(book.retrieved - present - gone_ok):
        PROBLEMS.add("%s was retrieved by %s, then vanished without a DELE"
                     % (t, u))
    for t, u in sorted(book.deleted & present):
        PROBLEMS.add("%s was deleted by %s (QUIT got +OK), yet it is still "
                     "there" % (t, u))
    for (t, u), reply in sorted(book.refused.items()):
        if (t, u) in present:
            PROBLEMS.add("%s got %s, not 250, yet it was delivered to %s"
                         % (t, reply, u))
    # Copies whose DATA a kill cut short, yet that were stored: the kill
    # came after the append (a client that got no 250 was promised
    # nothing either way).
    book.count("unacknowledged found",
               len((present | book.retrieved) & (book.sent - book.acked)))
    return sum(len(t) for t in found.values())


def check_leftovers(root, spool, book, logins):
    """Only the mailboxes and their indexes (a cache, a plain file), and
    the temp files of killed handlers: those whose names carry the host
    and the pid (sockmail-mailbox(5)), an UPDATE's new mailbox
    (my_mailbox.txt.HOST.PID.tmp) and a spool file the handler had not yet
    unlinked (sockmail-spool.HOST.PID.XXXXXX), and the new index of an
    UPDATE killed after its rename (my_mailbox.idx.new; the next one
    replaces it)."""
    host = re.escape(socket.gethostname()[:63])
    update_tmp = re.compile(r"^my_mailbox\.txt\.%s\.(\d+)\.tmp$" % host)
    spool_tmp = re.compile(r"^sockmail-spool\.%s\.(\d+)\.\w{6}$" % host)
    stale = 0
    extra = set(os.listdir(root)) - {"userinfo.txt", "USERS"}
    extra |= {"USERS/" + n for n in os.listdir(os.path.join(root, "USERS"))
              if n not in logins}
    for login in logins:
        folder = os.path.join(root, "USERS", login)
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            m = update_tmp.match(name)
            path = os.path.join(folder, name)
            if m and int(m.group(1)) in book.killed["pop3d"]:
                stale += 1
            elif name == "my_mailbox.idx.new" and book.killed["pop3d"]:
                stale += 1
            elif name == "my_mailbox.idx" and os.path.isfile(path) \
                    and not os.path.islink(path):
                continue
            elif name != "my_mailbox.txt":
                extra.add("USERS/%s/%s" % (login, name))
    for name in os.listdir(spool):
        m = spool_tmp.match(name)
        if m and int(m.group(1)) in book.killed["smtpd"]:
            stale += 1
        else:
            extra.add("spool/" + name)
    for name in sorted(extra):
        PROBLEMS.add("a file left behind: %s" % name)
    book.count("stale temp files of killed handlers", stale)


def check_logs(listeners):
    """Sanitizer reports in the handlers' stderr fail the run; error lines
    are shown."""
    for lst in listeners:
        with open(lst.log_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        if re.search(r"Sanitizer|runtime error", text):
            start = re.search(r".*(Sanitizer|runtime error)", text).start()
            PROBLEMS.add("sanitizer report in %s:\n%s"
                         % (lst.log_path, text[start:start + 3000]))
        errors = [ln for ln in text.splitlines()
                  if not ACTIVATOR_LINE.match(ln) and " error " in ln]
        for ln in errors[:10]:
            print("%s logged: %s" % (lst.kind, ln))


# ---- the run -------------------------------------------------------------

def write_mailroot(root, logins):
    os.makedirs(os.path.join(root, "USERS"))
    with open(os.path.join(root, "userinfo.txt"), "w") as f:
        f.write("# soak.py: LOGIN PASSWORD\n")
        for login, stored, _ in USERS:
            if login in logins:
                f.write("%s\t%s\n" % (login, stored))


class Soak:
    def __init__(self, args, workdir):
        self.args, self.workdir = args, workdir
        self.root = os.path.join(workdir, "root")
        self.spool = os.path.join(workdir, "spool")
        self.logins = [u[0] for u in USERS[:args.users]]
        self.book = Book()
        self.clock = None
        self.listeners = []
        self.threads = []

    def start_listeners(self):
        env = handler_env_args(self.spool)
        common = ["-d", self.root, "-n", DOMAIN]
        for kind, handler, extra in (("smtpd", self.args.smtpd, []),
                                     ("pop3d", self.args.pop3d, ["-f", "0"])):
            lst = Listener(kind, [handler] + common + extra, env,
                           os.path.join(self.workdir, kind + ".log"))
            self.listeners.append(lst)
            lst.start()

    def start_traffic(self):
        a = self.args
        smtpd, pop3d = self.listeners
        self.clock = Clock(a.duration)
        rng = random.Random(a.seed)
        shared = Shared(self.book, self.clock, self.logins, a.io_timeout,
                        a.cue_share)
        if a.kill_gap[1] > 0 or a.cue_share > 0:
            shared.killer = Killer(self.listeners, self.book, self.clock,
                                   random.Random(rng.random()), a.kill_gap)
            self.threads.append(shared.killer)
        for i in range(a.senders):
            self.threads.append(Sender(i, smtpd.port, shared,
                                       random.Random(rng.random())))
        for i in range(a.poppers):
            self.threads.append(Popper(i, pop3d.port, shared,
                                       random.Random(rng.random())))
        for t in self.threads:
            t.start()

    def wait_traffic(self):
        """Until the deadline, then until every client has finished its
        step (each bounded by the socket timeout)."""
        while self.clock.running():
            time.sleep(0.2)
        self.clock.stop()
        end = time.monotonic() + 2 * self.args.io_timeout + 10
        for t in self.threads:
            t.join(max(0.0, end - time.monotonic()))
            if t.is_alive():
                PROBLEMS.add("%s did not stop (a hang?)" % t.name)
        for lst in self.listeners:
            if lst.proc.poll() is not None:
                PROBLEMS.add("the %s listener exited during the run (%d)"
                             % (lst.kind, lst.proc.returncode))

    def wait_handlers_gone(self):
        """Every handler ends once its client has hung up."""
        end = time.monotonic() + self.args.io_timeout + 10
        while time.monotonic() < end:
            if not any(lst.children() for lst in self.listeners):
                return
            time.sleep(0.1)
        for lst in self.listeners:
            for pid in lst.children():
                PROBLEMS.add("%s %d still runs after its client left"
                             % (lst.kind, pid))

    def mailbox_path(self, login):
        return os.path.join(self.root, "USERS", login, "my_mailbox.txt")

    def check_mailboxes(self):
        """Each mailbox read directly; then a clean POP3 login, which must
        see as many messages and leave the file as it was (it deletes
        nothing); then a clean delivery, after which any torn tail must be
        gone (sockmail-mailbox(5): the next writer cuts it off). The tokens per
        login, the final deliveries' included."""
        smtpd, pop3d = self.listeners
        before = {}
        for login in self.logins:
            before[login] = MailboxCheck(login, self.mailbox_path(login),
                                         self.book, self.workdir)
            before[login].check()
            count = final_login(pop3d.port, login, self.args.io_timeout)
            if count is not None and count != len(before[login].records):
                PROBLEMS.add("mailbox of %s: POP3 sees %d messages, the "
                             "file holds %d" % (login, count,
                                                len(before[login].records)))
        self.wait_handlers_gone()
        for login in self.logins:
            now = MailboxCheck(login, self.mailbox_path(login), self.book,
                               self.workdir)
            if now.data != before[login].data:
                PROBLEMS.add("mailbox of %s: changed by a POP3 session that "
                             "deleted nothing" % login)
            final_delivery(smtpd.port, login, self.book,
                           self.args.io_timeout)
        self.wait_handlers_gone()
        found = {}
        for login in self.logins:
            after = MailboxCheck(login, self.mailbox_path(login), self.book,
                                 self.workdir)
            after.check()
            if after.tail or not after.data.startswith(before[login].whole) \
                    or len(after.records) != len(before[login].records) + 1:
                PROBLEMS.add("mailbox of %s: after one more delivery it is "
                             "not the whole messages it held plus that one"
                             % login)
            found[login] = [t for t in after.tokens if t is not None]
        return found

    def run(self):
        os.makedirs(self.spool)
        write_mailroot(self.root, self.logins)
        self.start_listeners()
        print("soak: seed %s, %d s, %d senders, %d poppers, users %s, "
              "smtpd port %d, pop3d port %d, in %s"
              % (self.args.seed, self.args.duration, self.args.senders,
                 self.args.poppers, " ".join(self.logins),
                 self.listeners[0].port, self.listeners[1].port,
                 self.workdir), flush=True)
        started = time.monotonic()
        self.start_traffic()
        self.wait_traffic()
        self.wait_handlers_gone()
        found = self.check_mailboxes()
        self.stop()
        check_leftovers(self.root, self.spool, self.book, self.logins)
        check_logs(self.listeners)
        remaining = check_copies(self.book, found)
        self.report(remaining, time.monotonic() - started)
        return 1 if PROBLEMS.items else 0

    def stop(self):
        if self.clock is not None:
            self.clock.stop()
        for lst in self.listeners:
            lst.stop()

    def report(self, remaining, elapsed):
        b = self.book
        ev = b.events
        print("details: %d messages; copies: %d deleted uncertain (QUIT "
              "unanswered), %d delivered without 250, %d refused; smtp: %d "
              "sessions, %d lost; pop3: %d sessions, %d in-use, %d hang-ups, "
              "%d lost; kills: %d smtpd, %d pop3d, %d of them cued; %d torn "
              "tails; %d stale temp files; %.1f s"
              % (len(b.messages), len(b.uncertain), ev["unacknowledged found"],
                 len(b.refused), ev["smtp sessions"],
                 ev["smtpd connections lost"], ev["pop3 sessions"],
                 ev["pop3 in-use"], ev["pop3 hang-ups"],
                 ev["pop3d connections lost"], ev["smtpd kills"],
                 ev["pop3d kills"], ev["cued kills"], ev["torn tails"],
                 ev["stale temp files of killed handlers"], elapsed))
        PROBLEMS.report_rest()
        print("sent %d, acknowledged %d, retrieved %d, deleted %d, "
              "remaining %d, kills %d: %s"
              % (len(b.sent), len(b.acked), len(b.retrieved),
                 len(b.deleted), remaining, ev["kills"],
                 "FAIL" if PROBLEMS.items else "PASS"), flush=True)


# ---- main ----------------------------------------------------------------

def gap_pair(text):
    lo, _, hi = text.partition(":")
    pair = (float(lo), float(hi or lo))
    if pair[0] < 0 or pair[1] < pair[0]:
        raise argparse.ArgumentTypeError("want MIN:MAX, 0 <= MIN <= MAX")
    return pair


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See the head of this file for what is checked.")
    p.add_argument("--duration", type=float, default=600,
                   help="seconds of traffic (default 600)")
    p.add_argument("--senders", type=int, default=6)
    p.add_argument("--poppers", type=int, default=3)
    p.add_argument("--users", type=int, default=len(USERS),
                   choices=range(1, len(USERS) + 1),
                   help="how many of the four users get mail")
    p.add_argument("--seed", default=None,
                   help="random seed (default: a fresh one, printed)")
    p.add_argument("--kill-gap", type=gap_pair, default=(0.05, 0.4),
                   metavar="MIN:MAX", help="seconds between kills "
                   "(default 0.05:0.4; 0:0 kills nothing)")
    p.add_argument("--cue-share", type=float, default=0.05,
                   help="share of DATA and QUIT steps whose handler is "
                   "killed on cue within the step (default 0.05)")
    p.add_argument("--io-timeout", type=float, default=30,
                   help="client socket timeout; a reply this late is a "
                   "hang (default 30)")
    p.add_argument("--builddir", default=os.environ.get("abs_top_builddir")
                   or os.path.dirname(os.path.dirname(TOOLS)))
    p.add_argument("--smtpd", help="default BUILDDIR/src/sockmail-smtpd")
    p.add_argument("--pop3d", help="default BUILDDIR/src/sockmail-pop3d")
    p.add_argument("--workdir", help="a new directory to work in (kept)")
    a = p.parse_args(argv)
    a.smtpd = os.path.abspath(a.smtpd or os.path.join(
        a.builddir, "src", "sockmail-smtpd"))
    a.pop3d = os.path.abspath(a.pop3d or os.path.join(
        a.builddir, "src", "sockmail-pop3d"))
    if a.seed is None:
        a.seed = str(random.SystemRandom().randrange(10 ** 9))
    for path in (a.smtpd, a.pop3d):
        if not os.access(path, os.X_OK):
            p.error("no handler at %s" % path)
    if shutil.which("systemd-socket-activate") is None:
        p.error("systemd-socket-activate not found")
    return a


def on_sigterm(signum, frame):
    raise KeyboardInterrupt()


def main(argv):
    args = parse_args(argv[1:])
    if args.workdir:
        os.makedirs(args.workdir)
        workdir = os.path.abspath(args.workdir)
    else:
        workdir = tempfile.mkdtemp(prefix="sockmail-soak-")
    signal.signal(signal.SIGTERM, on_sigterm)
    soak = Soak(args, workdir)
    rc = 1
    try:
        rc = soak.run()
    except KeyboardInterrupt:
        print("soak: interrupted", flush=True)
        rc = 130
    finally:
        soak.stop()         # no listener or handler outlives the run
    if rc == 0 and not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    elif rc != 0:
        print("soak: work directory kept: %s" % workdir)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
