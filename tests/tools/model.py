#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""model.py: a seeded, model-based random test of "never lose mail",
against the real handlers, with faults, kill -9 and a durability oracle.

usage: model.py [--seed N] [--steps N] [--deadline SECS]
                [--mailroot DIR[,DIR2]] [--check-root DIR]
                [--smtpd PATH] [--pop3d PATH]
                [--workdir DIR] [--no-faults] [--allow KIND[,KIND]]
                [--strict-cache] [--inject WHAT] [--verbose]

Every step is one action, its choices drawn from a generator seeded with
the seed and the step number, so `--seed N --steps M` replays a run up to
its step M (as far as the outcome of a race, a kill right after the
client's last line, can be replayed). The run stops after --steps steps or
--deadline seconds, whichever comes first. The actions:

  smtp     an SMTP session, sockmail-smtpd on pipes: 1-2 messages, each to
           1-3 recipients (one twice, an unknown one, any case), bodies with
           "." and ".." lines, empty and 998-byte lines, 8-bit bytes, now and
           then 300 KB (the spool on disk) or a NUL (554), a unique
           X-Model-Tag header; maybe with one fault
  pop3     a POP3 session, sockmail-pop3d on pipes: USER/PASS, STAT, LIST,
           UIDL, RETR (each compared with the model), DELE of some, RSET,
           then QUIT, or a hang-up, or a kill; maybe with one fault
  during   a delivery while a POP3 session of the same user is logged in
           with DELEs done, then its QUIT: the new mail must stay
  foreign  another program appends to a mailbox: a tail with no "." line
           (text, NULs then text, binary), or a whole CRLF message; or an
           administrator removes a user folder that holds no mail

A fault is one of: an error (EIO, ENOSPC) injected by strace into the Nth
fsync, write, pwrite64, rename, ftruncate, fallocate or openat; SIGKILL at
the Nth call of one of them; the client hanging up, or the handler killed,
after the client's Kth line.

The model holds, per user, the messages the mailbox must hold in order,
each certain or uncertain (stored once or not at all), a foreign tail
still in place, a killed delivery's torn room, the side files. After
every step every mailbox, side file and folder is read from disk with
mboxfmt.py (not the code under test) and compared; the rules, from
sockmail-smtpd(8), sockmail-pop3d(8) and sockmail-mailbox(5):

  - 250 after DATA: one copy per distinct accepted recipient, byte for byte
    (the Received: time compared by its form);
  - 4xx/5xx after DATA: no copy anywhere;
  - no reply (killed, hung up, a reply that could not be written): 0 or 1
    copy per recipient, never 2, never torn; a killed append's torn room
    is cut by the next writer, never moved to a side file;
  - a POP3 login lists the model's messages: the count and size (CR LF,
    unstuffed) of PASS, STAT, LIST and RSET, RETR byte for byte (a CRLF
    message as its LF form), UIDL unique and the same in every session;
  - +OK to QUIT after a login: exactly the DELE'd messages gone, the rest
    in order, mail delivered meanwhile kept; -ERR, a hang-up, a kill
    before QUIT: nothing deleted; no reply to QUIT: all of the DELEs or
    none;
  - a foreign tail stays at the end of the mailbox or is moved whole into
    exactly one new side file; side files never change;
  - in the user folders nothing but the mailbox, its index, the side
    files and the temporary files of killed POP3 handlers, until the next
    UPDATE removes those; no folder for an unknown user.

The durability oracle: every handler runs under strace -y, and at each
acknowledgement it writes (250 ... Message accepted for delivery; the
+OK to QUIT after a login) every file under the mail root it wrote since
its last successful fsync must have been fsynced again, and every entry
it created or renamed in USERS/ (and any such entry an earlier handler
left unsynced on the way to a file it wrote) must have been followed by a
successful fsync of its folder; a file is never renamed before its data
are fsynced. The message index (my_mailbox.idx) is a cache that needs no
fsync (sockmail-mailbox(5), INDEX; mdindex.c): left out, unless
--strict-cache.

A finding of the oracle, or an extra side file, has a kind; --allow
KIND[,KIND] counts the findings of those kinds and shows the first of
each instead of failing (tests/model.bats names the ones the shipped
handlers are known to produce). Anything else the model finds (mail lost,
doubled, changed, torn or brought back, a tail lost or mixed into a
message, a stray file) has no kind and always fails.

  unsynced-data       acknowledged with a file written and not fsynced
  unsynced-refused    the same, written for a transaction the handler then
                      refused (4xx, 5xx, -ERR) before it acknowledged
                      another one
  unsynced-entry      acknowledged with an entry made (created, renamed
                      to) in USERS/ and no fsync of its folder tried
  failed-fsync-entry  the same, where that fsync was tried and failed
  update-unsettled    +OK to QUIT after an UPDATE whose rename's folder
                      fsync failed: a crash may bring the deleted mail
                      back, never lose any; the mailbox stays unsettled
                      (sockmail-mailbox(5)) for the next delivery
  killed-entry        a write acknowledged into a file whose entry a
                      killed handler made and never fsynced in its folder
  rename-unsynced     a file renamed before its data were fsynced
  tail-copied-twice   a side file with a whole foreign tail that is still
                      in the mailbox, or that another side file holds
  killed-tail-copy    a side file with part of a foreign tail, left by a
                      killed handler

Two paths in --mailroot are two mounts of one shared file system: each
handler and each foreign append picks one; checks read through the first,
or from --check-root (a GlusterFS brick: the server's own files, which no
client's cache stands in front of; the handlers look past those caches
under their locks, a reader without them need not).
On a network file system a check that fails is read again after a pause
(its client may cache for a second) before it counts.

Prints "model: seed N" first; a summary line at the end; exit 0 when every
check passed, 1 on a finding (the seed, the step, the action and what
differs, and where the mail root, traces and logs were left), 2 on a
usage or set-up error.
"""

import argparse
import errno
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mboxfmt  # noqa: E402

DOMAIN = "test.example"
USERS = (("ann", "ann-pw"), ("bob.k", "{PLAIN}bobk-pw"), ("Cy-3", "cy3-pw"))
UNKNOWN = ("nobody", "ann2", "bob")
USERINFO_MARK = "# model.py: its users, plain passwords"
MAILBOX = "my_mailbox.txt"
CANON_RECEIVED = b"Received: 2000-01-01 : 00 : 00"
TAG = re.compile(rb"^X-Model-Tag: (\S+?)\r?$", re.M)
SIDE_NAME = re.compile(r"^my_mailbox\.txt\.tail\.\d{8}T\d{6}Z\..+\.\d+"
                       r"(\.\d+)?$")
TMP_NAME = re.compile(r"^my_mailbox\.(txt|idx)\.(.+)\.(\d+)\.tmp$")
CACHE_NAME = re.compile(r"^my_mailbox\.idx(\..+\.tmp)?$")
ROOT_FILES = {"userinfo.txt", "USERS", "auth-penalty"}
SIDE_KEEP = 8           # side files a user keeps before the "admin" clears
REPLY_TIMEOUT = 60.0

TRACE_SET = ("write,pwrite64,writev,fsync,fdatasync,rename,renameat,"
             "renameat2,ftruncate,fallocate,openat,unlink,unlinkat,mkdir,"
             "mkdirat")
ACK_SMTP = b"Message accepted for delivery"
ACK_POP3 = b"+OK Thanks for using POP3 server"

# syscall: (strace's set, weight, largest N for smtpd, for pop3d)
FAULT_CALLS = {
    "fsync": ("fsync", 3, 8, 4),
    "write": ("write", 2, 24, 16),
    "pwrite64": ("pwrite64", 2, 6, 4),
    "rename": ("rename,renameat,renameat2", 1, 2, 2),
    "ftruncate": ("ftruncate", 2, 6, 3),
    "fallocate": ("fallocate", 1, 3, 3),
    "openat": ("openat", 2, 14, 8),
}
# The kinds of finding --allow may name (the head of this file).
KINDS = ("unsynced-data", "unsynced-refused", "unsynced-entry",
         "failed-fsync-entry", "update-unsettled",
         "killed-entry", "rename-unsynced", "tail-copied-twice",
         "killed-tail-copy")
NETWORK_FS = ("fuse", "nfs", "nfs4", "ceph", "cifs", "smb3", "glusterfs")

WORDS = (b"mail", b"lost", b"never", b"fsync", b"rename", b"tail", b"dot",
         b"From", b"queue", b"x", b"\xc3\xa9t\xc3\xa9", b"--", b"=?utf-8?q?",
         b"Subject:", b"a.b", b".")


class Failure(Exception):
    """A finding: the mail root differs from the model, or a rule broke."""


def weighted(rng, table):
    """A key of table (key: weight), drawn with rng."""
    total = sum(table.values())
    r = rng.random() * total
    for key, w in table.items():
        r -= w
        if r < 0:
            return key
    return key


def show(data, limit=160):
    """Bytes as a short printable string."""
    text = repr(bytes(data[:limit]))
    return text + ("... (%d bytes)" % len(data) if len(data) > limit else "")


def tag_of(raw):
    m = TAG.search(raw)
    return m.group(1).decode("ascii", "replace") if m else None


def normalise(raw):
    """A record as sockmail writes it, its Received: time (the fourth
    line) made the model's."""
    lines = raw.split(b"\n", 4)
    if len(lines) > 4 and mboxfmt.RECEIVED.match(lines[3]):
        lines[3] = CANON_RECEIVED
    return b"\n".join(lines)


