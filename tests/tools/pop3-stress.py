#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""pop3-stress.py: drivers for tests/pop3-locking.bats. Every message they
send or make carries a unique token in its Subject and its body, so the
mailbox can be checked token by token: nothing lost, nothing twice.

  pop3-stress.py gen FILE COUNT
      Write a mailbox (sockmail-mailbox(5)) of COUNT messages, tokens gen-0 ...
  pop3-stress.py race SMTP_PORT POP3_PORT MAILBOX [option...]
      Parallel smtplib senders (tokens tok-S-N) deliver to bob while POP3
      sessions (poplib, as bob) log in, RETR and DELE a few messages and
      QUIT (now and then: hang up without QUIT), over and over; then check
      MAILBOX against what was acknowledged: every token that got 250 was
      deleted by exactly one session whose QUIT got +OK, or is in the
      mailbox, exactly once.
  pop3-stress.py crash POP3D SMTP_PORT MAILROOT [option...]
      Give bob a mailbox of --messages generated messages; then, round
      after round, run POP3D on pipes, DELE a few messages, send QUIT and
      kill -9 the handler a random moment later, while smtplib deliveries
      (tokens bg-N) go on; after every kill check that the mailbox is
      whole: either the old set or the old set minus that round's DELEs,
      plus deliveries, each delivery that got 250 exactly once. Two
      clean sessions (QUIT answered, no kill) before the kills time the
      UPDATE; two after them check that the killed handlers' temp files
      do not stand in the way.

Options: --senders N, --messages N, --poppers N (race); --messages N,
--rounds N, --min-rounds N, --max-dele N, --gap SECS (between
deliveries), --errlog FILE (the handlers' stderr) (crash); --time-limit
SECS (both: no new work is started after it; race fails if it was not
done by then, crash if fewer than --min-rounds kills were made).
Every problem found is printed as "PROBLEM: ..." and makes the exit status
1; the last line printed is a summary, for the bats log.
"""

import argparse
import contextlib
import fcntl
import io
import os
import poplib
import random
import re
import select
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time

USER, PASSWORD, RCPT = "bob", "bobpass", "bob@test.example"
TIMEOUT = 15
LOCK_APPEND = 0          # STORE_LOCK_APPEND in src/lib/store.h
PER_CONN = (1, 5, 25, 0)  # messages per SMTP connection; 0: all on one
GOODBYE = "+OK Thanks for using POP3 server"
LOGIN_OK = r"\+OK maildrop has (\d+) messages \(\d+ octets\)"


sys.dont_write_bytecode = True      # no __pycache__ in the source tree
import mbox_check as MBOX_CHECK     # noqa: E402 (this folder, after the flag)


def message(tok):
    """A message as a sender writes it: the token in Subject and body, and
    a content line starting with "." (stuffed on the wire and on disk)."""
    return ("From: sender@client.example\n"
            "To: %s\n"
            "Subject: %s\n"
            "\n"
            "body of %s\n"
            ".leading dot in %s\n"
            "end\n" % (RCPT, tok, tok, tok))


def generated(n):
    tok = "gen-%d" % n
    return ("From: gen@test.example\n"
            "To: %s\n"
            "Subject: %s\n"
            "Received: 2026-01-02 : 03 : 04\n"
            "X-Filler: %s\n"
            "\n"
            "body of %s\n"
            "..leading dot in %s\n"
            "end\n"
            ".\n" % (RCPT, tok, "x" * (n % 40), tok, tok))


def cmd_gen(path, count):
    with open(path, "w", encoding="ascii") as f:
        for n in range(count):
            f.write(generated(n))
    return 0


class Problems:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    SHOWN = 40

    def add(self, text):
        with self.lock:
            self.items.append(text)
            if len(self.items) <= self.SHOWN:
                print("PROBLEM: " + text, flush=True)

    def more(self):
        if len(self.items) > self.SHOWN:
            print("(%d more problems)" % (len(self.items) - self.SHOWN))


PROBLEMS = Problems()


# ---- reading the mailbox -------------------------------------------------

def locked_copy(path, deadline):
    """The mailbox's bytes, read under a shared append lock (as a reader
    takes it, store.h) on the file the name leads to once locked."""
    while time.monotonic() < deadline:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.lockf(fd, fcntl.LOCK_SH, 1, LOCK_APPEND, os.SEEK_SET)
            if os.fstat(fd).st_ino != os.stat(path).st_ino:
                continue        # replaced while we waited: read the new one
            chunks = []
            while True:
                b = os.read(fd, 1 << 20)
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks)
        finally:
            os.close(fd)        # drops the lock
    raise TimeoutError("no stable mailbox to read")


def parse(data, where):
    """The tokens of a mailbox, in order; reports every record whose body
    is not its own (interleaved or torn) and any error in the format of
    sockmail-mailbox(5) that mbox_check.py finds."""
    fd, tmp = tempfile.mkstemp(prefix="mbox-", suffix=".check",
                               dir=os.environ.get("BATS_TEST_TMPDIR"))
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = MBOX_CHECK.check(tmp)
    os.unlink(tmp)
    if rc != 0:
        PROBLEMS.add("%s: the mailbox does not parse: %s"
                     % (where, err.getvalue().strip().replace(tmp, "")))
    tokens = []
    record = []
    for line in data.split(b"\n")[:-1]:
        if line != b".":
            record.append(line)
            continue
        subj = record[2][len(b"Subject: "):] if len(record) > 2 else b"?"
        tok = subj.decode("ascii", "replace")
        if (b"body of " + subj not in record or
                b"..leading dot in " + subj not in record):
            PROBLEMS.add("%s: the record of %s does not hold its own body: %r"
                         % (where, tok, record[:12]))
        tokens.append(tok)
        record = []
    if tokens != [s for s in out.getvalue().split("\n") if s]:
        PROBLEMS.add("%s: mbox_check.py and this parser disagree" % where)
    return tokens


def duplicates(tokens):
    seen, dup = set(), set()
    for t in tokens:
        (dup if t in seen else seen).add(t)
    return dup


def retr_token(lines, where):
    """The token of a RETR's lines (poplib has un-stuffed them), checking
    the body is the message's own."""
    subj = [ln for ln in lines[:4] if ln.startswith(b"Subject: ")]
    if not subj:
        PROBLEMS.add("%s: RETR without a Subject line: %r" % (where, lines))
        return None
    tok = subj[0][len(b"Subject: "):]
    if (b"body of " + tok not in lines or
            b".leading dot in " + tok not in lines):
        PROBLEMS.add("%s: RETR of %s has a foreign body: %r"
                     % (where, tok, lines))
    return tok.decode("ascii", "replace")


# ---- SMTP senders --------------------------------------------------------

class Book:
    """What the senders know: tokens attempted, acknowledged with 250,
    refused with a definite reply, or left uncertain (connection lost)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.attempted, self.acked = set(), set()
        self.refused, self.uncertain = {}, {}

    def snapshot(self):
        with self.lock:
            return set(self.attempted), set(self.acked)


class Sender(threading.Thread):
    def __init__(self, book, port, ident, count, per_conn, deadline,
                 gap=0.0, stop=None):
        super().__init__(daemon=True)
        self.book, self.port, self.tag = book, port, ident
        self.count, self.per_conn, self.deadline = count, per_conn, deadline
        self.gap, self.stop = gap, stop
        self.sent = 0

    def connect(self):
        for attempt in range(3):
            try:
                return smtplib.SMTP("127.0.0.1", self.port,
                                    local_hostname="client.example",
                                    timeout=TIMEOUT)
            except OSError as e:
                if attempt == 2:
                    PROBLEMS.add("sender %s: connect: %r" % (self.tag, e))
                    return None
                time.sleep(0.1)
        return None

    def run(self):
        smtp = None
        n = 0
        while n < self.count:
            if time.monotonic() > self.deadline:
                break
            if self.stop is not None and self.stop.is_set():
                break
            tok = "%s-%d" % (self.tag, n)
            n += 1
            if smtp is None:
                smtp = self.connect()
                if smtp is None:
                    return
            with self.book.lock:
                self.book.attempted.add(tok)
            try:
                smtp.sendmail("sender@client.example", [RCPT], message(tok))
            except (smtplib.SMTPResponseException,
                    smtplib.SMTPRecipientsRefused) as e:
                with self.book.lock:
                    self.book.refused[tok] = repr(e)
                PROBLEMS.add("delivery of %s refused: %r" % (tok, e))
                smtp.close()
                smtp = None
                continue
            except (smtplib.SMTPException, OSError) as e:
                with self.book.lock:
                    self.book.uncertain[tok] = repr(e)
                PROBLEMS.add("delivery of %s: no reply: %r" % (tok, e))
                smtp.close()
                smtp = None
                continue
            with self.book.lock:
                self.book.acked.add(tok)
            self.sent += 1
            if self.per_conn and n % self.per_conn == 0:
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    smtp.quit()
                smtp = None
            if self.gap:
                time.sleep(self.gap)
        if smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()


# ---- race: deliveries and POP3 sessions at once --------------------------

class Popper(threading.Thread):
    def __init__(self, ident, port, deadline, senders_done, max_sessions):
        super().__init__(daemon=True)
        self.tag, self.port, self.deadline = ident, port, deadline
        self.senders_done, self.max_sessions = senders_done, max_sessions
        self.committed = []      # (session, token) whose QUIT got +OK
        self.uncertain = []      # QUIT sent, no answer
        self.sessions = self.in_use = self.abandoned = 0

    def run(self):
        after = 0
        while self.sessions < self.max_sessions:
            if time.monotonic() > self.deadline:
                PROBLEMS.add("popper %d: time limit reached" % self.tag)
                return
            if self.senders_done.is_set():
                after += 1
                if after > 3:       # a few sessions once delivery ended
                    return
            self.sessions += 1
            self.session("p%d.%d" % (self.tag, self.sessions))
            time.sleep(random.uniform(0.01, 0.08))

    def session(self, sid):
        try:
            pop = poplib.POP3("127.0.0.1", self.port, timeout=TIMEOUT)
        except OSError as e:
            PROBLEMS.add("%s: connect: %r" % (sid, e))
            return
        toks = []
        try:
            pop.user(USER)
            try:
                pop.pass_(PASSWORD)
            except poplib.error_proto as e:
                if e.args[0] == b"-ERR [IN-USE] Maildrop already locked":
                    self.in_use += 1
                    pop.quit()
                    return
                raise
            count, _ = pop.stat()
            if count == 0:
                pop.quit()
                return
            picks = random.sample(range(1, count + 1),
                                  min(count, random.randint(1, 5)))
            for num in picks:
                _, lines, _ = pop.retr(num)
                tok = retr_token(lines, sid)
                resp = pop.dele(num)
                if resp != b"+OK message %d deleted" % num:
                    PROBLEMS.add("%s: DELE %d: %r" % (sid, num, resp))
                if tok is not None:
                    toks.append(tok)
            if random.random() < 0.15:
                self.abandoned += 1
                pop.close()      # hang up without QUIT: nothing deleted
                return
        except (poplib.error_proto, OSError) as e:
            PROBLEMS.add("%s: unexpected: %r" % (sid, e))
            pop.close()
            return
        try:
            resp = pop.quit()
        except poplib.error_proto as e:
            PROBLEMS.add("%s: QUIT: %r" % (sid, e))    # nothing removed
            return
        except OSError as e:
            PROBLEMS.add("%s: QUIT unanswered: %r" % (sid, e))
            self.uncertain.extend(toks)
            return
        if resp.decode() != GOODBYE:
            PROBLEMS.add("%s: QUIT: %r" % (sid, resp))
            return
        self.committed.extend((sid, t) for t in toks)


def cmd_race(a):
    start = time.monotonic()
    deadline = start + a.time_limit
    book = Book()
    done = threading.Event()
    senders = [Sender(book, a.smtp_port, "tok-%d" % s, a.messages,
                      PER_CONN[s % len(PER_CONN)], deadline)
               for s in range(a.senders)]
    poppers = [Popper(p, a.pop3_port, deadline, done, 2000)
               for p in range(a.poppers)]
    for t in senders + poppers:
        t.start()
    for t in senders:
        t.join(max(0.1, deadline + 5 - time.monotonic()))
    done.set()
    for t in poppers:
        t.join(max(0.1, deadline + 10 - time.monotonic()))
    hung = [t for t in senders + poppers if t.is_alive()]
    if hung:
        PROBLEMS.add("%d clients still running after the time limit "
                     "(a hang?)" % len(hung))
        return 1
    attempted, acked = book.snapshot()
    if len(acked) < a.senders * a.messages:
        PROBLEMS.add("only %d of %d deliveries got 250 in time"
                     % (len(acked), a.senders * a.messages))

    tokens = parse(locked_copy(a.mailbox, time.monotonic() + 10), a.mailbox)
    present = set(tokens)
    committed = [c for p in poppers for c in p.committed]
    who = {}
    for sid, tok in committed:
        who.setdefault(tok, []).append(sid)
    uncertain = {t for p in poppers for t in p.uncertain}
    for tok in sorted(duplicates(tokens)):
        PROBLEMS.add("%s is in the mailbox %d times"
                     % (tok, tokens.count(tok)))
    for tok, sids in sorted(who.items()):
        if len(sids) > 1:
            PROBLEMS.add("%s was retrieved and deleted by %d committed "
                         "sessions: %s" % (tok, len(sids), " ".join(sids)))
        if tok in present:
            PROBLEMS.add("%s was deleted by committed session %s but is "
                         "still (again) in the mailbox" % (tok, sids[0]))
    lost = acked - present - set(who) - uncertain
    for tok in sorted(lost):
        PROBLEMS.add("%s got 250 but is neither in the mailbox nor deleted "
                     "by a committed session" % tok)
    for tok in sorted((present | set(who)) - attempted):
        PROBLEMS.add("%s appeared from nowhere" % tok)
    for tok in sorted((present | set(who)) & set(book.refused)):
        PROBLEMS.add("%s was refused (%s) but delivered"
                     % (tok, book.refused[tok]))

    print("race: %d deliveries got 250, %d POP3 sessions (%d IN-USE, %d "
          "hung up without QUIT), %d messages deleted, %d left, %.1f s"
          % (len(acked), sum(p.sessions for p in poppers),
             sum(p.in_use for p in poppers),
             sum(p.abandoned for p in poppers), len(committed), len(tokens),
             time.monotonic() - start))
    return 1 if PROBLEMS.items else 0


# ---- crash: kill -9 around the UPDATE ------------------------------------

class PipePop:
    """A POP3 handler on pipes, its pid known."""

    def __init__(self, argv, errlog):
        env = dict(os.environ, SOCKMAIL_LOG="stderr")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=errlog,
                                     bufsize=0, env=env)
        self.buf = b""
        self.eof = False

    def send(self, *lines):
        self.proc.stdin.write(b"".join(ln.encode() + b"\r\n"
                                       for ln in lines))

    def fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no reply from the POP3 handler in time")
        ready, _, _ = select.select([self.proc.stdout], [], [], left)
        if ready:
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                self.eof = True
                raise EOFError("the POP3 handler hung up")
            self.buf += chunk

    def line(self, deadline):
        while b"\n" not in self.buf:
            self.fill(deadline)
        raw, self.buf = self.buf.split(b"\n", 1)
        if not raw.endswith(b"\r"):
            PROBLEMS.add("a POP3 reply line lacks its CR: %r" % raw)
        return raw.rstrip(b"\r")

    def multi(self, deadline):
        lines = []
        while True:
            ln = self.line(deadline)
            if ln == b".":
                return lines
            lines.append(ln[1:] if ln.startswith(b"..") else ln)

    def rest(self, deadline):
        """All it still writes until it is gone."""
        with contextlib.suppress(EOFError):
            while not self.eof:
                self.fill(deadline)
        return self.buf

    def kill(self):
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def close(self):
        for f in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                f.close()


def temp_files(folder):
    # The mailbox and its index (a cache beside it) are not temp files.
    return sorted(n for n in os.listdir(folder)
                  if n not in ("my_mailbox.txt", "my_mailbox.idx"))


class Crash:
    def __init__(self, a):
        self.a = a
        self.mbox = os.path.join(a.mailroot, "USERS", USER, "my_mailbox.txt")
        self.folder = os.path.dirname(self.mbox)
        self.errlog = open(a.errlog, "ab")
        self.expected = set()     # tokens that must be there
        self.deleted = {}         # token -> round that removed it
        self.count_at_last_check = 0
        self.missing = set()      # reported already
        # kills: before the UPDATE made its temp file, while it wrote
        # it (the file stays), after the rename but before +OK, after +OK
        self.early = self.writing = self.mid = self.after = 0
        self.book = Book()

    def argv(self):
        return [self.a.pop3d, "-d", self.a.mailroot, "-n", "test.example",
                "-f", "0"]

    def round(self, r, delay):
        """One session: DELE a few, QUIT, and (delay not None) kill -9 it
        delay seconds after sending QUIT. Returns the QUIT time when not
        killed."""
        s = PipePop(self.argv(), self.errlog)
        try:
            return self.session(r, delay, s)
        finally:
            if s.proc.poll() is None:
                s.kill()
            s.close()

    def session(self, r, delay, s):
        deadline = time.monotonic() + TIMEOUT * 2
        ino = os.stat(self.mbox).st_ino
        try:
            greet = s.line(deadline)
            s.send("USER " + USER, "PASS " + PASSWORD)
            s.line(deadline)
            pw = s.line(deadline).decode()
            m = re.fullmatch(LOGIN_OK, pw)
            if not greet.startswith(b"+OK") or not m:
                PROBLEMS.add("round %d: login refused: %r" % (r, pw))
                s.kill()
                return None
            count = int(m.group(1))
            if count < self.count_at_last_check:
                PROBLEMS.add("round %d: login sees %d messages, the last "
                             "check saw %d" % (r, count,
                                               self.count_at_last_check))
            k = min(count, random.randint(1, self.a.max_dele))
            picks = random.sample(range(1, count + 1), k)
            s.send(*["RETR %d" % n for n in picks])
            dels = set()
            for n in picks:
                head = s.line(deadline)
                if not head.startswith(b"+OK"):
                    PROBLEMS.add("round %d: RETR %d: %r" % (r, n, head))
                    s.kill()
                    return None
                tok = retr_token(s.multi(deadline), "round %d" % r)
                if tok is not None:
                    dels.add(tok)
            s.send(*["DELE %d" % n for n in picks])
            for n in picks:
                resp = s.line(deadline).decode()
                if resp != "+OK message %d deleted" % n:
                    PROBLEMS.add("round %d: DELE %d: %r" % (r, n, resp))
            s.send("QUIT")
            t0 = time.monotonic()
            took = None
            if delay is None:
                resp = s.line(deadline).decode()
                took = time.monotonic() - t0
                if resp != GOODBYE:
                    PROBLEMS.add("round %d: QUIT: %r" % (r, resp))
                s.proc.wait(TIMEOUT)
                out = b""
            else:
                time.sleep(delay)
                s.kill()
                out = s.rest(deadline)
        except (TimeoutError, EOFError, BrokenPipeError,
                subprocess.TimeoutExpired) as e:
            PROBLEMS.add("round %d: %s (a hang?)" % (r, e))
            s.kill()
            return None
        renamed = os.stat(self.mbox).st_ino != ino
        if delay is not None:
            if GOODBYE.encode() in out:
                self.after += 1
                if not renamed:
                    PROBLEMS.add("round %d: QUIT got +OK, yet the mailbox "
                                 "was not replaced" % r)
            elif renamed:
                self.mid += 1
            elif any(n.endswith(".%d.tmp" % s.proc.pid)
                     for n in temp_files(self.folder)):
                self.writing += 1
            else:
                self.early += 1
        elif not renamed:
            PROBLEMS.add("round %d: a clean QUIT with DELEs did not replace "
                         "the mailbox" % r)
        self.check(r, dels if renamed else set(), dels)
        # A clean UPDATE removes the copies that killed ones left behind.
        if delay is None and temp_files(self.folder):
            PROBLEMS.add("round %d: a clean UPDATE left %s"
                         % (r, temp_files(self.folder)))
        self.stale = temp_files(self.folder)
        return took

    def check(self, r, gone, dels):
        """The mailbox now: the expected set minus `gone` (this round's
        DELEs, when the UPDATE went through; all of dels otherwise still
        there), plus deliveries, each exactly once."""
        where = "round %d" % r
        _, acked_before = self.book.snapshot()
        data = locked_copy(self.mbox, time.monotonic() + TIMEOUT)
        attempted_after, _ = self.book.snapshot()
        tokens = parse(data, where)
        present = set(tokens)
        for tok in sorted(duplicates(tokens)):
            PROBLEMS.add("%s: %s is in the mailbox %d times"
                         % (where, tok, tokens.count(tok)))
        for tok in gone:
            self.deleted[tok] = r
        self.expected -= gone
        must = self.expected | (acked_before - set(self.deleted))
        for tok in sorted(must - present - self.missing, key=token_key):
            PROBLEMS.add("%s: %s is missing" % (where, tok))
            self.missing.add(tok)   # once is enough
        for tok in sorted(present & set(self.deleted)):
            PROBLEMS.add("%s: %s, deleted in round %d, is back"
                         % (where, tok, self.deleted[tok]))
        kept = dels - gone
        if kept - present:
            PROBLEMS.add("%s: the kill landed before the rename, yet %s "
                         "are gone" % (where, sorted(kept - present)))
        for tok in sorted(present - self.expected - attempted_after):
            PROBLEMS.add("%s: %s appeared from nowhere" % (where, tok))
        self.expected |= present - set(self.deleted)
        self.count_at_last_check = len(tokens)

    def run(self):
        a = self.a
        start = time.monotonic()
        deadline = start + a.time_limit
        os.makedirs(self.folder, mode=0o700, exist_ok=True)
        cmd_gen(self.mbox, a.messages)
        os.chmod(self.mbox, 0o600)
        self.expected = {"gen-%d" % n for n in range(a.messages)}
        self.stale = temp_files(self.folder)
        stop = threading.Event()
        sender = Sender(self.book, a.smtp_port, "bg", 10 ** 9, 10,
                        deadline + 10, gap=a.gap, stop=stop)
        sender.start()
        # Two clean rounds measure how long a QUIT with an UPDATE takes;
        # the kills then land at random within (at first) 1.5 times that.
        took = [t for t in (self.round(0, None), self.round(1, None)) if t]
        t_quit = max(took) if took else 0.05
        factor = 1.5
        r = 2
        while r < a.rounds + 2:
            if time.monotonic() > deadline or len(PROBLEMS.items) > 20:
                break
            # Every sixth kill comes right after QUIT; the others within
            # a window that moves so that about half of them land after
            # the handler answered.
            after = self.after
            delay = 0 if r % 6 == 0 else random.uniform(0, factor * t_quit)
            self.round(r, delay)
            factor *= 0.85 if self.after > after else 1.15
            r += 1
        kills = r - 2
        # The stale temp files of the killed handlers must not stand in
        # the way of a clean UPDATE, during deliveries and after them.
        self.round(r, None)
        stop.set()
        sender.join(TIMEOUT + 5)
        if sender.is_alive():
            PROBLEMS.add("the SMTP sender did not finish (a hang?)")
        self.round(r + 1, None)
        # Deliveries over: every one that got 250 is there or was deleted.
        self.check(r + 2, set(), set())
        attempted, acked = self.book.snapshot()
        stale = temp_files(self.folder)
        size = sum(os.path.getsize(os.path.join(self.folder, n))
                   for n in stale)
        if stale:
            PROBLEMS.add("stale temp files after the last clean UPDATE: %s"
                         % stale)
        if kills < a.min_rounds:
            PROBLEMS.add("only %d kill rounds in %d s (at least %d wanted)"
                         % (kills, a.time_limit, a.min_rounds))
        print("crash: %d kills: %d before the UPDATE began, %d while it "
              "wrote the new file, %d after the rename but before +OK, %d "
              "after +OK; clean QUIT %.0f ms; %d deliveries got 250; %d "
              "messages left; %d stale temp files (%d bytes); %.1f s"
              % (kills, self.early, self.writing, self.mid, self.after,
                 t_quit * 1000, len(acked), self.count_at_last_check,
                 len(stale), size, time.monotonic() - start))
        self.errlog.close()
        return 1 if PROBLEMS.items else 0


def token_key(tok):
    head, _, num = tok.rpartition("-")
    return (head, int(num) if num.isdigit() else -1)


def main(argv):
    p = argparse.ArgumentParser(usage=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("file")
    g.add_argument("count", type=int)
    r = sub.add_parser("race")
    r.add_argument("smtp_port", type=int)
    r.add_argument("pop3_port", type=int)
    r.add_argument("mailbox")
    r.add_argument("--senders", type=int, default=4)
    r.add_argument("--messages", type=int, default=50)
    r.add_argument("--poppers", type=int, default=2)
    r.add_argument("--time-limit", type=float, default=40)
    c = sub.add_parser("crash")
    c.add_argument("pop3d")
    c.add_argument("smtp_port", type=int)
    c.add_argument("mailroot")
    c.add_argument("--messages", type=int, default=20000)
    c.add_argument("--rounds", type=int, default=20)
    c.add_argument("--min-rounds", type=int, default=8)
    c.add_argument("--max-dele", type=int, default=8)
    c.add_argument("--gap", type=float, default=0.02)
    c.add_argument("--time-limit", type=float, default=30)
    c.add_argument("--errlog", default="/dev/null",
                   help="where the handlers' stderr goes")
    a = p.parse_args(argv[1:])
    if a.cmd == "gen":
        return cmd_gen(a.file, a.count)
    rc = cmd_race(a) if a.cmd == "race" else Crash(a).run()
    PROBLEMS.more()
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