def first_difference(got, want):
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            break
    else:
        i = min(len(got), len(want))
    lo = max(0, i - 40)
    return ("at byte %d: got %s, want %s"
            % (i, show(got[lo:i + 60]), show(want[lo:i + 60])))


class Msg:
    """A message the model expects in a mailbox."""

    def __init__(self, tag, stored, exact, certain, origin):
        self.tag = tag
        self.stored = stored    # the bytes, Received: made canonical
        self.exact = exact      # compare byte for byte (foreign, old)
        self.certain = certain  # False: stored once or not at all
        self.origin = origin    # for messages: what put it there
        self.uid = None

    def matches(self, raw):
        return (raw if self.exact else normalise(raw)) == self.stored

    def served(self):
        """The lines RETR must send, unstuffed, without their endings."""
        return [mboxfmt.unstuff(ln) for ln in mboxfmt.lines(self.stored)]

    def size(self):
        return sum(len(ln) + 2 for ln in self.served())


class User:
    def __init__(self, login, password):
        self.login = login
        self.password = password
        self.msgs = []          # Msg, in mailbox order
        self.tail = b""         # foreign bytes after the last message
        self.torn = b""         # a killed append's room, not yet cut
        self.side = {}          # side file name: bytes
        self.stale = set()      # temporary files killed handlers left
        self.pending_del = None  # (tags, what): all deleted or none


class Outgoing:
    """A message an SMTP client sends."""

    def __init__(self, rng, tag, big):
        self.tag = tag
        self.sender = "s%d@model.example" % rng.randrange(100)
        self.reject = rng.random() < 0.02   # a NUL: 554, nothing stored
        self.rcpts = self._recipients(rng)
        self.headers = self._headers(rng)
        self.body = body_lines(rng, big)
        if self.reject:
            self.body.insert(rng.randrange(len(self.body) + 1),
                             b"a NUL \0 here")

    @staticmethod
    def _recipients(rng):
        out = []
        for _ in range(rng.choice((1, 1, 2, 2, 3))):
            if rng.random() < 0.1:
                login = None
                local = rng.choice(UNKNOWN)
            else:
                login = rng.choice(USERS)[0]
                local = login
                if rng.random() < 0.2:
                    local = "".join(c.upper() if rng.random() < 0.5 else
                                    c.lower() for c in local)
            domain = rng.choice((DOMAIN, DOMAIN, "Test.Example",
                                 "other.example"))
            out.append(("%s@%s" % (local, domain), login))
        if rng.random() < 0.15:
            out.append(rng.choice(out))       # the same recipient twice
        return out

    def _headers(self, rng):
        fields = [[b"From", b"Sender <%s>" % self.sender.encode()],
                  [b"To", b"model users <list@%s>" % DOMAIN.encode()],
                  [b"Subject", b"model message %s" % self.tag.encode()]]
        fields = [f for f in fields if rng.random() >= 0.08]
        for f in fields:
            if rng.random() < 0.15:
                f[0] = rng.choice((f[0].upper(), f[0].lower()))
            if rng.random() < 0.1:
                f[1] = b"\t " + f[1] + b"  "
            if rng.random() < 0.05:
                f[1] += b" \xe2\x9c\x89 8-bit"
        fields.append([b"X-Model-Tag", self.tag.encode()])
        if rng.random() < 0.1:
            fields.append([b"Received", b"from elsewhere by nowhere"])
        if rng.random() < 0.1:
            fields.append([b"Subject", b"a second subject, kept below"])
        if rng.random() < 0.1:
            fields.append([b"Message-ID", b"<%s@model>" % self.tag.encode()])
        # In any order: the first Subject: of the block is the stored one,
        # whichever it is.
        rng.shuffle(fields)
        return [n + b": " + v for n, v in fields]

    def lines(self):
        return self.headers + [b""] + self.body

    def wire(self):
        """The DATA lines, dot-stuffed, CRLF."""
        return [(b"." + ln if ln.startswith(b".") else ln) + b"\r\n"
                for ln in self.lines()]

    def record(self, env_to):
        """The record sockmail-smtpd stores (msg.c): the first From:, To:,
        Subject: of the header block, unfolded and trimmed, or the
        envelope's; Received:; every other line, dot-stuffed; ".". """
        found, skip = {}, set()
        for i, ln in enumerate(self.headers):
            name, _, value = ln.partition(b":")
            key = name.lower()
            if key in (b"from", b"to", b"subject") and key not in found:
                found[key] = value.strip(b" \t")
                skip.add(i)
        out = [b"From: " + found.get(b"from", self.sender.encode()),
               b"To: " + found.get(b"to", env_to.encode()),
               b"Subject: " + found.get(b"subject", b""),
               CANON_RECEIVED]
        rest = [ln for i, ln in enumerate(self.headers) if i not in skip]
        rest += [b""] + self.body
        out += [b"." + ln if ln.startswith(b".") else ln for ln in rest]
        return b"\n".join(out) + b"\n.\n"


def printable(rng, n):
    return bytes(rng.randrange(32, 127) for _ in range(n))


def body_lines(rng, big):
    out = []
    for _ in range(rng.choice((0, 1, 2, 3, 4, 6, 10, 20, 40))):
        r = rng.random()
        if r < 0.12:
            out.append(b"")
        elif r < 0.30:
            out.append(rng.choice((b".", b"..", b"...", b". x", b".\t",
                                   b".leading dot", b"..two dots")))
        elif r < 0.38:
            line = printable(rng, rng.randint(200, 998))
            out.append(line[:997] if line.startswith(b".") else line)
        elif r < 0.50:
            out.append(bytes(rng.choice((rng.randrange(128, 256),
                                         rng.randrange(32, 127)))
                             for _ in range(rng.randint(1, 80))))
        elif r < 0.56:
            out.append(rng.choice((b"From: not a header", b"Subject: body",
                                   b"To: nobody", b"Received: 2000")))
        elif r < 0.60:
            out.append(rng.choice((b" ", b"\t")) + printable(rng, 20))
        else:
            out.append(b" ".join(rng.choice(WORDS)
                                 for _ in range(rng.randint(1, 12))))
    if big:
        filler = printable(rng, 75)
        out += [b"%05d %s" % (i, filler) for i in range(4200)]
    return out


class Fault:
    """What goes wrong in one handler run, if anything."""

    def __init__(self, kind=None, call=None, err=None, when=0, cut=0,
                 nowait=False):
        self.kind = kind        # None, error, signal, hangup, kill
        self.call, self.err, self.when = call, err, when
        self.cut, self.nowait = cut, nowait

    @classmethod
    def draw(cls, rng, handler, faults, cuts):
        if not faults:
            return cls()
        r = rng.random()
        col = 2 if handler == "smtpd" else 3
        if r < 0.45:
            return cls()
        if r < 0.85:
            call = weighted(rng, {k: v[1] for k, v in FAULT_CALLS.items()})
            when = rng.randint(1, FAULT_CALLS[call][col])
            if r < 0.70:
                return cls("error", call, rng.choice(("EIO", "ENOSPC")),
                           when)
            return cls("signal", call, None, when)
        kind = "hangup" if r < 0.92 else "kill"
        return cls(kind, cut=rng.randint(1, cuts), nowait=rng.random() < 0.5)

    def inject(self):
        if self.kind == "error":
            return "%s:error=%s:when=%d" % (FAULT_CALLS[self.call][0],
                                             self.err, self.when)
        if self.kind == "signal":
            return "%s:signal=KILL:when=%d" % (FAULT_CALLS[self.call][0],
                                                self.when)
        return None

    def __str__(self):
        if self.kind is None:
            return "no fault"
        if self.kind == "error":
            return "%s at %s #%d" % (self.err, self.call, self.when)
        if self.kind == "signal":
            return "SIGKILL at %s #%d" % (self.call, self.when)
        return "%s after line %d%s" % (
            "hang-up" if self.kind == "hangup" else "SIGKILL", self.cut,
            " (no wait)" if self.kind == "kill" and self.nowait else "")


class Handler:
    """One handler under strace, spoken to through pipes."""

    def __init__(self, run, name, argv, fault):
        self.run, self.name, self.fault = run, name, fault
        self.trace = os.path.join(run.workdir, "trace-%s.txt" % name)
        self.errpath = os.path.join(run.workdir, "stderr-%s.txt" % name)
        cmd = ["strace", "-f", "-qq", "-ttt", "-y", "-s", "512", "-o",
               self.trace,
               "-e", "trace=" + TRACE_SET]
        inject = fault.inject()
        # strace 6 does not deliver an injected signal under seccomp-bpf.
        if fault.kind != "signal":
            cmd.append("--seccomp-bpf")
        if inject:
            cmd += ["-e", "inject=" + inject]
        for extra in run.args.inject:
            cmd += ["-e", "inject=" + extra]
        with open(self.errpath, "wb") as err:
            self.proc = subprocess.Popen(
                cmd + argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=err, env=run.env, close_fds=True)
        self.wfd = self.proc.stdin.fileno()
        self.rfd = self.proc.stdout.fileno()
        os.set_blocking(self.wfd, False)
        self.buf = b""
        self.eof = False
        self.stdin_open = True
        self.killed = False

    def _read_some(self, timeout):
        ready, _, _ = select.select([self.rfd], [], [], timeout)
        if not ready:
            return False
        data = os.read(self.rfd, 65536)
        if data:
            self.buf += data
        else:
            self.eof = True
        return True

    def send(self, data):
        """Write data to the handler's input, reading its output meanwhile.
        False when the handler is gone."""
        if not self.stdin_open:
            return False
        view = memoryview(data)
        limit = time.monotonic() + REPLY_TIMEOUT
        while view:
            if time.monotonic() > limit:
                raise Failure("%s took no input for %d s" %
                              (self.name, REPLY_TIMEOUT))
            rl = [] if self.eof else [self.rfd]
            r, w, _ = select.select(rl, [self.wfd], [], 1.0)
            if r:
                self._read_some(0)
            if w:
                try:
                    n = os.write(self.wfd, view)
                except BrokenPipeError:
                    self.close_input()
                    return False
                except BlockingIOError:
                    continue
                view = view[n:]
        return True

    def line(self):
        """The next line of output without its CRLF; None at its end."""
        limit = time.monotonic() + REPLY_TIMEOUT
        while b"\n" not in self.buf:
            if self.eof:
                # A write that failed (a fault) may cut a RETR mid-line.
                if self.buf and self.fault.kind is None:
                    raise Failure("%s ended its output in mid-line: %s"
                                  % (self.name, show(self.buf)))
                return None
            if not self._read_some(max(0.0, limit - time.monotonic())):
                raise Failure("%s did not answer in %d s"
                              % (self.name, REPLY_TIMEOUT))
        ln, _, self.buf = self.buf.partition(b"\n")
        if not ln.endswith(b"\r"):
            raise Failure("%s: a reply line without CR LF: %s"
                          % (self.name, show(ln)))
        return ln[:-1]

    def smtp_reply(self):
        """The lines of one SMTP reply, or None when the output ended."""
        lines = []
        while True:
            ln = self.line()
            if ln is None:
                return None if not lines else lines
            lines.append(ln)
            if len(ln) < 4 or ln[3:4] != b"-":
                return lines

    def multi(self):
        """The lines of a POP3 multi-line response, after its +OK line."""
        out = []
        while True:
            ln = self.line()
            if ln is None:
                return None
            if ln == b".":
                return out
            out.append(ln)

    def close_input(self):
        if self.stdin_open:
            self.stdin_open = False
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def kill(self):
        """SIGKILL the handler (strace's child)."""
        pid = self.proc.pid
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                kids = f.read().split()
        except OSError:
            kids = []
        for kid in kids:
            try:
                os.kill(int(kid), signal.SIGKILL)
                self.killed = True
            except ProcessLookupError:
                pass

    def finish(self):
        """Close the input, read what is left, wait for the exit. Returns
        the rest of the output and the exit status."""
        self.close_input()
        limit = time.monotonic() + REPLY_TIMEOUT
        while not self.eof:
            if not self._read_some(max(0.0, limit - time.monotonic())):
                self.kill()
                raise Failure("%s did not end %d s after its input did"
                              % (self.name, REPLY_TIMEOUT))
        try:
            rc = self.proc.wait(timeout=REPLY_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Failure("%s did not exit" % self.name)
        self.proc.stdout.close()
        rest, self.buf = self.buf, b""
        return rest, rc

    def stderr_text(self):
        with open(self.errpath, "rb") as f:
            return f.read().decode("utf-8", "replace")


class Oracle:
    """The durability oracle: reads a handler's strace -y trace."""

    LINE = re.compile(r"^(\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+|\?)(<[^>]*>)?"
                      r"(\(deleted\))?(.*)$")
    FD = re.compile(r"^(-?\d+|AT_FDCWD)<([^>]*)>(\(deleted\))?")
    STAMP = re.compile(r"^(\d+\s+)(\d+\.\d+)\s+")
    STR = r'"((?:[^"\\]|\\.)*)"'
    OPENAT = re.compile(r"^[^<]*<([^>]*)>, " + STR + r", ([A-Z_|0-9]+)")
    RENAME = re.compile(r"^[^<]*<([^>]*)>, " + STR + r", [^<]*<([^>]*)>, "
                        + STR)
    DIRNAME = re.compile(r"^[^<]*<([^>]*)>, " + STR)

    def __init__(self, roots, strict_cache):
        self.roots = [os.path.realpath(r) for r in roots]
        self.strict_cache = strict_cache
        self.pending = {}       # folder: {name: [pid, what, fsync failed]}
        self.synced_at = {}     # folder: time of its last good fsync
        self.now = 0.0          # the time of the trace line at hand
        self.killed = set()     # pids of handlers that were killed
        self.acks = 0
        self.fsyncs = 0

    def rel(self, path):
        for root in self.roots:
            if path == root:
                return ""
            if path.startswith(root + "/"):
                return path[len(root) + 1:]
        return None

    def exempt(self, rel):
        return (not self.strict_cache and
                CACHE_NAME.match(os.path.basename(rel)) is not None)

    def forget(self, folder):
        """The model removed folder and all below it: what was made there
        is gone."""
        for key in [k for k in self.pending
                    if k == folder or k.startswith(folder + "/")]:
            del self.pending[key]
        parent, name = os.path.split(folder)
        self.pending.get(parent, {}).pop(name, None)

    def check(self, trace, ack, step):
        """Findings (strings) for one trace whose handler acknowledges by
        writing ack (None: nothing it writes is one); also how many faults
        were injected and whether the handler was killed."""
        findings, injected, killed = [], 0, False
        dirty = {}              # relative file: [line that wrote it,
                                #   a refusal was sent since]
        written = set()         # relative files written, ever
        own = {}                # (folder, name): line, made here
        with open(trace, "r", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
        for text in lines:
            # "PID TIME call(...)": the time orders what two handlers of
            # one step did (a delivery during a POP3 session).
            stamp = self.STAMP.match(text)
            if stamp:
                self.now = float(stamp.group(2))
                text = stamp.group(1) + text[stamp.end():]
            if "+++ killed by SIGKILL" in text:
                killed = True
                self.killed.add(int(text.split()[0]))
                continue
            m = self.LINE.match(text)
            if not m:
                continue
            pid, call, args, ret, retpath, _, extra = m.groups()
            pid = int(pid)
            if "(INJECTED)" in extra:
                injected += 1
            ok = ret != "?" and int(ret) >= 0
            fd = self.FD.match(args)
            path = fd.group(2) if fd else None
            gone = bool(fd and fd.group(3))
            rel = self.rel(path) if path is not None and not gone else None
            if call in ("write", "writev") and fd and fd.group(1) == "1":
                reply = args[args.find('"') + 1:]
                if ok and ack is not None and \
                        ack in args.encode("utf-8", "replace"):
                    self.acks += 1
                    findings += self._at_ack(text, dirty, own, written, step,
                                             ack == ACK_POP3)
                elif ok and reply[:1] in ("4", "5", "-"):
                    # A refusal (4xx, 5xx, -ERR): what its transaction
                    # left unsynced is no part of a later acknowledgement.
                    for entry in dirty.values():
                        entry[1] = True
                continue
            if call in ("write", "writev", "pwrite64", "ftruncate",
                        "fallocate"):
                # An allocation that keeps the size changes no byte: the
                # store's cache drop on a network file system
                # (sockmail-mailbox(5), LOCKING).
                if call == "fallocate" and "FALLOC_FL_KEEP_SIZE" in args:
                    continue
                if rel is not None and (ok or ret == "?") and \
                        not self.exempt(rel):
                    dirty[rel] = [text, False]
                    written.add(rel)
            elif call in ("fsync", "fdatasync"):
                # A success strace made up (--inject) flushed nothing.
                faked = ok and "(INJECTED)" in extra
                if rel is not None and ok and not faked:
                    self.fsyncs += 1
                    dirty.pop(rel, None)
                    self.pending.pop(rel, None)
                    self.synced_at[rel] = max(self.now,
                                              self.synced_at.get(rel, 0.0))
                    for key in [k for k in own if k[0] == rel]:
                        del own[key]
                elif rel is not None and not faked:
                    for entry in self.pending.get(rel, {}).values():
                        entry[2] = True
            elif call == "openat":
                o = self.OPENAT.match(args)
                # Only O_EXCL tells that the file is new; the store
                # makes every file of a user folder so (the index aside).
                if o and ok and "O_EXCL" in o.group(3) and retpath:
                    made = self.rel(retpath[1:-1])
                    if made is not None and made.startswith("USERS/") and \
                            not self.exempt(made):
                        key = os.path.split(made)
                        own[key] = text
                        self._made(key, pid, step, text)
            elif call in ("mkdirat", "mkdir"):
                d = self.DIRNAME.match(args) if call == "mkdirat" else None
                made = self.rel(os.path.join(d.group(1), d.group(2))) \
                    if d else None
                if made is not None and ok and made.startswith("USERS"):
                    key = os.path.split(made)
                    own[key] = text
                    self._made(key, pid, step, text)
            elif call in ("renameat", "renameat2", "rename"):
                r = self.RENAME.match(args)
                if not (r and ok):
                    continue
                src = self.rel(os.path.join(r.group(1), r.group(2)))
                dst = self.rel(os.path.join(r.group(3), r.group(4)))
                if src is None or dst is None or self.exempt(dst):
                    continue
                # The file renamed over goes, and what was unsynced of it.
                dirty.pop(dst, None)
                if src in dirty:
                    findings.append((
                        "rename-unsynced",
                        "renamed %s over %s before its data were fsynced "
                        "(written by: %s)\n    %s" % (src, dst,
                                                      dirty[src][0], text)))
                dirty.pop(src, None)
                gone_key = os.path.split(src)
                own.pop(gone_key, None)
                self.pending.get(gone_key[0], {}).pop(gone_key[1], None)
                key = os.path.split(dst)
                own[key] = text
                self._made(key, pid, step, text)
            elif call in ("unlinkat", "unlink"):
                d = self.DIRNAME.match(args)
                if d and ok:
                    gone_rel = self.rel(os.path.join(d.group(1), d.group(2)))
                    if gone_rel is not None:
                        dirty.pop(gone_rel, None)
                        key = os.path.split(gone_rel)
                        own.pop(key, None)
                        self.pending.get(key[0], {}).pop(key[1], None)
        return findings, injected, killed

    def _made(self, key, pid, step, text):
        """An entry made (created, renamed to) in a folder of USERS/,
        unless another handler of the step, whose trace was read first,
        fsynced the folder after it."""
        if self.synced_at.get(key[0], -1.0) > self.now:
            return
        self.pending.setdefault(key[0], {})[key[1]] = [
            pid, "step %d: %s" % (step, text), False]

    def _at_ack(self, text, dirty, own, written, step, update=False):
        """Findings, (kind, text), at an acknowledgement."""
        out = []
        for rel, (line, refused) in sorted(dirty.items()):
            out.append(("unsynced-refused" if refused else "unsynced-data",
                        "acknowledged with %s unsynced since%s:\n    %s\n"
                        "    ack: %s" % (rel, " (a transaction since "
                                         "refused)" if refused else "",
                                         line, text)))
        for (folder, name), line in sorted(own.items()):
            failed = self.pending.get(folder, {}).get(name, [0, 0, False])[2]
            # An UPDATE's own rename, unsettled: what its +OK promises
            # (messages gone) may come undone in a crash; no mail can.
            kind = "unsynced-entry" if not failed else \
                "update-unsettled" if update else "failed-fsync-entry"
            out.append((kind,
                        "acknowledged before an fsync of %s/ after it made "
                        "%s:\n    %s\n    ack: %s"
                        % (folder, name, line, text)))
        for folder, entries in sorted(self.pending.items()):
            for name, (pid, what, failed) in sorted(entries.items()):
                entry = os.path.join(folder, name)
                if (folder, name) in own:
                    continue
                if any(w == entry or w.startswith(entry + "/")
                       for w in written):
                    # An entry a killed handler made and could not fsync
                    # is a kind of its own: no handler ever looks for it.
                    kind = "killed-entry" if pid in self.killed else \
                        "failed-fsync-entry" if failed else "unsynced-entry"
                    out.append((kind,
                                "acknowledged a write under %s, whose entry "
                                "was never fsynced in %s/ (by pid %d, %s, "
                                "%s)\n    ack: %s"
                                % (entry, folder, pid, "killed" if pid in
                                   self.killed else "its fsync failed" if
                                   failed else "no fsync tried", what,
                                   text)))
        return out


class Run:
    def __init__(self, args):
        self.args = args
        self.seed = args.seed
        self.faults = not args.no_faults
        self.verbose = args.verbose
        self.workdir = args.workdir
        self.roots = args.mailroot
        self.root = self.roots[0]
        # What the checks read: the first mount, or the server's files.
        self.check_root = args.check_root or self.root
        self.smtpd, self.pop3d = args.smtpd, args.pop3d
        self.host = socket.gethostname()[:64]
        self.network = any(on_network_fs(r) for r in self.roots)
        spool = os.path.join(self.workdir, "spool")
        os.makedirs(spool, exist_ok=True)
        env = dict(os.environ)
        env.update(SOCKMAIL_LOG="stderr", TZ="UTC", TMPDIR=spool)
        asan = env.get("ASAN_OPTIONS", "")
        env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "detect_leaks=0"
        self.env = env
        self.oracle = Oracle(self.roots, args.strict_cache)
        self.users = {}
        self.tags = {}          # tag, or (login, tag): what became of it
        self.count = dict(steps=0, faults=0, armed=0, kills=0, hangups=0,
                          acked=0, refused=0, nul=0, uncertain=0, present=0,
                          absent=0, deleted=0, updates=0, moved=0,
                          foreign=0, side_cleared=0, retr=0, torn=0,
                          quit_applied=0, quit_kept=0, stale=0)
        self.actions = {}
        self.step = 0
        self.desc = ""
        self.killed_pids = set()
        self.inflight = {}      # login: [records] with no reply, this step
        self.swept = set()      # logins whose UPDATE ran, this step
        self.findings = []
        self.allow = set(args.allow)
        self.allowed = {}       # kind: findings let pass with --allow
        self.pass_allowed = []  # (kind, text) of the check under way

    # ---- set-up ----

    def setup(self):
        root = self.root
        users_dir = os.path.join(root, "USERS")
        if not os.listdir(root):
            os.mkdir(users_dir, 0o755)
            with open(os.path.join(root, "userinfo.txt"), "w") as f:
                f.write(USERINFO_MARK + "\n")
                for login, pw in USERS:
                    f.write("%s\t%s\n" % (login, pw))
        info = os.path.join(root, "userinfo.txt")
        try:
            with open(info) as f:
                text = f.read()
        except OSError as e:
            print("model: %s: %s (give an empty folder)" % (info, e))
            raise SystemExit(2)
        if not text.startswith(USERINFO_MARK):
            print("model: %s is not a mail root model.py made; give an "
                  "empty folder" % root)
            raise SystemExit(2)
        for ln in text.splitlines()[1:]:
            login, pw = ln.split("\t")
            self.users[login] = User(login, pw)
        # Start from what is on disk: old messages are kept as they are.
        for user in self.users.values():
            folder = os.path.join(root, "USERS", user.login)
            data = read_file(os.path.join(folder, MAILBOX))
            msgs, tail = mboxfmt.messages(data)
            for raw in msgs:
                user.msgs.append(Msg(tag_of(raw), raw, True, True,
                                     "in the mailbox at the start"))
            if mboxfmt.is_killed_tail(tail):
                user.torn = tail
            else:
                user.tail = tail
            for name in listdir(folder):
                if SIDE_NAME.match(name):
                    user.side[name] = read_file(os.path.join(folder, name))
                elif TMP_NAME.match(name):
                    user.stale.add(name)

    # ---- helpers ----

    def mount(self, rng):
        return rng.choice(self.roots)

    def note(self, text):
        self.desc += ("; " if self.desc else "") + text

    def log(self, text):
        if self.verbose:
            print("model: step %d: %s" % (self.step, text), flush=True)

    def let_pass(self, kind, text):
        """A finding of a kind --allow names: counted, shown once."""
        self.allowed[kind] = self.allowed.get(kind, 0) + 1
        if self.verbose or self.allowed[kind] == 1:
            print("model: step %d: allowed (--allow %s): %s"
                  % (self.step, kind, text), flush=True)

    def finish_handler(self, h, ack):
        """Run the oracle over h's trace and count what happened."""
        found, injected, killed = self.oracle.check(h.trace, ack, self.step)
        if h.fault.kind in ("error", "signal"):
            self.count["armed"] += 1
        self.count["faults"] += injected
        if killed or h.killed:
            self.count["kills"] += 1
            pid = first_pid(h.trace)
            if pid:
                self.killed_pids.add(pid)
        for kind, text in found:
            if kind in self.allow:
                self.let_pass(kind, text)
                continue
            self.findings.append("durability oracle (%s), %s (%s):\n  %s"
                                 % (kind, h.name, h.fault, text))
        text = h.stderr_text()
        if re.search(r"Sanitizer|runtime error", text):
            self.findings.append("a sanitizer report from %s:\n%s"
                                 % (h.name, text[-3000:]))
        return killed or h.killed

    # ---- SMTP ----

    def smtp(self, rng, fault, messages, mount):
        """One SMTP session; the model takes its outcome."""
        helo = rng.choice((b"EHLO", b"EHLO", b"HELO"))
        items = [("cmd", helo + b" client.model.example", None)]
        for i, m in enumerate(messages):
            if i > 0:
                # After a DATA refused for want of recipients, the
                # transaction stays open: a client resets it.
                items.append(("mail", b"RSET", i))
            items.append(("mail", b"MAIL FROM:<%s>" % m.sender.encode(), i))
            for r in m.rcpts:
                items.append(("rcpt", b"RCPT TO:<%s>" % r[0].encode(),
                              (i, r)))
            items.append(("data", b"DATA", i))
            for ln in m.wire():
                items.append(("body", ln, i))
            items.append(("end", b".", i))
        items.append(("cmd", b"QUIT", None))
        if fault.kind in ("hangup", "kill"):
            fault.cut = 1 + (fault.cut - 1) % len(items)
        h = Handler(self, "smtpd", [self.smtpd, "-d", mount, "-n", DOMAIN],
                    fault)
        state = [dict(accepted=[], addrs=[], data=False, outcome=None)
                 for _ in messages]
        strict = fault.kind is None
        greet = h.smtp_reply()
        i = 0
        cut_done = False
        alive = greet is not None and greet[-1].startswith(b"220 ")
        if greet is not None and not alive and strict:
            raise Failure("smtpd greeted %s" % greet)
        while alive and i < len(items):
            if fault.kind in ("hangup", "kill") and i == fault.cut:
                self.cut(h, fault)
                cut_done = True
                break
            kind, line, mi = items[i]
            rcpt = None
            if kind == "rcpt":
                mi, rcpt = mi
            st = state[mi] if mi is not None else None
            if st is not None and kind in ("body", "end") and not st["data"]:
                i += 1
                continue
            if kind == "body":
                j = i
                chunk = []
                stop = fault.cut if fault.kind in ("hangup", "kill") \
                    else len(items)
                while j < len(items) and items[j][0] == "body" and j < stop:
                    chunk.append(items[j][1])
                    j += 1
                alive = h.send(b"".join(chunk))
                i = j
                continue
            alive = h.send(line + b"\r\n")
            if kind == "end":
                st["outcome"] = "unknown"
                if fault.kind == "kill" and fault.nowait and \
                        i + 1 == fault.cut:
                    i += 1
                    continue
            reply = h.smtp_reply()
            if reply is None:
                break
            self.smtp_answer(kind, rcpt, st, reply, messages[mi]
                             if mi is not None else None, strict)
            i += 1
        if cut_done:
            # What was written before the kill or hang-up still counts.
            rest, rc = h.finish()
            self.late_replies(rest, items, state, messages)
        else:
            rest, rc = h.finish()
            if rest.strip() and strict:
                raise Failure("smtpd said more than it was asked: %s"
                              % show(rest))
        killed = self.finish_handler(h, ACK_SMTP)
        if strict and rc != 0:
            raise Failure("smtpd exited %d without a fault:\n%s"
                          % (rc, h.stderr_text()[-2000:]))
        if fault.kind is not None and not killed and rc not in (0, 1):
            raise Failure("smtpd exited %d (%s)" % (rc, fault))
        self.take_outcomes(messages, state)

    def cut(self, h, fault):
        if fault.kind == "hangup":
            self.count["hangups"] += 1
            h.close_input()
        else:
            h.kill()

    def late_replies(self, rest, items, state, messages):
        """A reply to the last "." may still have been in the pipe when
        the handler was killed: it counts."""
        for st in state:
            if st["outcome"] == "unknown" and rest:
                first = rest.split(b"\r\n", 1)[0]
                if first[:1] in (b"2", b"4", b"5"):
                    st["outcome"] = ("250" if first.startswith(b"250 ")
                                     else "refused")
                rest = b""

    def smtp_answer(self, kind, rcpt, st, reply, msg, strict):
        last = reply[-1]
        code = last[:3]
        if kind == "rcpt":
            addr, login = rcpt
            if code == b"250":
                got = last.split(b"... ")[0].split(b" ")[-1].decode()
                if login is None or got != login:
                    raise Failure("RCPT %s: %s (want %s)" % (
                        addr, last, login or "550"))
                if login not in st["accepted"]:
                    st["accepted"].append(login)
                    st["addrs"].append(addr)
            elif login is None and code == b"550":
                pass
            elif strict:
                raise Failure("RCPT %s: %s" % (addr, last))
        elif kind == "data":
            if code == b"354":
                st["data"] = True
            elif not st["accepted"] and code == b"554":
                pass
            elif strict:
                raise Failure("DATA: %s" % last)
        elif kind == "end":
            if code == b"250" and ACK_SMTP in last:
                st["outcome"] = "250"
                if msg.reject:
                    raise Failure("a message with a NUL got %s" % last)
            else:
                st["outcome"] = "refused"
                if msg.reject and code == b"554":
                    return
                if strict:
                    raise Failure("end of DATA: %s" % last)
        elif kind == "mail" and code != b"250" and strict:
            raise Failure("MAIL: %s" % last)

    def take_outcomes(self, messages, state):
        for m, st in zip(messages, state):
            outcome = st["outcome"]
            if outcome is None:
                self.tags[m.tag] = "never finished its DATA (step %d)" \
                    % self.step
                continue
            record = m.record(", ".join(st["addrs"]))
            if outcome == "refused" or not st["accepted"]:
                self.count["nul" if m.reject else "refused"] += 1
                self.tags[m.tag] = "refused after DATA (step %d)" % self.step
                continue
            certain = outcome == "250"
            what = ("acknowledged with 250" if certain else
                    "delivered without a reply") + " at step %d" % self.step
            self.tags[m.tag] = what
            if certain:
                self.count["acked"] += 1
            else:
                self.count["uncertain"] += 1
            for login in st["accepted"]:
                self.users[login].msgs.append(
                    Msg(m.tag, record, False, certain, what))
                if not certain:
                    self.inflight.setdefault(login, []).append(record)

    def new_messages(self, rng, n):
        out = []
        for k in range(n):
            tag = "m%d-%d-%d" % (self.seed, self.step, k)
            out.append(Outgoing(rng, tag, rng.random() < 0.004))
        return out

    def act_smtp(self, rng):
        messages = self.new_messages(rng, rng.choice((1, 1, 2)))
        fault = Fault.draw(rng, "smtpd", self.faults, 40)
        mount = self.mount(rng)
        self.note("smtp %s -> %s, %s" % (
            [m.tag for m in messages],
            [[a for a, _ in m.rcpts] for m in messages], fault))
        self.smtp(rng, fault, messages, mount)

    # ---- POP3 ----

    def pop3(self, rng, user, fault, mount, during=None):
        view = list(user.msgs)
        n = len(view)
        plan = [("USER", user.login if rng.random() < 0.8 else
                 user.login.upper())]
        plan.append(("PASS", user.password.replace("{PLAIN}", "")))
        for cmd, p in (("STAT", 0.5), ("LIST", 0.5), ("UIDL", 0.5)):
            if rng.random() < p:
                plan.append((cmd, None))
        if n and rng.random() < 0.2:
            plan.append((rng.choice(("LIST", "UIDL")), rng.randint(1, n)))
        nums = list(range(1, n + 1))
        retr = nums if rng.random() < 0.1 else \
            rng.sample(nums, min(n, rng.choice((0, 1, 2, 3))))
        plan += [("RETR", k) for k in retr]
        p = 0.15 if n < 5 else 0.4
        if rng.random() < 0.08:
            p = 1.0
        dele = [k for k in nums if rng.random() < p]
        plan += [("DELE", k) for k in dele]
        if dele and rng.random() < 0.1:
            plan.append(("RSET", None))
            plan += [("DELE", k) for k in nums if rng.random() < p]
        if n and rng.random() < 0.2:
            plan.append(("STAT", None))
        if during is not None:
            plan.append(("DELIVER", None))
        plan.append(("QUIT", None))
        real = [c for c in plan if c[0] != "DELIVER"]
        if fault.kind in ("hangup", "kill"):
            fault.cut = 1 + (fault.cut - 1) % len(real)
            fault.nowait = fault.nowait and fault.cut == len(real)
        h = Handler(self, "pop3d", [self.pop3d, "-d", mount, "-n", DOMAIN,
                                    "-f", "0"], fault)
        strict = fault.kind is None
        deleted = set()
        logged_in = False
        quit_sent = False
        quit_reply = None
        sent = 0
        greet = h.line()
        alive = greet == b"+OK POP3 server is ready"
        if greet is not None and not alive and strict:
            raise Failure("pop3d greeted %s" % show(greet))
        for cmd, arg in plan:
            if not alive:
                break
            if cmd == "DELIVER":
                during()
                continue
            if fault.kind in ("hangup", "kill") and sent == fault.cut:
                self.cut(h, fault)
                break
            if not logged_in and cmd not in ("USER", "PASS", "QUIT"):
                continue
            line = cmd if arg is None else "%s %s" % (cmd, arg)
            alive = h.send(line.encode() + b"\r\n")
            sent += 1
            if cmd == "QUIT":
                quit_sent = logged_in
                if fault.kind == "kill" and fault.nowait:
                    self.cut(h, fault)
                    break
            reply = h.line()
            if reply is None:
                break
            if cmd == "QUIT":
                quit_reply = reply
                break
            ok = self.pop3_answer(h, cmd, arg, reply, view, deleted, user,
                                  strict)
            if cmd == "PASS" and ok:
                logged_in = True
        rest, rc = h.finish()
        if quit_sent and quit_reply is None and rest:
            quit_reply = rest.split(b"\r\n", 1)[0]
        killed = self.finish_handler(h, ACK_POP3 if logged_in else None)
        if strict and rc != 0:
            raise Failure("pop3d exited %d without a fault:\n%s"
                          % (rc, h.stderr_text()[-2000:]))
        gone = {view[k - 1].tag for k in deleted}
        if not quit_sent:
            what = "no QUIT: nothing deleted"
        elif quit_reply == ACK_POP3:
            what = "QUIT +OK"
            user.msgs = [m for m in user.msgs if m.tag not in gone]
            self.count["deleted"] += len(gone)
            for tag in gone:
                self.tags[user.login, tag] = \
                    "deleted by a QUIT +OK at step %d" % self.step
            if gone:
                self.count["updates"] += 1
                # Removing what killed UPDATEs left is the UPDATE's
                # housework, which a fault injected into it may stop.
                if fault.kind is None:
                    self.swept.add(user.login)
        elif quit_reply is None:
            what = "QUIT without a reply: all or none of %d" % len(gone)
            if gone:
                user.pending_del = (gone, "step %d" % self.step)
        else:
            what = "QUIT %s: nothing deleted" % quit_reply.decode(
                "utf-8", "replace")
            if strict:
                raise Failure("QUIT: %s" % show(quit_reply))
        self.note("pop3 %s: %d messages, DELE %s, %s" % (
            user.login, n, sorted(deleted), what))
        return killed

    def pop3_answer(self, h, cmd, arg, reply, view, deleted, user, strict):
        """Check one POP3 reply against the model; True for +OK."""
        if not reply.startswith(b"+OK"):
            if strict or cmd not in ("PASS", "USER", "RETR", "DELE", "LIST",
                                     "UIDL", "STAT", "RSET"):
                raise Failure("%s %s: %s" % (cmd, arg or "", show(reply)))
            return False
        live = [(k, m) for k, m in enumerate(view, 1) if k not in deleted]
        octets = sum(m.size() for _, m in live)
        if cmd in ("PASS", "RSET"):
            if cmd == "RSET":
                deleted.clear()
                live = list(enumerate(view, 1))
                octets = sum(m.size() for m in view)
            want = b"+OK maildrop has %d messages (%d octets)" % (
                len(live), octets)
            if reply != want:
                raise Failure("%s: %s, the model: %s" % (cmd, show(reply),
                                                         show(want)))
        elif cmd == "STAT":
            want = b"+OK %d %d" % (len(live), octets)
            if reply != want:
                raise Failure("STAT: %s, the model: %s" % (show(reply),
                                                           show(want)))
        elif cmd == "LIST" and arg is None:
            got = h.multi()
            want = [b"%d %d" % (k, m.size()) for k, m in live]
            if got is not None and got != want:
                raise Failure("LIST: %s, the model: %s" % (got, want))
        elif cmd == "LIST":
            m = view[arg - 1]
            if reply != b"+OK %d %d" % (arg, m.size()):
                raise Failure("LIST %d: %s, the model: %d octets" % (
                    arg, show(reply), m.size()))
        elif cmd == "UIDL" and arg is None:
            got = h.multi()
            if got is not None:
                self.check_uids(got, live)
        elif cmd == "UIDL":
            self.check_uids([reply[4:]], [(arg, view[arg - 1])])
        elif cmd == "RETR":
            m = view[arg - 1]
            got = h.multi()
            if got is None:
                return True
            self.count["retr"] += 1
            if reply != b"+OK %d octets" % m.size():
                raise Failure("RETR %d (%s): %s, the model: %d octets" % (
                    arg, m.tag, show(reply), m.size()))
            got = [mboxfmt.unstuff(ln) for ln in got]
            if not m.exact and len(got) > 3 and \
                    mboxfmt.RECEIVED.match(got[3]):
                got[3] = CANON_RECEIVED
            want = m.served()
            if got != want:
                raise Failure("RETR %d (%s) differs from the model %s" % (
                    arg, m.tag, first_difference(b"\n".join(got),
                                                 b"\n".join(want))))
        elif cmd == "DELE":
            if reply != b"+OK message %d deleted" % arg:
                raise Failure("DELE %d: %s" % (arg, show(reply)))
            deleted.add(arg)
        return True

    def check_uids(self, got, live):
        if len(got) != len(live):
            raise Failure("UIDL: %d lines for %d messages" % (len(got),
                                                              len(live)))
        seen = set()
        for ln, (k, m) in zip(got, live):
            num, _, uid = ln.partition(b" ")
            if num != b"%d" % k or not uid or uid in seen:
                raise Failure("UIDL: %s for message %d" % (show(ln), k))
            seen.add(uid)
            if m.uid is not None and m.uid != uid:
                raise Failure("UIDL of %s changed: %s, was %s"
                              % (m.tag, show(uid), show(m.uid)))
            m.uid = uid

    def act_pop3(self, rng):
        user = self.users[rng.choice(sorted(self.users))]
        fault = Fault.draw(rng, "pop3d", self.faults, 12)
        self.note("(%s)" % fault)
        self.pop3(rng, user, fault, self.mount(rng))

    def act_during(self, rng):
        user = self.users[rng.choice(sorted(self.users))]
        fault = Fault.draw(rng, "pop3d", self.faults, 12) \
            if rng.random() < 0.3 else Fault()
        if fault.kind in ("hangup", "kill"):
            fault = Fault()
        messages = self.new_messages(rng, rng.choice((1, 2)))
        for m in messages:
            m.reject = False
            m.body = [ln for ln in m.body if b"\0" not in ln]
            m.rcpts = [r for r in m.rcpts if r[1] is not None]
            m.rcpts.insert(rng.randrange(len(m.rcpts) + 1),
                           ("%s@%s" % (user.login, DOMAIN), user.login))
        smtp_mount = self.mount(rng)

        def deliver():
            self.smtp(rng, Fault(), messages, smtp_mount)
            self.note("delivered %s during the session" %
                      [m.tag for m in messages])
        self.note("(%s)" % fault)
        self.pop3(rng, user, fault, self.mount(rng), deliver)

    # ---- another program ----

    def act_foreign(self, rng):
        user = self.users[rng.choice(sorted(self.users))]
        folder = os.path.join(self.mount(rng), "USERS", user.login)
        path = os.path.join(folder, MAILBOX)
        data = read_file(os.path.join(self.check_root, "USERS",
                                      user.login, MAILBOX))
        _, tail, count = mboxfmt.split(data)
        kind = weighted(rng, {"message": 3, "text": 3, "nul": 2,
                              "binary": 2, "remove": 2})
        if kind == "message" and tail:
            kind = "text"
        if kind == "remove":
            self.remove_folder(user, data)
            return
        if kind == "message":
            tag = "f%d-%d" % (self.seed, self.step)
            body = body_lines(rng, False)
            lines = [b"From: someone@elsewhere.example",
                     b"To: %s@%s" % (user.login.encode(), DOMAIN.encode()),
                     b"Subject: written by another program",
                     b"X-Model-Tag: " + tag.encode(), b""] + body
            new = b"".join((b"." + ln if ln.startswith(b".") else ln) +
                           b"\r\n" for ln in lines) + b".\r\n"
        elif kind == "text":
            lines = [b" ".join(rng.choice(WORDS) for _ in
                               range(rng.randint(1, 8)))
                     for _ in range(rng.randint(1, 5))]
            if rng.random() < 0.3:
                lines.insert(0, b"From someone@elsewhere Mon Jan  1 00:00")
            new = b"\n".join(lines) + (b"\n" if rng.random() < 0.6 else b"")
        elif kind == "nul":
            new = b"\0" * rng.randint(1, 40) + printable(rng, rng.randint(
                1, 60)) + b"\n"
        else:
            new = bytes(rng.randrange(256) for _ in range(rng.randint(1,
                                                                      300)))
        if not new.endswith(b"\n") and kind != "message":
            new += printable(rng, 1)
        new = new.rstrip(b"\0") or b"x"

        def fits(candidate):
            whole2, tail2, count2 = mboxfmt.split(data + candidate)
            if kind == "message":
                return tail2 == b"" and count2 == count + 1
            return tail2 == tail + candidate and \
                not mboxfmt.is_killed_tail(tail2)
        if not fits(new):
            new = new.replace(b".", b",")
            if not fits(new):
                self.note("foreign %s: nothing fits, skipped" % kind)
                return
        os.makedirs(folder, 0o700, exist_ok=True)
        append_at(path, len(data), new)
        self.count["foreign"] += 1
        if kind == "message":
            what = "written by another program at step %d" % self.step
            user.msgs.append(Msg(tag, new, True, True, what))
            self.tags[tag] = what
        else:
            user.tail = tail + new
            user.torn = b""
        self.note("foreign %s to %s: %d bytes" % (kind, user.login,
                                                  len(new)))

    def remove_folder(self, user, data):
        """An administrator removes a user folder that holds no mail (so
        that the handlers make folder and mailbox again)."""
        if data or user.msgs or user.tail or user.torn or user.side or \
                user.stale or user.pending_del:
            self.note("remove the folder of %s: it holds mail, kept"
                      % user.login)
            return
        folder = os.path.join(self.root, "USERS", user.login)
        shutil.rmtree(folder, ignore_errors=True)
        self.oracle.forget("USERS/" + user.login)
        self.note("removed the empty folder of %s" % user.login)

    # ---- the check ----

    def check(self):
        tries = 3 if self.network else 1
        for attempt in range(tries):
            try:
                verdicts = [self.check_user(u) for u in
                            self.users.values()]
                self.check_mail_root()
                break
            except Failure:
                self.pass_allowed = []
                if attempt + 1 == tries:
                    raise
                time.sleep(1.5)
        for apply in verdicts:
            apply()

    def check_mail_root(self):
        extra = set(listdir(self.check_root)) - ROOT_FILES
        extra |= {"USERS/" + n for n in
                  listdir(os.path.join(self.check_root, "USERS"))
                  if n not in self.users}
        if extra:
            raise Failure("files that should not be in the mail root: %s"
                          % sorted(extra))

    def check_user(self, user):
        """Compare one user's folder with the model; returns what to
        change in the model once every user passed."""
        folder = os.path.join(self.check_root, "USERS", user.login)
        names = listdir(folder)
        data = read_file(os.path.join(folder, MAILBOX)) \
            if MAILBOX in names else b""
        raws, disk_tail = mboxfmt.messages(data)
        where = "mailbox of %s" % user.login
        expected = user.msgs
        applied = None
        if user.pending_del:
            group, when = user.pending_del
            present = {tag_of(r) for r in raws} & group
            if present == group:
                applied = False
            elif not present:
                applied = True
                expected = [m for m in expected if m.tag not in group]
            else:
                raise Failure("%s: a QUIT without a reply (%s) removed %s "
                              "but kept %s: not all or nothing"
                              % (where, when, sorted(group - present),
                                 sorted(present)))
        keep, resolved, i = [], [], 0
        for m in expected:
            if i < len(raws) and m.matches(raws[i]):
                keep.append(m)
                if not m.certain:
                    resolved.append((m, True))
                i += 1
            elif i < len(raws) and tag_of(raws[i]) == m.tag and m.tag:
                raise Failure("%s: message %s (%s) is not what was sent: %s"
                              % (where, m.tag, m.origin, first_difference(
                                  raws[i] if m.exact else normalise(raws[i]),
                                  m.stored)))
            elif not m.certain:
                resolved.append((m, False))
            else:
                raise Failure("%s: LOST message %s (%s); the mailbox holds "
                              "%s" % (where, m.tag, m.origin,
                                      self.describe(raws, user.login)))
        if i < len(raws):
            raise Failure("%s: unexpected message(s) after %s: %s" % (
                where, [m.tag for m in keep],
                self.describe(raws[i:], user.login)))
        tail, torn, side, moved = self.check_tail(user, folder, names,
                                                  disk_tail)
        stale = self.check_files(user, folder, names, side)

        def apply():
            for kind, text in self.pass_allowed:
                self.let_pass(kind, text)
            self.pass_allowed = []
            for m, present in resolved:
                m.certain = True
                self.count["present" if present else "absent"] += 1
            user.msgs = keep
            if applied is not None:
                group, _ = user.pending_del
                self.count["quit_applied" if applied else "quit_kept"] += 1
                if applied:
                    self.count["deleted"] += len(group)
                    self.count["updates"] += 1
                for tag in group:
                    if applied:
                        self.tags[user.login, tag] = \
                            "deleted by a QUIT without a reply"
                user.pending_del = None
            if torn and torn != user.torn:
                self.count["torn"] += 1
            self.count["stale"] += len(stale - user.stale)
            user.tail, user.torn, user.side = tail, torn, side
            user.stale = stale
            self.count["moved"] += moved
        return apply

    def describe(self, raws, login):
        """Messages of login's mailbox, each with what became of it."""
        out = []
        for raw in raws:
            tag = tag_of(raw)
            what = self.tags.get((login, tag), self.tags.get(tag, "unknown"))
            out.append("%s (%s)" % (tag, what) if tag else show(raw, 60))
        return "[" + ", ".join(out) + "]"

    def check_tail(self, user, folder, names, disk_tail):
        """The foreign tail, a torn room, the side files. Returns the
        model's new tail, torn room, side files and how many tails moved."""
        where = "mailbox of %s" % user.login
        side = dict(user.side)
        for name, want in user.side.items():
            if name not in names:
                raise Failure("%s: side file %s is gone" % (where, name))
            got = read_file(os.path.join(folder, name))
            if got != want:
                raise Failure("%s: side file %s changed: %s" % (
                    where, name, first_difference(got, want)))
        new = {n: read_file(os.path.join(folder, n)) for n in names
               if n.startswith(MAILBOX + ".tail.") and n not in user.side}
        for name in new:
            if not SIDE_NAME.match(name):
                raise Failure("%s: a side file with a bad name: %s"
                              % (where, name))
        records = self.inflight.get(user.login, [])
        moved = 0
        tail, torn = user.tail, user.torn
        if user.tail and disk_tail != user.tail:
            whole = sorted(n for n, v in new.items() if v == user.tail)
            if not whole:
                raise Failure("%s: the foreign tail %s left the mailbox "
                              "(which now ends in %s), but no new side file "
                              "holds it: %s" % (
                                  where, show(user.tail), show(disk_tail),
                                  {n: show(v) for n, v in new.items()}))
            side[whole[0]] = new.pop(whole[0])
            moved, tail = 1, b""
        for name, got in sorted(new.items()):
            # Side files beyond the one a move makes: a copy of a tail
            # that stayed in place, or more than one copy of it.
            pid = self.side_pid(name)
            killed = pid in self.killed_pids
            if user.tail and got == user.tail:
                kind = "tail-copied-twice"
            elif user.tail and user.tail.startswith(got) and killed:
                kind = "killed-tail-copy"
            else:
                raise Failure("%s: a side file %s holds %s, which is no "
                              "foreign tail the model knows (%s)%s" % (
                                  where, name, show(got), show(user.tail),
                                  "; a torn room moved aside?" if
                                  mboxfmt.is_killed_tail(got) else ""))
            text = ("%s: side file %s (by pid %s, %s) holds %s of the "
                    "foreign tail (%d bytes), which %s" % (
                        where, name, pid, "killed" if killed else
                        "not killed", "all" if got == user.tail else
                        "%d bytes" % len(got), len(user.tail),
                        "moved to another side file" if moved else
                        "is still at the end of the mailbox"))
            if kind not in self.allow:
                raise Failure("%s (%s)" % (text, kind))
            self.pass_allowed.append((kind, text))
            side[name] = got
        if tail and disk_tail == tail:
            return tail, torn, side, moved
        if disk_tail == b"":
            return tail, b"", side, moved
        if not tail and disk_tail == user.torn:
            return tail, torn, side, moved
        if mboxfmt.is_killed_tail(disk_tail) and any(
                len(disk_tail) == len(r) and mboxfmt.prefix_of_record(
                    disk_tail.split(b"\0", 1)[0], r) for r in records):
            return tail, disk_tail, side, moved
        raise Failure("%s: it ends in %s after its last message: no "
                      "foreign tail the model knows%s, and no torn room of "
                      "a delivery killed in this step" % (
                          where, show(disk_tail),
                          " (it knows %s)" % show(user.tail or user.torn)
                          if (user.tail or user.torn) else ""))

    def side_pid(self, name):
        """The pid in a side file's name made on this host (the host name
        may hold dots, and a ".N" may follow the pid), or None."""
        m = re.match(r"^my_mailbox\.txt\.tail\.\d{8}T\d{6}Z\.%s\.(\d+)"
                     r"(\.\d+)?$" % re.escape(self.host), name)
        return int(m.group(1)) if m else None

    def check_files(self, user, folder, names, side):
        """Nothing but the mailbox, its index, side files and temporary
        files of killed handlers (until the next UPDATE)."""
        where = "folder of %s" % user.login
        stale = set()
        for name in names:
            if name in (MAILBOX, "my_mailbox.idx") or name in side:
                continue
            m = TMP_NAME.match(name)
            if m and name in user.stale and user.login not in self.swept:
                stale.add(name)
                continue
            if m and m.group(2) == self.host and \
                    int(m.group(3)) in self.killed_pids:
                stale.add(name)
                continue
            if m and name in user.stale:
                raise Failure("%s: %s, left by a killed UPDATE, is still "
                              "there after the next UPDATE "
                              "(sockmail-mailbox(5), TEMPORARY FILES)"
                              % (where, name))
            raise Failure("%s: a file left behind: %s" % (where, name))
        return stale

    def clear_side_files(self):
        """An administrator looks at side files now and then (they were
        checked): keeps the folders small."""
        for user in self.users.values():
            if len(user.side) > SIDE_KEEP:
                folder = os.path.join(self.root, "USERS", user.login)
                for name in user.side:
                    os.unlink(os.path.join(folder, name))
                self.count["side_cleared"] += len(user.side)
                user.side = {}

    # ---- the run ----

    def one_step(self):
        rng = random.Random("%d/%d" % (self.seed, self.step))
        action = weighted(rng, {"smtp": 40, "pop3": 30, "during": 15,
                                "foreign": 8})
        self.actions[action] = self.actions.get(action, 0) + 1
        self.desc = ""
        self.killed_pids = set()
        self.inflight = {}
        self.swept = set()
        self.findings = []
        getattr(self, "act_" + action)(rng)
        self.log(self.desc)
        if self.findings:
            more = len(self.findings) - 4
            raise Failure("\n".join(self.findings[:4]) + (
                "\n(and %d more findings)" % more if more > 0 else ""))
        self.check()
        self.clear_side_files()


def on_network_fs(path):
    """Whether path is on a file system whose client may cache."""
    path = os.path.realpath(path)
    best, kind = "", ""
    try:
        with open("/proc/self/mounts") as f:
            for ln in f:
                parts = ln.split()
                if len(parts) < 3:
                    continue
                mnt = parts[1].replace("\\040", " ")
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) \
                        and len(mnt) > len(best):
                    best, kind = mnt, parts[2]
    except OSError:
        return False
    return any(kind == k or kind.startswith(k + ".") for k in NETWORK_FS)


def append_at(path, end, new):
    """Write new at offset end of path (its length, as the checks read
    it): an append, also through a network file system's client, whose
    idea of the length may be a second old. A name that leads to a file
    another host renamed away (ESTALE) is looked up again."""
    for attempt in range(30):
        try:
            os.listdir(os.path.dirname(path))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.pwrite(fd, new, end)
            finally:
                os.close(fd)
            return
        except OSError as e:
            if e.errno != errno.ESTALE or attempt == 29:
                raise
            time.sleep(0.1)


def read_file(path):
    for attempt in range(20):
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""
        except OSError as e:
            if e.errno != errno.ESTALE or attempt == 19:
                raise
            time.sleep(0.1)
    return b""


def listdir(path):
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


def first_pid(trace):
    try:
        with open(trace) as f:
            first = f.readline()
    except OSError:
        return None
    m = re.match(r"^(\d+) ", first)
    return int(m.group(1)) if m else None


def summary(run, secs):
    """The last line of a run that passed."""
    c = run.count
    parts = [
        "%d steps in %.1f s (%.1f steps/s)" % (
            c["steps"], secs, c["steps"] / secs if secs else 0.0),
        "%d faults injected (%d armed), %d kills, %d hang-ups" % (
            c["faults"], c["armed"], c["kills"], c["hangups"]),
        "%d deliveries acknowledged, %d refused (and %d with a NUL), %d "
        "without a reply (copies: %d stored, %d not), %d torn rooms" % (
            c["acked"], c["refused"], c["nul"], c["uncertain"],
            c["present"], c["absent"], c["torn"]),
        "%d RETRs compared, %d messages deleted by %d UPDATEs, %d QUITs "
        "without a reply (%d applied, %d not), %d temporary files of "
        "killed UPDATEs" % (
            c["retr"], c["deleted"], c["updates"],
            c["quit_applied"] + c["quit_kept"], c["quit_applied"],
            c["quit_kept"], c["stale"]),
        "%d foreign appends, %d tails moved" % (c["foreign"], c["moved"]),
        "%d acknowledgements checked by the oracle" % run.oracle.acks,
    ]
    return "model: %s, %s; actions %s: every mailbox equals the model" % (
        parts[0], "; ".join(parts[1:]),
        ", ".join("%s %d" % kv for kv in sorted(run.actions.items())))


def parse_args():
    p = argparse.ArgumentParser(
        description="A seeded, model-based random test of sockmail's "
        "handlers (see the head of this file).")
    p.add_argument("--seed", type=int,
                   default=int(time.time() * 1000) % 1000000007)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--deadline", type=float, default=None)
    p.add_argument("--mailroot", default=None,
                   help="DIR, or DIR,DIR2: two mounts of one file system")
    p.add_argument("--check-root", default=None,
                   help="read the checks from DIR (a GlusterFS brick's copy "
                        "of the mail root: past every client's cache)")
    p.add_argument("--smtpd", default="sockmail-smtpd")
    p.add_argument("--pop3d", default="sockmail-pop3d")
    p.add_argument("--workdir", default=None,
                   help="traces, logs, the spool (default: a new one)")
    p.add_argument("--no-faults", action="store_true")
    p.add_argument("--strict-cache", action="store_true",
                   help="the oracle also wants the index fsynced")
    p.add_argument("--allow", default="",
                   help="KIND[,KIND]: findings of these kinds are counted "
                   "and shown once, not failed: " + ", ".join(KINDS))
    p.add_argument("--inject", action="append", default=[],
                   metavar="WHAT", help="one more strace -e inject=WHAT for "
                   "every handler, to test the oracle itself: "
                   "fsync:retval=0 makes every fsync a no-op")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()
    args.allow = [k for k in args.allow.split(",") if k]
    for k in args.allow:
        if k not in KINDS:
            p.error("--allow: no kind %s (%s)" % (k, ", ".join(KINDS)))
    if args.steps < 0:
        p.error("--steps must be 0 or more")
    return args


def main():
    args = parse_args()
    print("model: seed %d" % args.seed, flush=True)
    for prog in ("smtpd", "pop3d"):
        path = shutil.which(getattr(args, prog))
        if path is None:
            print("model: no %s at %s" % (prog, getattr(args, prog)))
            return 2
        setattr(args, prog, path)
    if shutil.which("strace") is None:
        print("model: strace is needed (the faults and the oracle)")
        return 2
    made_workdir = args.workdir is None
    if made_workdir:
        args.workdir = tempfile.mkdtemp(prefix="model-")
    os.makedirs(args.workdir, exist_ok=True)
    if args.mailroot is None:
        args.mailroot = [os.path.join(args.workdir, "root")]
        os.makedirs(args.mailroot[0], exist_ok=True)
    else:
        args.mailroot = args.mailroot.split(",")
        if len(args.mailroot) > 2:
            print("model: --mailroot takes one or two paths")
            return 2
    for root in args.mailroot:
        if not os.path.isdir(root):
            print("model: %s is not a folder" % root)
            return 2
    run = Run(args)
    try:
        run.setup()
    except SystemExit:
        if made_workdir:
            shutil.rmtree(args.workdir, ignore_errors=True)
        raise
    start = time.monotonic()
    try:
        while run.step < args.steps:
            if args.deadline is not None and \
                    time.monotonic() - start >= args.deadline:
                break
            run.step += 1
            run.one_step()
            run.count["steps"] += 1
        run.desc = "the final check"
        run.check()
    except Failure as e:
        print("model: FAIL at step %d of seed %d (after %.1f s): %s\n  %s\n"
              "model: replay with --seed %d --steps %d; mail root %s, "
              "traces and logs in %s"
              % (run.step, args.seed, time.monotonic() - start, run.desc,
                 str(e).replace("\n", "\n  "), args.seed, run.step,
                 ",".join(args.mailroot), args.workdir), flush=True)
        return 1
    secs = time.monotonic() - start
    print(summary(run, secs), flush=True)
    if run.allowed:
        print("model: findings let pass with --allow: %s" % ", ".join(
            "%s %d" % kv for kv in sorted(run.allowed.items())), flush=True)
    if made_workdir:
        shutil.rmtree(args.workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
