#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The hostile corpus: feed sockmail-smtpd and sockmail-pop3d
random bytes, huge lines, NULs, odd line endings, floods, path tricks and
broken mail roots, each case in a fresh mail root, and check that

1. every reply line is a valid reply ending in CRLF (SMTP codes, with an
   RFC 3463 enhanced code, where there is one, whole and of the reply's
   class; POP3 status lines and properly terminated multi-line bodies);
2. the handler exits with the status the case expects (always 0 or 1),
   never by a signal, never hangs, and its stderr holds no sanitizer or
   valgrind report;
3. the mail root is unchanged apart from the deliveries, POP3 logins and
   POP3 UPDATEs the case declares;

plus the replies sockmail-smtpd(8) and sockmail-pop3d(8) give for that
input (their REPLIES sections): among them the enhanced codes after EHLO (and none after HELO), SMTPUTF8, bare CR in DATA and the
cap on commands without progress in both handlers.

Usage: python3 tests/hostile.py [BUILDDIR]. The environment's
abs_top_builddir and abs_top_srcdir win; without them BUILDDIR (default:
the source tree) holds src/sockmail-smtpd and src/sockmail-pop3d. Prints
TAP. HOSTILE_JOBS sets how many cases run at once (default: CPU count).
When run as root, the cases that need permissions to bite (unreadable
userinfo.txt, read-only USERS/) run their handler as root without the
capabilities that override file permissions (setpriv), so they work
wherever the build tree is, a 0700 folder under /root included.
"""

import concurrent.futures
import dataclasses
import os
import random
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

SRCDIR = Path(os.environ.get("abs_top_srcdir") or Path(__file__).resolve().parent.parent)
BUILDDIR = Path(os.environ.get("abs_top_builddir") or (sys.argv[1] if len(sys.argv) > 1 else SRCDIR))
SMTPD = BUILDDIR / "src" / "sockmail-smtpd"
POP3D = BUILDDIR / "src" / "sockmail-pop3d"
USERINFO = SRCDIR / "tests" / "data" / "mailroot" / "userinfo.txt"

HANDLER_TIMEOUT = 60        # seconds; a hang fails the case
DOMAIN = "test.example"
MiB = 1024 * 1024
CRLF, LF = b"\r\n", b"\n"
IS_ROOT = os.geteuid() == 0
# What makes root ignore a file's mode: without these, root is held to
# the owner's bits of the files it owns, as any user is.
OVERRIDE_CAPS = "-dac_override,-dac_read_search"

# ---------------------------------------------------------------------------
# Reply texts (sockmail-smtpd(8) REPLIES, sockmail-pop3d(8) REPLIES).

S_GREETING = f"220 {DOMAIN} Service ready"
S_HELO = "250 OK Hello client.example"
S_SENDER = "250 <sender@example.org>... Sender ok"
S_BOB = "250 bob... Recipient ok"
S_DATA = '354 Enter mail, end with "." on a line by itself'
S_ACCEPTED = "250 OK Message accepted for delivery"
S_OK = "250 OK"
S_BYE = f"221 {DOMAIN} Service closing transmission channel"
S_CLOSING = f"421 {DOMAIN} Service not available, closing transmission channel"
S_UNKNOWN = "500 Syntax error, command unrecognized"
S_TOO_LONG = "500 Line too long"
S_NUL_COMMAND = "500 Syntax error, NUL character in command"
S_SYNTAX = "501 Syntax error in parameters or arguments"
S_SEQUENCE = "503 Bad sequence of commands"
S_NO_USER = "550 No such user"
S_LOCAL_ERROR = "451 Requested action aborted: local error in processing"
S_TOO_MANY = "452 Too many recipients"
S_TOO_BIG = "552 Message size exceeds fixed maximum message size"
S_NUL_DATA = "554 Message contains NUL characters"
# -q (sockmail-smtpd(8) QUOTAS), after EHLO: the enhanced code stays in the text.
S_QUOTA_FULL = "452 4.2.2 Mailbox full"
S_QUOTA_OVER = "552 5.2.2 Mailbox full, message would exceed quota"
S_BARE_CR = "554 Message contains bare CR"
S_NOT_ASCII = "553 Non-ASCII address requires SMTPUTF8"
S_NOT_UTF8 = "553 Address is not valid UTF-8"
S_PARAMS = "555 MAIL FROM/RCPT TO parameters not recognized or not implemented"

P_GREETING = "+OK POP3 server is ready"
P_SEND_PASS = "+OK send PASS"
P_BAD_LOGIN = "-ERR [AUTH] Invalid username or password"
P_USER_FIRST = "-ERR USER first"
P_NO_MAILDROP = "-ERR [SYS/TEMP] Unable to open maildrop"
P_LOCAL_ERROR = "-ERR [SYS/TEMP] Local error, try again later"
P_NO_ROOT = "-ERR [SYS/PERM] mail root unavailable"
P_WRONG_STATE = "-ERR command not valid in this state"
P_UNKNOWN = "-ERR unrecognized command"
P_NUL = "-ERR NUL character in command"
P_TOO_LONG = "-ERR line too long"
P_IDLE = "-ERR idle for too long, closing"
P_BYE = "+OK Thanks for using POP3 server"
P_JUNK = "-ERR too many commands without progress"
P_CAPA = ["+OK Capability list follows", "USER", "TOP", "UIDL", "RESP-CODES",
          "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER",
          "IMPLEMENTATION sockmail", "."]


def ehlo_lines(size: int = 10485760) -> list[str]:
    """The EHLO reply to client.example, in sockmail-smtpd(8)'s order."""
    return [f"250-{DOMAIN} Hello client.example", "250-PIPELINING", "250-8BITMIME",
            f"250-SIZE {size}", "250-ENHANCEDSTATUSCODES", "250-SMTPUTF8", "250 HELP"]


def esc(reply: str, code: str) -> str:
    """A reply as sent after EHLO: its enhanced code (RFC 2034) after the
    basic one."""
    return f"{reply[:4]}{code} {reply[4:]}"


E_OK = esc(S_OK, "2.0.0")
E_SENDER = esc(S_SENDER, "2.1.0")
E_BOB = esc(S_BOB, "2.1.5")
E_ACCEPTED = esc(S_ACCEPTED, "2.0.0")
E_BYE = esc(S_BYE, "2.0.0")
E_CLOSING = esc(S_CLOSING, "4.7.0")     # too many errors or junk commands
E_SYNTAX = esc(S_SYNTAX, "5.5.4")

# ---------------------------------------------------------------------------
# Mailbox records (sockmail-mailbox(5)).

RECEIVED_LINE = re.compile(rb"Received: \d{4}-\d{2}-\d{2} : \d{2} : \d{2}")


def mailbox_record(sender: str, to: str, subject: str, body: list[str],
                   received: str = "2026-11-27 : 21 : 04") -> bytes:
    """One stored message, body lines dot-stuffed as a writer stores them."""
    stuffed = ["." + line if line.startswith(".") else line for line in body]
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}",
             f"Received: {received}", *stuffed, "."]
    return "".join(line + "\n" for line in lines).encode("latin-1")


LABXYZ_MESSAGES = [
    mailbox_record("otherlab@kuleuven.be", "labxyz@kuleuven.be", "First",
                   ["Date: Fri, 27 Nov 2026 21:04:00 +0000", "",
                    "Body line one.", "Body line two."]),
    mailbox_record("SimonDS@kuleuven.be", "labxyz@kuleuven.be", "No empty line",
                   ["This is a test mail.", "It has no empty line."]),
    mailbox_record("IbrahimEK@kuleuven.be", "labxyz@kuleuven.be", "Dots",
                   ["", ".", ".leading dot", "..", "last line"]),
]
LABXYZ_MAILBOX = b"".join(LABXYZ_MESSAGES)
IBRAHIM_MAILBOX = mailbox_record("bob@kuleuven.be", "IbrahimEK@kuleuven.be",
                                 "Hello", ["Only line."])
OUTSIDE_TARGET = b"outside the mail root: never to be written\n"


def pop3_size(message: bytes) -> int:
    """A stored message's POP3 size: CRLF endings, dot-stuffing not counted.
    A CR right before a stored line's LF is part of its line ending, not of
    the line (sockmail-mailbox(5)); any other CR is content."""
    lines = message.split(b"\n")[:-2]       # drop the "." line and the end
    return sum(len(line) - line.endswith(b"\r") - line.startswith(b".") + 2
               for line in lines)


def maildrop_line(messages: list[bytes]) -> str:
    octets = sum(pop3_size(message) for message in messages)
    return f"+OK maildrop has {len(messages)} messages ({octets} octets)"


P_LABXYZ_LOGIN = maildrop_line(LABXYZ_MESSAGES)
LABXYZ_OCTETS = sum(pop3_size(message) for message in LABXYZ_MESSAGES)
P_EMPTY_LOGIN = maildrop_line([])


@dataclasses.dataclass
class Record:
    """A stored message: the three fields, and the content lines with the
    dot-stuffing taken off."""
    sender: bytes
    to: bytes
    subject: bytes
    content: list[bytes]


def parse_record(lines: list[bytes], problems: list[str]) -> Record | None:
    heads = (b"From: ", b"To: ", b"Subject: ")
    if len(lines) < 4 or any(not line.startswith(head) for line, head in zip(lines, heads)):
        problems.append(f"record does not start with From:/To:/Subject:: {lines[:4]!r}")
        return None
    if not RECEIVED_LINE.fullmatch(lines[3]):
        problems.append(f"bad Received: line {lines[3]!r}")
    for line in lines:
        if b"\0" in line:
            problems.append(f"NUL stored in a record: {line[:80]!r}")
        if line.startswith(b".") and not line.startswith(b".."):
            problems.append(f"content line not dot-stuffed: {line[:80]!r}")
    content = [line[1:] if line.startswith(b".") else line for line in lines[4:]]
    return Record(lines[0][6:], lines[1][4:], lines[2][9:], content)


def parse_records(data: bytes) -> tuple[list[Record], list[str]]:
    """Split appended mailbox bytes into records; every one must be whole."""
    problems: list[str] = []
    if data and not data.endswith(b"\n"):
        problems.append("appended mail does not end in LF")
    records, current = [], []
    for line in data.split(b"\n")[:-1]:
        if line == b".":
            record = parse_record(current, problems)
            if record:
                records.append(record)
            current = []
        else:
            current.append(line)
    if current or (data and not data.endswith(b".\n")):
        problems.append("appended mail ends inside a message")
    return records, problems

# ---------------------------------------------------------------------------
# Wire checks.

SMTP_REPLY_LINE = re.compile(rb"[2-5][0-9]{2}(?:[ -][^\n]*)?\r\n")
# What looks like an RFC 3463 enhanced code after the basic one: a digit,
# a dot and a digit. If it is there, it must be whole and of the reply's
# class (RFC 2034 3).
SMTP_ENHANCED_START = re.compile(rb"[0-9]{3}[ -][0-9]\.[0-9]")
SMTP_ENHANCED = re.compile(rb"([245])[0-9]{2}[ -]\1\.[0-9]{1,3}\.[0-9]{1,3} ")
ENHANCED_REPLY = re.compile(r"([245])[0-9]{2} \1\.[0-9]{1,3}\.[0-9]{1,3} \S")
ANY_ENHANCED = re.compile(r"[0-9]{3}[ -][245]\.[0-9]{1,3}\.[0-9]{1,3} ")
POP3_STATUS_LINE = re.compile(rb"(?:\+OK|-ERR)(?: [^\n]*)?\r\n")
POP3_GREETING = re.compile(rb"\+OK POP3 server is ready(?: <\d+\.\d+\.\d{9}@test\.example>)?\r\n")
# The +OK texts that open a multi-line reply, and what each body line is.
POP3_MULTILINE = {
    "capa": re.compile(rb"\+OK Capability list follows\r\n"),
    "list": re.compile(rb"\+OK (\d+) messages \((\d+) octets\)\r\n"),
    "uidl": re.compile(rb"\+OK unique-id listing follows\r\n"),
    "retr": re.compile(rb"\+OK (\d+) octets\r\n"),
    "top": re.compile(rb"\+OK top of message follows\r\n"),
}
LIST_BODY_LINE = re.compile(rb"(\d+) (\d+)\r\n")
UIDL_BODY_LINE = re.compile(rb"\d+ [\x21-\x7e]{1,70}\r\n")
SANITIZER_REPORT = re.compile(rb"Sanitizer|runtime error|^==\d+==", re.M)


def split_wire_lines(raw: bytes, problems: list[str]) -> list[bytes]:
    """The output's lines, each with its LF; a last line without one is a
    problem."""
    lines = [line + b"\n" for line in raw.split(b"\n")]
    if lines[-1] != b"\n":
        problems.append(f"last reply line does not end in CRLF: {lines[-1][:-1][:80]!r}")
    return lines[:-1]


def check_smtp_wire(raw: bytes) -> tuple[list[str], list[str]]:
    """SMTP replies: every line NNN[ -]text CRLF, continuation lines of one
    reply sharing its code. Returns (reply lines without CRLF, problems)."""
    problems: list[str] = []
    lines = split_wire_lines(raw, problems)
    for number, line in enumerate(lines):
        if not SMTP_REPLY_LINE.fullmatch(line):
            problems.append(f"reply line {number} is not NNN text CRLF: {line[:80]!r}")
        elif SMTP_ENHANCED_START.match(line) and not SMTP_ENHANCED.match(line):
            problems.append(f"reply line {number} has a malformed enhanced code or one of "
                            f"another class: {line[:80]!r}")
        elif number > 0 and lines[number - 1][3:4] == b"-" and line[:3] != lines[number - 1][:3]:
            problems.append(f"reply line {number} continues a reply with another code")
    if lines and lines[-1][3:4] == b"-":
        problems.append("the last reply is an unfinished multi-line reply")
    return [line[:-2].decode("latin-1") for line in lines], problems


def check_pop3_body(kind: str, status: re.Match, body: list[bytes]) -> list[str]:
    """What each multi-line reply's body must hold."""
    texts = [line[:-2] for line in body]
    if kind == "capa" and [text.decode("latin-1") for text in texts] != P_CAPA[1:-1]:
        return [f"CAPA list differs: {texts!r}"]
    if kind == "list":
        sizes = [LIST_BODY_LINE.fullmatch(line) for line in body]
        if not all(sizes):
            return [f"bad LIST line among {body[:5]!r}"]
        if len(sizes) != int(status[1]) or sum(int(m[2]) for m in sizes) != int(status[2]):
            return [f"LIST lines do not add up to {status[0]!r}"]
    if kind == "uidl" and not all(UIDL_BODY_LINE.fullmatch(line) for line in body):
        return [f"bad UIDL line among {body[:5]!r}"]
    if kind == "retr":
        size = sum(len(text) - text.startswith(b".") + 2 for text in texts)
        if size != int(status[1]):
            return [f"RETR sent {size} octets after {status[0]!r}"]
    return []


def read_pop3_body(lines: list[bytes], start: int, problems: list[str]) -> int:
    """Index of the line after the body that starts at lines[start]."""
    for index in range(start, len(lines)):
        if lines[index] == b".\r\n":
            return index + 1
        if not lines[index].endswith(b"\r\n"):
            problems.append(f"multi-line body line {index} lacks CRLF: {lines[index][:80]!r}")
    problems.append("a multi-line reply is not ended by a '.' line")
    return len(lines)


def check_pop3_wire(raw: bytes) -> tuple[list[str], list[str]]:
    """POP3 replies: the greeting, then status lines, the multi-line ones
    (known by their fixed +OK texts) followed by a body ended by '.'."""
    problems: list[str] = []
    lines = split_wire_lines(raw, problems)
    if lines and not (POP3_GREETING.fullmatch(lines[0]) or lines[0] == P_NO_ROOT.encode() + CRLF):
        problems.append(f"bad greeting {lines[0][:80]!r}")
    index = 1
    while index < len(lines):
        line = lines[index]
        index += 1
        if not POP3_STATUS_LINE.fullmatch(line):
            problems.append(f"reply line {index - 1} is not a status line: {line[:80]!r}")
            continue
        for kind, pattern in POP3_MULTILINE.items():
            status = pattern.fullmatch(line)
            if status:
                end = read_pop3_body(lines, index, problems)
                problems += check_pop3_body(kind, status, lines[index:end - 1])
                index = end
    return [line[:-2].decode("latin-1") for line in lines], problems


def smtp_session_problems(replies: list[str]) -> list[str]:
    """sockmail-smtpd(8) rules that hold in every session: nothing after 221 or 421,
    and the 20th 5xx reply is followed at once by the 421 (with its
    enhanced code after EHLO)."""
    problems, errors = [], 0
    for number, reply in enumerate(replies):
        final = reply[3:4] != "-"
        if final and reply[:3] in ("221", "421") and number != len(replies) - 1:
            problems.append(f"replies after {reply!r}")
        if final and reply.startswith("5"):
            errors += 1
            if errors == 20 and replies[number + 1:] not in ([S_CLOSING], [E_CLOSING]):
                problems.append("the 20th 5xx reply is not followed by the 421 alone")
    return problems


def pop3_session_problems(replies: list[str]) -> list[str]:
    """Nothing after goodbye, the idle reply, the junk limit's reply, or the
    third failed login."""
    problems, failures = [], 0
    for number, reply in enumerate(replies):
        failures += reply == P_BAD_LOGIN
        if (reply in (P_BYE, P_IDLE, P_JUNK) or failures == 3) and number != len(replies) - 1:
            problems.append(f"replies after {reply!r}")
            break
    return problems

# ---------------------------------------------------------------------------
# Snapshots of a case's directory: everything but times.


@dataclasses.dataclass(frozen=True)
class Entry:
    kind: str
    mode: int
    links: int
    data: bytes | None = None       # a regular file's bytes (None: unreadable)
    target: str | None = None       # a symlink's target


def snapshot_entry(path: Path) -> Entry:
    info = path.lstat()
    mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISLNK(info.st_mode):
        return Entry("symlink", mode, info.st_nlink, target=os.readlink(path))
    if stat.S_ISDIR(info.st_mode):
        return Entry("dir", mode, 1)    # a folder's size and links vary
    if not stat.S_ISREG(info.st_mode):
        return Entry("special", mode, info.st_nlink)
    try:
        data = path.read_bytes()
    except PermissionError:
        data = None
    return Entry("file", mode, info.st_nlink, data=data)


def snapshot(base: Path) -> dict[str, Entry]:
    entries = {}
    for folder, dirs, files in os.walk(base):
        for name in dirs + files:
            path = Path(folder, name)
            entries[str(path.relative_to(base))] = snapshot_entry(path)
    return entries

# ---------------------------------------------------------------------------
# Cases.

Check = Callable[["Result"], list[str]]


@dataclasses.dataclass
class Case:
    name: str
    handler: str                        # "smtp" or "pop3"
    client_input: bytes
    checks: tuple[Check, ...] = ()
    options: tuple[str, ...] = ()
    setup: Callable[[Path], None] | None = None     # gets the mail root
    deliveries: dict[str, int] = dataclasses.field(default_factory=dict)
    final_mailboxes: dict[str, bytes] = dataclasses.field(default_factory=dict)
    side_files: dict[str, bytes] = dataclasses.field(default_factory=dict)  # a tail moved aside
    may_login: tuple[str, ...] = ()     # POP3 logins that may create a folder
    exit_status: int = 0
    unprivileged: bool = False          # permissions must bite: not as root
    hold_open: bool = False             # keep stdin open (idle timeout cases)
    timeout: int = HANDLER_TIMEOUT      # seconds before a hang is declared
    unlinked_outside: bool = False      # a link to an outside file may go


@dataclasses.dataclass
class Result:
    replies: list[str]
    status: int
    stderr: bytes
    records: dict[str, list[Record]]    # new messages per declared login


def lines(*items: str | bytes, end: bytes = CRLF) -> bytes:
    """Client lines, each ended by end; str items are taken as Latin-1."""
    return b"".join((item if isinstance(item, bytes) else item.encode("latin-1")) + end
                    for item in items)


def smtp(name: str, client_input: bytes, *checks: Check, **fields) -> Case:
    return Case(name, "smtp", client_input, checks, **fields)


def pop3(name: str, client_input: bytes, *checks: Check, **fields) -> Case:
    return Case(name, "pop3", client_input, checks, **fields)

# Checks on a result; each returns what is wrong.


def expect_replies(*want: str) -> Check:
    """The replies are exactly these lines."""
    def check(result: Result) -> list[str]:
        if result.replies == list(want):
            return []
        return [f"replies differ: want {list(want)!r}", f"got {result.replies[:40]!r}"]
    return check


def expect_in_order(*want: str) -> Check:
    """These lines are among the replies, in this order."""
    def check(result: Result) -> list[str]:
        rest = iter(result.replies)
        missing = [line for line in want if not any(line == got for got in rest)]
        return [f"missing (in order) {missing!r}; got {result.replies[:40]!r}"] if missing else []
    return check


def expect_count(line: str, count: int) -> Check:
    def check(result: Result) -> list[str]:
        got = result.replies.count(line)
        return [] if got == count else [f"{line!r} {got} times, want {count}"]
    return check


def expect_enhanced_codes(result: Result) -> list[str]:
    """An EHLO session: every reply but the greeting, the EHLO lines and
    354 carries a well-formed enhanced code of its own class (RFC 2034)."""
    bad = []
    for number, reply in enumerate(result.replies):
        ehlo_line = reply.startswith("250-") or (reply == "250 HELP" and number > 0
                                                  and result.replies[number - 1].startswith("250-"))
        if number == 0 or ehlo_line or reply.startswith("354 "):
            continue
        if not ENHANCED_REPLY.match(reply):
            bad.append(f"reply {number} has no enhanced code of its class: {reply[:80]!r}")
    return bad[:10]


def expect_no_enhanced_codes(result: Result) -> list[str]:
    """A HELO session: no reply carries an enhanced code."""
    return [f"reply {number} carries an enhanced code after HELO: {reply[:80]!r}"
            for number, reply in enumerate(result.replies) if ANY_ENHANCED.match(reply)][:10]


def expect_last(*want: str) -> Check:
    def check(result: Result) -> list[str]:
        got = result.replies[-len(want):]
        return [] if got == list(want) else [f"last replies {got!r}, want {list(want)!r}"]
    return check


def expect_body(login: str, *content: str | bytes, index: int = 0,
                sender: str = "sender@example.org", to: str = "bob@test.example",
                subject: str = "") -> Check:
    """The index-th new message of login has these fields and content lines
    (after un-stuffing)."""
    want = Record(sender.encode("latin-1"), to.encode("latin-1"), subject.encode("latin-1"),
                  [item if isinstance(item, bytes) else item.encode("latin-1") for item in content])

    def check(result: Result) -> list[str]:
        records = result.records.get(login, [])
        if len(records) <= index:
            return [f"no new message {index} for {login}"]
        got = records[index]
        if got == want:
            return []
        return [f"message {index} of {login} differs: want {shorten(want)}", f"got {shorten(got)}"]
    return check


def shorten(record: Record) -> str:
    text = repr(record)
    return text if len(text) < 400 else text[:400] + "..."

# Mail root set-ups (each gets the mail root; "outside" is its sibling).


def outside(root: Path) -> Path:
    return root.parent / "outside"


def put_mailbox(root: Path, login: str, data: bytes) -> Path:
    folder = root / "USERS" / login
    folder.mkdir(mode=0o700, exist_ok=True)
    mailbox = folder / "my_mailbox.txt"
    mailbox.write_bytes(data)
    mailbox.chmod(0o600)
    return mailbox


def make_mailroot(root: Path) -> None:
    """The test users; labxyz and IbrahimEK have mail, the others no folder."""
    (root / "USERS").mkdir(parents=True)
    shutil.copy(USERINFO, root / "userinfo.txt")
    put_mailbox(root, "labxyz", LABXYZ_MAILBOX)
    put_mailbox(root, "IbrahimEK", IBRAHIM_MAILBOX)
    outside(root).mkdir()
    (outside(root) / "target.txt").write_bytes(OUTSIDE_TARGET)


def mailbox_symlink_outside(root: Path) -> None:
    (root / "USERS" / "bob").mkdir(mode=0o700)
    (root / "USERS" / "bob" / "my_mailbox.txt").symlink_to(outside(root) / "target.txt")


def mailbox_dangling_symlink(root: Path) -> None:
    (root / "USERS" / "bob").mkdir(mode=0o700)
    (root / "USERS" / "bob" / "my_mailbox.txt").symlink_to(outside(root) / "created.txt")


def folder_symlink_outside(root: Path) -> None:
    (outside(root) / "USERS").mkdir()
    put_mailbox(outside(root), "bob", IBRAHIM_MAILBOX)
    (root / "USERS" / "bob").symlink_to(outside(root) / "USERS" / "bob")


def users_symlink_outside(root: Path) -> None:
    (root / "USERS").rename(outside(root) / "USERS")
    (root / "USERS").symlink_to(outside(root) / "USERS")


def mailbox_directory(root: Path) -> None:
    (root / "USERS" / "bob" / "my_mailbox.txt").mkdir(mode=0o700, parents=True)


def mailbox_hard_link(root: Path) -> None:
    mailbox = put_mailbox(root, "bob", IBRAHIM_MAILBOX)
    os.link(mailbox, outside(root) / "bob-mailbox-link.txt")


def mailbox_fifo(root: Path) -> None:
    (root / "USERS" / "bob").mkdir(mode=0o700)
    os.mkfifo(root / "USERS" / "bob" / "my_mailbox.txt", 0o600)


def userinfo_missing(root: Path) -> None:
    (root / "userinfo.txt").unlink()


def userinfo_unreadable(root: Path) -> None:
    (root / "userinfo.txt").chmod(0)


def userinfo_empty(root: Path) -> None:
    (root / "userinfo.txt").write_bytes(b"")


def userinfo_directory(root: Path) -> None:
    (root / "userinfo.txt").unlink()
    (root / "userinfo.txt").mkdir()


def userinfo_100000_lines(root: Path) -> None:
    """100,000 lines; bob and labxyz near the end, user50000 in the middle."""
    users = [f"user{number:05d}\tpw{number:05d}\n" for number in range(100_000)]
    users[99_990] = "bob\tbobpass\n"
    users[99_995] = "labxyz\tlabpass\n"
    (root / "userinfo.txt").write_text("".join(users))


def userinfo_garbage(root: Path) -> None:
    """Malformed lines of every kind before the real users."""
    junk = [b"\0\0\0", b"bob\0 bobpass", b"bob", b"bob bobpass extra",
            b"x" * 100_000, b"bob " + b"p" * 5000, b"../bob bobpass",
            b".bob bobpass", b"-bob bobpass", b"b\xffb bobpass", b"bob {PLAIN}",
            b"bob {CRYPT}", b"\r", b"\t \t", b"#bob bobpass",
            random.Random(7).randbytes(4096).replace(b"\n", b"")]
    (root / "userinfo.txt").write_bytes(b"\n".join(junk) + b"\n" + USERINFO.read_bytes())


def userinfo_fifo(root: Path) -> None:
    (root / "userinfo.txt").unlink()
    os.mkfifo(root / "userinfo.txt", 0o600)


def folder_fifo(root: Path) -> None:
    os.mkfifo(root / "USERS" / "bob", 0o600)


def spool_read_only(root: Path) -> None:
    (root.parent / "spool").chmod(0o555)


def userinfo_crlf(root: Path) -> None:
    (root / "userinfo.txt").write_bytes(USERINFO.read_bytes().replace(b"\n", b"\r\n"))


def many_users(count: int) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        extra = "".join(f"user{number:03d} pw{number:03d}\n" for number in range(count))
        with open(root / "userinfo.txt", "a") as userinfo:
            userinfo.write(extra)
    return setup


def users_read_only(root: Path) -> None:
    (root / "USERS").chmod(0o555)


def folder_read_only(root: Path) -> None:
    (root / "USERS" / "bob").mkdir(mode=0o500)


def mailbox_of(data: bytes, login: str = "labxyz") -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        put_mailbox(root, login, data)
    return setup


def remove_mailroot(root: Path) -> None:
    shutil.rmtree(root)

# Client input pieces.


ENVELOPE = ("HELO client.example", "MAIL FROM:<sender@example.org>", "RCPT TO:<bob@test.example>")
ENVELOPE_REPLIES = (S_GREETING, S_HELO, S_SENDER, S_BOB)
LOGIN = ("USER labxyz", "PASS labpass")
LOGIN_REPLIES = (P_GREETING, P_SEND_PASS, P_LABXYZ_LOGIN)


def to_bob(*data_lines: str | bytes, end: bytes = CRLF) -> bytes:
    """A whole session sending data_lines to bob, then QUIT."""
    return lines(*ENVELOPE, "DATA", *data_lines, ".", "QUIT", end=end)


def transaction_to_bob(*data_lines: str | bytes) -> bytes:
    """MAIL, RCPT bob, DATA, data_lines, '.', QUIT: after an earlier HELO."""
    return lines(*ENVELOPE[1:], "DATA", *data_lines, ".", "QUIT")


def label(text: str) -> str:
    """A hostile string for a case name: quoted, long ones cut short."""
    return f"{text[:40]!r} ({len(text)} chars)" if len(text) > 40 else repr(text)


def random_bytes(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def random_cases() -> list[Case]:
    cases = []
    for seed, size in ((1, 64), (2, 4096), (3, 65536), (4, MiB)):
        noise = random_bytes(seed, size)
        cases += [
            smtp(f"smtp: {size} random bytes (seed {seed})", noise),
            pop3(f"pop3: {size} random bytes (seed {seed})", noise),
            pop3(f"pop3: {size} random bytes after login (seed {seed})",
                 lines(*LOGIN) + noise, expect_in_order(*LOGIN_REPLIES)),
        ]
    for seed, size in ((5, 4096), (6, MiB)):
        noise = random_bytes(seed, size)
        cases += [
            smtp(f"smtp: HELO then {size} random bytes (seed {seed})",
                 lines(ENVELOPE[0]) + noise, expect_in_order(S_GREETING, S_HELO)),
            smtp(f"smtp: {size} random bytes in DATA, then EOF (seed {seed})",
                 lines(*ENVELOPE, "DATA") + noise,
                 expect_in_order(*ENVELOPE_REPLIES, S_DATA)),
        ]
    cases += [
        smtp("smtp: MAIL then 4096 random bytes (seed 8)",
             lines(*ENVELOPE[:2]) + random_bytes(8, 4096), expect_in_order(S_HELO, S_SENDER)),
        pop3("pop3: USER then 4096 random bytes (seed 9)",
             lines("USER labxyz") + random_bytes(9, 4096), expect_in_order(P_SEND_PASS)),
        random_data_case(10, "NUL"),
        random_data_case(11, None),
        random_data_case(13, "bare CR"),
    ]
    return cases


def random_data_case(seed: int, fault: str | None) -> Case:
    """65536 random bytes as a message, properly ended: no line may start
    with '.', so only the final '.' ends it. The fault left in (a NUL, a
    bare CR, or with none the CRs made part of CR LF) decides the verdict."""
    noise = b"x" + random_bytes(seed, 65536)
    if fault != "NUL":
        noise = noise.replace(b"\0", b"\1")
    if fault is None:
        noise = noise.replace(b"\r", b"").replace(b"\n", b"\r\n")
    elif fault == "bare CR":
        noise = noise.replace(b"\r", b"") + b"\r"
    noise = noise.replace(b"\n.", b"\n_")
    session = lines(*ENVELOPE, "DATA") + noise + lines("", ".", "QUIT")
    verdict = {"NUL": S_NUL_DATA, "bare CR": S_BARE_CR, None: S_ACCEPTED}[fault]
    return smtp(f"smtp: 64 KiB random message with {fault or 'no NUL nor bare CR'} (seed {seed})",
                session, expect_replies(*ENVELOPE_REPLIES, S_DATA, verdict, S_BYE),
                deliveries={"bob": 1} if fault is None else {})


def long_line_cases() -> list[Case]:
    huge = "x" * MiB
    return [
        smtp("smtp: 1 MiB command line, session goes on",
             lines(huge, "NOOP", "QUIT"), expect_replies(S_GREETING, S_TOO_LONG, S_OK, S_BYE)),
        smtp("smtp: 1 MiB command line without newline at EOF",
             huge.encode(), expect_replies(S_GREETING, S_TOO_LONG)),
        smtp("smtp: 1 MiB MAIL FROM, then a good transaction",
             lines(ENVELOPE[0], "MAIL FROM:<" + huge + ">") + transaction_to_bob("hello"),
             expect_replies(S_GREETING, S_HELO, S_TOO_LONG, S_SENDER, S_BOB, S_DATA, S_ACCEPTED, S_BYE),
             expect_body("bob", "hello"), deliveries={"bob": 1}),
        smtp("smtp: 512-octet command line is accepted",
             lines("NOOP " + "x" * 505, "QUIT"), expect_replies(S_GREETING, S_OK, S_BYE)),
        smtp("smtp: 513-octet command line is too long",
             lines("NOOP " + "x" * 506, "QUIT"), expect_replies(S_GREETING, S_TOO_LONG, S_BYE)),
        smtp("smtp: 1 MiB data line is delivered whole",
             to_bob("before", huge, "after"), expect_body("bob", "before", huge, "after"),
             deliveries={"bob": 1}),
        smtp("smtp: 1 MiB data line without newline at EOF delivers nothing",
             lines(*ENVELOPE, "DATA", "before") + huge.encode(),
             expect_replies(*ENVELOPE_REPLIES, S_DATA)),
        smtp("smtp: 1 MiB Subject header line",
             to_bob("Subject: " + huge, "", "body"), expect_body("bob", "", "body", subject=huge),
             deliveries={"bob": 1}),
        pop3("pop3: 1 MiB command before login, session goes on",
             lines(huge, "CAPA", "QUIT"), expect_replies(P_GREETING, P_TOO_LONG, *P_CAPA, P_BYE)),
        pop3("pop3: 1 MiB command without newline at EOF",
             huge.encode(), expect_replies(P_GREETING, P_TOO_LONG)),
        pop3("pop3: 1 MiB password, then the right one",
             lines("USER labxyz", "PASS " + huge, "PASS labpass", "QUIT"),
             expect_replies(P_GREETING, P_SEND_PASS, P_TOO_LONG, P_LABXYZ_LOGIN, P_BYE)),
        pop3("pop3: 1 MiB RETR argument after login",
             lines(*LOGIN, "RETR " + "9" * MiB, "STAT", "QUIT"),
             expect_replies(*LOGIN_REPLIES, P_TOO_LONG, f"+OK 3 {LABXYZ_OCTETS}", P_BYE)),
        pop3("pop3: 255-octet line is accepted, 256 is too long",
             lines("USER " + "a" * 248, "USER " + "a" * 249, "QUIT"),
             expect_replies(P_GREETING, P_SEND_PASS, P_TOO_LONG, P_BYE)),
    ]


# Lines that straddle the line reader's 8 KiB pieces, with a CR or a "."
# right at a piece boundary: a "." inside a line is never un-stuffed, a CR
# held back at a boundary is still seen (a bare CR in SMTP data: 554; a
# stored one is content to POP3).
BOUNDARY_DOTS = ["x" * 8190 + ".y", "." + "z" * 8195, "w" * 8189, "v" * 8190, "." + "t" * 8189]
BOUNDARY_CRS = ["w" * 8189 + "\r", "v" * 8190 + "\r", "u" * 8191 + "\r", "." + "t" * 8189 + "\r",
                "s" * 8190 + "\r" * 3]
BOUNDARY_LINES = BOUNDARY_DOTS[:2] + BOUNDARY_CRS


def boundary_cases() -> list[Case]:
    stored = mailbox_record("a@b", "labxyz@test.example", "boundaries", BOUNDARY_LINES)
    cases = [
        smtp("smtp: data lines across 8 KiB piece boundaries", to_bob(*BOUNDARY_DOTS),
             expect_body("bob", *[line[1:] if line.startswith(".") else line for line in BOUNDARY_DOTS]),
             deliveries={"bob": 1}),
        pop3("pop3: RETR and TOP of lines across 8 KiB piece boundaries",
             lines(*LOGIN, "LIST", "RETR 1", "TOP 1 3", "QUIT"),
             expect_in_order(maildrop_line([stored]), f"+OK {pop3_size(stored)} octets", P_BYE),
             setup=mailbox_of(stored)),
        smtp("smtp: EHLO argument of 255 chars is taken, 256 is not",
             lines("EHLO " + "a" * 255, "EHLO " + "a" * 256, "QUIT"),
             expect_replies(S_GREETING, f"250-{DOMAIN} Hello {'a' * 255}", *ehlo_lines()[1:],
                            E_SYNTAX, E_BYE)),
        smtp("smtp: To: folded over 10,000 lines is unfolded",
             to_bob("To: a@b", *[" c@d"] * 10_000, "", "body"),
             expect_body("bob", "", "body", to="a@b" + " c@d" * 10_000), deliveries={"bob": 1}),
    ]
    # Each line with a CR at or near a piece boundary, alone in a message.
    cases += [smtp(f"smtp: bare CR at an 8 KiB piece boundary ({len(line)} chars)",
                   to_bob("x", line, "y"), expect_replies(*ENVELOPE_REPLIES, S_DATA, S_BARE_CR, S_BYE))
              for line in BOUNDARY_CRS[:3]]
    return cases


def nul_cases() -> list[Case]:
    return [
        smtp("smtp: NUL in the verb", lines(b"NO\0OP", "QUIT"),
             expect_replies(S_GREETING, S_NUL_COMMAND, S_BYE)),
        smtp("smtp: NUL in HELO", lines(b"HELO client\0.example", "QUIT"),
             expect_replies(S_GREETING, S_NUL_COMMAND, S_BYE)),
        smtp("smtp: NUL in the MAIL address",
             lines(ENVELOPE[0], b"MAIL FROM:<sender\0@example.org>", "QUIT"),
             expect_replies(S_GREETING, S_HELO, S_NUL_COMMAND, S_BYE)),
        smtp("smtp: NUL in the RCPT address (bob\\0../x)",
             lines(*ENVELOPE[:2], b"RCPT TO:<bob\0../../x@test.example>", "QUIT"),
             expect_replies(S_GREETING, S_HELO, S_SENDER, S_NUL_COMMAND, S_BYE)),
        smtp("smtp: NUL in data gets 554, the next message goes through",
             lines(*ENVELOPE, "DATA", b"a\0b", ".") + transaction_to_bob("clean"),
             expect_replies(*ENVELOPE_REPLIES, S_DATA, S_NUL_DATA, S_SENDER, S_BOB, S_DATA,
                            S_ACCEPTED, S_BYE),
             expect_body("bob", "clean"), deliveries={"bob": 1}),
        smtp("smtp: NUL in a data header line", to_bob(b"From: evil\0@example.org", "", "x"),
             expect_replies(*ENVELOPE_REPLIES, S_DATA, S_NUL_DATA, S_BYE)),
        smtp("smtp: a data line of one NUL, LF session", to_bob(b"\0", end=LF),
             expect_replies(*ENVELOPE_REPLIES, S_DATA, S_NUL_DATA, S_BYE)),
        pop3("pop3: NUL in USER, then PASS", lines(b"USER lab\0xyz", "PASS labpass", "QUIT"),
             expect_replies(P_GREETING, P_NUL, P_USER_FIRST, P_BYE)),
        pop3("pop3: NUL in PASS, then the right password",
             lines("USER labxyz", b"PASS lab\0pass", "PASS labpass", "QUIT"),
             expect_replies(P_GREETING, P_SEND_PASS, P_NUL, P_LABXYZ_LOGIN, P_BYE)),
        pop3("pop3: NUL in commands after login", lines(*LOGIN, b"ST\0AT", b"RETR 1\0", "QUIT"),
             expect_replies(*LOGIN_REPLIES, P_NUL, P_NUL, P_BYE)),
    ]


def line_ending_cases() -> list[Case]:
    delivered = (*ENVELOPE_REPLIES, S_DATA, S_ACCEPTED, S_BYE)
    return [
        smtp("smtp: LF-only session delivers", to_bob("line1", end=LF),
             expect_replies(*delivered), expect_body("bob", "line1"), deliveries={"bob": 1}),
        smtp("smtp: CR CR LF after a verb", lines("NOOP\r", "QUIT"),
             expect_replies(S_GREETING, S_UNKNOWN, S_BYE)),
        # One line, cut off by the end of input: never carried out.
        smtp("smtp: lone CRs only, no LF at all", b"NOOP\rNOOP\rQUIT\r",
             expect_replies(S_GREETING)),
        smtp("smtp: mixed LF and CRLF commands, CRLF DATA",
             b"HELO client.example\nMAIL FROM:<sender@example.org>\r\nRCPT TO:<bob@test.example>\n"
             b"DATA\r\nline1\n.\nline2\r\n.\r\nQUIT\n",
             expect_replies(*delivered), expect_body("bob", "line1", ".", "line2"),
             deliveries={"bob": 1}),
        smtp("smtp: lone CRs inside data lines get 554, nothing is stored",
             to_bob(b"a\rb", b"\r", b"c\r\r"), expect_replies(*ENVELOPE_REPLIES, S_DATA, S_BARE_CR, S_BYE)),
        pop3("pop3: LF-only session", lines(*LOGIN, "STAT", "QUIT", end=LF),
             expect_in_order(*LOGIN_REPLIES, P_BYE)),
        pop3("pop3: CR CR LF after a verb", lines("CAPA\r", "QUIT"),
             expect_replies(P_GREETING, P_UNKNOWN, P_BYE)),
        pop3("pop3: lone CR joins USER and PASS into one line",
             b"USER labxyz\rPASS labpass\r\nPASS labpass\r\n",
             expect_replies(P_GREETING, P_SEND_PASS, P_BAD_LOGIN)),
        pop3("pop3: mixed LF and CRLF after login",
             b"USER labxyz\nPASS labpass\r\nLIST\nUIDL\r\nRETR 3\nQUIT\r\n",
             expect_in_order(*LOGIN_REPLIES, P_BYE)),
    ]

# End of data (sockmail-smtpd(8)): only a "." line ended like the DATA line, after a
# line ended the same way, ends the message. Each case sends line1, the
# edge, "after" and then a proper end, so the stored content shows whether
# the edge ended the data.


def end_of_data_case(label: str, end: bytes, data: bytes, content) -> Case:
    session = lines(*ENVELOPE, "DATA", end=end) + data
    session_kind = "CRLF" if end == CRLF else "LF"
    name = f"smtp: end of data, {session_kind} session: {label}"
    if content is None:
        return smtp(name, session, expect_replies(*ENVELOPE_REPLIES, S_DATA))
    if content == "bare CR":
        return smtp(name, session, expect_replies(*ENVELOPE_REPLIES, S_DATA, S_BARE_CR, S_BYE))
    return smtp(name, session, expect_replies(*ENVELOPE_REPLIES, S_DATA, S_ACCEPTED, S_BYE),
                expect_body("bob", *content), deliveries={"bob": 1})


def end_of_data_cases() -> list[Case]:
    crlf_cases = [
        ("proper CRLF.CRLF", b"line1\r\n.\r\nQUIT\r\n", ["line1"]),
        ("\\n.\\n is content", b"line1\n.\nafter\r\n.\r\nQUIT\r\n", ["line1", ".", "after"]),
        ("\\r\\n.\\n is content", b"line1\r\n.\nafter\r\n.\r\nQUIT\r\n", ["line1", ".", "after"]),
        ("\\n.\\r\\n is content", b"line1\n.\r\nafter\r\n.\r\nQUIT\r\n", ["line1", ".", "after"]),
        (".\\r\\r\\n is content: a bare CR", b"line1\r\n.\r\r\nafter\r\n.\r\nQUIT\r\n", "bare CR"),
        (".. un-stuffing", b"line1\r\n..\r\n..x\r\n...\r\n.\r\nQUIT\r\n", ["line1", ".", ".x", ".."]),
        ("'. ' is content", b"line1\r\n. \r\n.\r\nQUIT\r\n", ["line1", " "]),
        ("'.' as the first line: empty message", b".\r\nQUIT\r\n", []),
        ("'.' at EOF without newline", b"line1\r\n.", None),
        ("'.\\r' at EOF", b"line1\r\n.\r", None),
        ("EOF inside DATA", b"line1\r\n", None),
    ]
    lf_cases = [
        ("proper LF.LF", b"line1\n.\nQUIT\n", ["line1"]),
        ("\\r\\n.\\n is content", b"line1\r\n.\nafter\n.\nQUIT\n", ["line1", ".", "after"]),
        ("\\n.\\r\\n is content", b"line1\n.\r\nafter\n.\nQUIT\n", ["line1", ".", "after"]),
        (".\\r\\r\\n is content: a bare CR", b"line1\n.\r\r\nafter\n.\nQUIT\n", "bare CR"),
        (".. un-stuffing", b"line1\n..\n..x\n.\nQUIT\n", ["line1", ".", ".x"]),
        ("'.' at EOF without newline", b"line1\n.", None),
        ("EOF inside DATA", b"line1\n", None),
    ]
    return ([end_of_data_case(label, CRLF, data, content) for label, data, content in crlf_cases] +
            [end_of_data_case(label, LF, data, content) for label, data, content in lf_cases])


def rcpt_flood_replies(count: int) -> list[str]:
    """The replies to count RCPTs cycling over 200 users: the first 100
    users get 250, the others 452; a user already accepted gets 250 again,
    as a command without progress, until the 101st such gets 421."""
    want, repeats = [], 0
    for n in range(count):
        if n % 200 >= 100:
            want.append(S_TOO_MANY)
        elif n < 200:
            want.append(f"250 user{n % 200:03d}... Recipient ok")
        elif repeats < 100:
            repeats += 1
            want.append(f"250 user{n % 200:03d}... Recipient ok")
        else:
            want.append(S_CLOSING)
            break
    return want


def rcpt_flood_check(result: Result) -> list[str]:
    want = rcpt_flood_replies(10_000)
    got = result.replies[3:]
    bad = [n for n, (left, right) in enumerate(zip(want, got)) if left != right]
    if len(got) != len(want) or bad:
        first = bad[0] if bad else min(len(got), len(want))
        return [f"RCPT reply {first} differs: {got[first:first + 1]!r} vs {want[first:first + 1]!r}",
                f"{len(got)} replies after MAIL, want {len(want)}"]
    return []


def smtp_flood_cases() -> list[Case]:
    rcpts = [f"RCPT TO:<user{n % 200:03d}@test.example>" for n in range(10_000)]
    transactions = [line for n in range(100) for line in
                    (ENVELOPE[1], ENVELOPE[2], "DATA", f"message {n}", ".")]
    # Every kind of 5xx counts towards the 20 (sockmail-smtpd(8) LIMITS),
    # 4xx and 2xx not.
    mixed = [("MAIL FROM:<a@b>", S_SEQUENCE), ("HELO", S_SYNTAX), ("X" * 600, S_TOO_LONG),
             (b"NO\0OP", S_NUL_COMMAND), ("", S_UNKNOWN), ("VRFY", S_SYNTAX),
             ("DATA", S_SEQUENCE), (ENVELOPE[0], S_HELO), (ENVELOPE[1], S_SENDER),
             ("RCPT TO:<nobody@test.example>", S_NO_USER), ("DATA", "554 No valid recipients"),
             ("RCPT TO:<@x>", S_SYNTAX),
             ("RCPT TO:<bob@x> X=1", "555 MAIL FROM/RCPT TO parameters not recognized or not implemented"),
             ("MAIL FROM:<a@b>", S_SEQUENCE), (ENVELOPE[2], S_BOB), ("DATA", S_DATA),
             (b"\0", None), (".", S_NUL_DATA), *[("BOGUS", S_UNKNOWN)] * 7, ("QUIT", None)]
    return [
        smtp("smtp: 10,000 RCPTs: 250 for 100 users, then 452; the 101st repeat gets 421", lines(
             *ENVELOPE[:2], *rcpts, "DATA", "flood", ".", "QUIT"),
             rcpt_flood_check, setup=many_users(200)),
        smtp("smtp: 300 RCPTs over 200 users: 100 get a copy, 100 repeats are no junk limit yet",
             lines(*ENVELOPE[:2], *rcpts[:300], "DATA", "flood", ".", "QUIT"),
             expect_last(S_DATA, S_ACCEPTED, S_BYE),
             setup=many_users(200), deliveries={f"user{n:03d}": 1 for n in range(100)}),
        smtp("smtp: 100 repeated RCPTs of one user, one copy",
             lines(*ENVELOPE, *[ENVELOPE[2]] * 100, "DATA", "x", ".", "QUIT"),
             expect_count(S_BOB, 101), expect_last(S_DATA, S_ACCEPTED, S_BYE),
             deliveries={"bob": 1}),
        smtp("smtp: 10,000 RCPTs of one user: the 101st repeat gets 421, nothing stored",
             lines(*ENVELOPE, *[ENVELOPE[2]] * 10_000, "DATA", "x", ".", "QUIT"),
             expect_replies(*ENVELOPE_REPLIES, *[S_BOB] * 100, S_CLOSING)),
        smtp("smtp: 100 pipelined NOOPs are fine", lines(*["NOOP"] * 100, "QUIT"),
             expect_replies(S_GREETING, *[S_OK] * 100, S_BYE)),
        smtp("smtp: 1,000 pipelined NOOPs: the 101st gets 421", lines(*["NOOP"] * 1000, "QUIT"),
             expect_replies(S_GREETING, *[S_OK] * 100, S_CLOSING)),
        smtp("smtp: 1,000 pipelined MAIL/RSET pairs: the 101st RSET gets 421",
             lines(ENVELOPE[0], *[ENVELOPE[1], "RSET"] * 1000, "QUIT"),
             expect_replies(S_GREETING, S_HELO, *[S_SENDER, S_OK] * 100, S_SENDER, S_CLOSING)),
        smtp("smtp: 100 pipelined transactions", lines(ENVELOPE[0], *transactions, "QUIT"),
             expect_count(S_ACCEPTED, 100), expect_body("bob", "message 99", index=99),
             deliveries={"bob": 100}),
        smtp("smtp: 19 bad commands, session goes on", lines(*["BOGUS"] * 19, "NOOP", "QUIT"),
             expect_replies(S_GREETING, *[S_UNKNOWN] * 19, S_OK, S_BYE)),
        smtp("smtp: 20th bad command gets 421", lines(*["BOGUS"] * 20, "QUIT"),
             expect_replies(S_GREETING, *[S_UNKNOWN] * 20, S_CLOSING)),
        smtp("smtp: 1,000 bad commands in one write", lines(*["BOGUS"] * 1000),
             expect_replies(S_GREETING, *[S_UNKNOWN] * 20, S_CLOSING)),
        smtp("smtp: 1,000 empty lines", lines(*[""] * 1000),
             expect_replies(S_GREETING, *[S_UNKNOWN] * 20, S_CLOSING)),
        smtp("smtp: 20 mixed 5xx replies (500/501/503/550/554/555) get 421",
             lines(*[command for command, _ in mixed]),
             expect_replies(S_GREETING, *[reply for _, reply in mixed if reply], S_CLOSING)),
    ]


def pop3_flood_cases() -> list[Case]:
    thousand = [mailbox_record("a@b", "labxyz@test.example", f"n{n}", [f"body {n}"])
                for n in range(1000)]
    thousand_box = b"".join(thousand)
    return [
        pop3("pop3: 1,000 CAPA before login: the 101st gets -ERR and the end",
             lines(*["CAPA"] * 1000, "QUIT"), expect_replies(P_GREETING, *P_CAPA * 100, P_JUNK)),
        pop3("pop3: 99 bad commands before login, then USER and login",
             lines(*["BOGUS"] * 99, *LOGIN, "QUIT"),
             expect_replies(P_GREETING, *[P_UNKNOWN] * 99, P_SEND_PASS, P_LABXYZ_LOGIN, P_BYE)),
        pop3("pop3: 1,000 bad commands before login: the 101st gets -ERR and the end",
             lines(*["BOGUS"] * 1000, *LOGIN, "QUIT"),
             expect_replies(P_GREETING, *[P_UNKNOWN] * 100, P_JUNK)),
        pop3("pop3: 1,000 STAT before login: the 101st gets -ERR and the end",
             lines(*["STAT"] * 1000, "QUIT"),
             expect_replies(P_GREETING, *[P_WRONG_STATE] * 100, P_JUNK)),
        pop3("pop3: 1,000 NOOPs after login: the 101st gets -ERR, no UPDATE",
             lines(*LOGIN, "DELE 1", *["NOOP"] * 1000, "QUIT"),
             expect_replies(*LOGIN_REPLIES, "+OK message 1 deleted", *["+OK"] * 100, P_JUNK)),
        pop3("pop3: 1,000 LISTs after login: the 101st gets -ERR",
             lines(*LOGIN, *["LIST"] * 1000, "QUIT"),
             expect_count(".", 100), expect_last(".", P_JUNK)),
        pop3("pop3: 1,000 UIDLs after login: the 101st gets -ERR",
             lines(*LOGIN, *["UIDL"] * 1000, "QUIT"),
             expect_count("+OK unique-id listing follows", 100), expect_last(".", P_JUNK)),
        pop3("pop3: 1,000 RETRs after login", lines(*LOGIN, *["RETR 3"] * 1000, "QUIT"),
             expect_count(f"+OK {pop3_size(LABXYZ_MESSAGES[2])} octets", 1000), expect_last(P_BYE)),
        pop3("pop3: 1,000 TOPs after login", lines(*LOGIN, *["TOP 1 1"] * 1000, "QUIT"),
             expect_count("+OK top of message follows", 1000), expect_last(P_BYE)),
        pop3("pop3: 1,000 USER/PASS failures end after the third",
             lines(*["USER labxyz", "PASS wrong"] * 1000),
             expect_replies(P_GREETING, *[P_SEND_PASS, P_BAD_LOGIN] * 3)),
        pop3("pop3: 1,000 DELE 1 without QUIT deletes nothing; the 101st failure ends it",
             lines(*LOGIN, *["DELE 1"] * 1000),
             expect_count("+OK message 1 deleted", 1), expect_count("-ERR message 1 already deleted", 101),
             expect_last("-ERR message 1 already deleted", P_JUNK)),
        pop3("pop3: DELE all 1,000 messages and QUIT",
             lines(*LOGIN, *[f"DELE {n}" for n in range(1, 1001)], "QUIT"),
             expect_in_order(maildrop_line(thousand), "+OK message 1000 deleted", P_BYE),
             setup=mailbox_of(thousand_box), final_mailboxes={"labxyz": b""}),
        pop3("pop3: DELE the odd ones of 1,000 messages and QUIT",
             lines(*LOGIN, *[f"DELE {n}" for n in range(1, 1001, 2)], "LIST", "QUIT"),
             expect_last(P_BYE), setup=mailbox_of(thousand_box),
             final_mailboxes={"labxyz": b"".join(thousand[1::2])}),
    ]


def huge_message_cases() -> list[Case]:
    two_mib = ["y" * 1000] * 2100
    small_after = transaction_to_bob("small")
    limit = ("-s", "65536")
    return [
        smtp("smtp: 2 MiB message over -s 65536 gets 552, the next one goes through",
             lines(*ENVELOPE, "DATA", *two_mib, ".") + small_after,
             expect_replies(*ENVELOPE_REPLIES, S_DATA, S_TOO_BIG, S_SENDER, S_BOB, S_DATA,
                            S_ACCEPTED, S_BYE),
             expect_body("bob", "small"), options=limit, deliveries={"bob": 1}),
        smtp("smtp: 2 MiB message over -s, LF session",
             lines(*ENVELOPE, "DATA", *two_mib, ".", "QUIT", end=LF),
             expect_replies(*ENVELOPE_REPLIES, S_DATA, S_TOO_BIG, S_BYE), options=limit),
        smtp("smtp: message of exactly -s octets is accepted",
             to_bob("z" * 65534), expect_replies(*ENVELOPE_REPLIES, S_DATA, S_ACCEPTED, S_BYE),
             options=limit, deliveries={"bob": 1}),
        smtp("smtp: message of -s + 1 octets gets 552",
             to_bob("z" * 65535), expect_replies(*ENVELOPE_REPLIES, S_DATA, S_TOO_BIG, S_BYE),
             options=limit),
        smtp("smtp: LF message under -s in LF but over it counting CRLF",
             to_bob(*["z"] * 32768, end=LF),
             expect_replies(*ENVELOPE_REPLIES, S_DATA, S_TOO_BIG, S_BYE), options=limit),
        smtp("smtp: SIZE= over -s, and an overflowing SIZE=",
             lines(ENVELOPE[0], "MAIL FROM:<a@b> SIZE=2097152",
                   "MAIL FROM:<a@b> SIZE=99999999999999999999999999", "QUIT"),
             expect_replies(S_GREETING, S_HELO, S_TOO_BIG, S_TOO_BIG, S_BYE), options=limit),
    ]

# Quotas (-q, sockmail-smtpd(8) QUOTAS). The sessions use EHLO, whose replies keep their
# enhanced codes: the quota replies are checked whole, the others by their
# basic codes (expect_codes).


def expect_codes(*codes: str) -> Check:
    """The replies' basic codes, a multi-line reply counted once, are
    exactly these."""
    def check(result: Result) -> list[str]:
        got = [reply[:3] for reply in result.replies if reply[3:4] != "-"]
        return [] if got == list(codes) else [f"reply codes {got!r}, want {list(codes)!r}"]
    return check


EHLO_ENVELOPE = ("EHLO client.example", *ENVELOPE[1:])


def x_record_length(*logins: str) -> int:
    """The length of the record of a message of one line "x" to logins
    (sockmail-mailbox(5)): its To: is the envelope's."""
    to = ", ".join(f"{login}@test.example" for login in logins)
    return len(mailbox_record("sender@example.org", to, "", ["x"]))


X_RECORD_LENGTH = x_record_length("bob")
BIG_FILE = mailbox_record("a@b", "bob@test.example", "big", ["y" * 4900])


def quota(size: int) -> tuple[str, str]:
    return ("-q", str(size))


def ehlo_to(*logins: str) -> bytes:
    """EHLO, MAIL, RCPT to each login, DATA "x", QUIT."""
    return lines(*EHLO_ENVELOPE[:2], *[f"RCPT TO:<{login}@test.example>" for login in logins],
                 "DATA", "x", ".", "QUIT")


def outside_mailbox_symlink(root: Path) -> None:
    """bob's mailbox is a link to a big mailbox-like file outside."""
    (outside(root) / "big.txt").write_bytes(BIG_FILE)
    (root / "USERS" / "bob").mkdir(mode=0o700)
    (root / "USERS" / "bob" / "my_mailbox.txt").symlink_to(outside(root) / "big.txt")


def outside_folder_symlink(root: Path) -> None:
    """bob's folder is a link to a folder outside with a big mailbox."""
    (outside(root) / "USERS").mkdir()
    put_mailbox(outside(root), "bob", BIG_FILE)
    (root / "USERS" / "bob").symlink_to(outside(root) / "USERS" / "bob")


def big_hard_link(root: Path) -> None:
    mailbox = put_mailbox(root, "bob", BIG_FILE)
    os.link(mailbox, outside(root) / "bob-mailbox-link.txt")


def no_lf_bob_and_alice(root: Path) -> None:
    """bob's mailbox is labxyz's without its last LF; alice has mail."""
    put_mailbox(root, "bob", LABXYZ_MAILBOX[:-1])
    put_mailbox(root, "alice", IBRAHIM_MAILBOX)


def quota_cases() -> list[Case]:
    ibrahim = len(IBRAHIM_MAILBOX)
    opened = ("220", "250", "250")     # greeting, EHLO, MAIL
    no_lf = LABXYZ_MAILBOX[:-1]         # the last "." without its LF
    bigger = LABXYZ_MAILBOX + IBRAHIM_MAILBOX
    three = ("IbrahimEK", "bob", "alice")
    junk = b"From x Thu Nov 27 21:04:00 2026\nmbox text, no dot line\n"
    # A symlink, a hard link or a FIFO is never followed to take its size:
    # RCPT does not find bob full (the link leads to a file past the
    # quota), and the append refuses the mailbox as always.
    trap_cases = [
        smtp(f"smtp -q: {label}: RCPT does not look through it, DATA 451", ehlo_to("bob"),
             expect_codes(*opened, "250", "354", "451", "221"),
             expect_in_order(esc(S_LOCAL_ERROR, "4.3.0")), options=quota(len(BIG_FILE)), setup=setup,
             timeout=20)
        for label, setup in (("mailbox a symlink to a big file outside", outside_mailbox_symlink),
                             ("folder a symlink to a big mailbox outside", outside_folder_symlink),
                             ("big mailbox hard-linked", big_hard_link),
                             ("mailbox a FIFO", mailbox_fifo))]
    return trap_cases + [
        smtp("smtp -q: a message leaving the mailbox exactly at the quota is accepted",
             ehlo_to("bob"), expect_codes(*opened, "250", "354", "250", "221"),
             expect_body("bob", "x"), options=quota(ibrahim + X_RECORD_LENGTH),
             setup=mailbox_of(IBRAHIM_MAILBOX, "bob"), deliveries={"bob": 1}),
        smtp("smtp -q: one byte over the quota: 552 5.2.2, nothing stored, the session goes on",
             lines(*EHLO_ENVELOPE, "DATA", "x", ".", "NOOP", "QUIT"),
             expect_codes(*opened, "250", "354", "552", "250", "221"),
             expect_in_order(S_QUOTA_OVER), options=quota(ibrahim + X_RECORD_LENGTH - 1),
             setup=mailbox_of(IBRAHIM_MAILBOX, "bob")),
        smtp("smtp -q: a mailbox at the quota: 452 4.2.2 at RCPT, DATA finds no recipient",
             ehlo_to("bob"), expect_codes(*opened, "452", "554", "500", "500", "221"),
             expect_in_order(S_QUOTA_FULL), options=quota(ibrahim),
             setup=mailbox_of(IBRAHIM_MAILBOX, "bob")),
        smtp("smtp -q: 1,000 RCPTs to a full mailbox: 452 each, no error count, no hang-up",
             lines(*EHLO_ENVELOPE[:2], *[EHLO_ENVELOPE[2]] * 1000, "RSET", "QUIT"),
             expect_count(S_QUOTA_FULL, 1000), expect_codes(*opened, *["452"] * 1000, "250", "221"),
             options=quota(1), setup=mailbox_of(IBRAHIM_MAILBOX, "bob")),
        smtp("smtp -q: several recipients, one over: 552, no copy in any mailbox",
             ehlo_to("labxyz", "IbrahimEK", "bob", "otherlab"),
             expect_codes(*opened, "250", "250", "250", "250", "354", "552", "221"),
             expect_in_order(S_QUOTA_OVER),
             options=quota(len(bigger) - 1 + x_record_length("labxyz", "IbrahimEK", "bob", "otherlab")),
             setup=mailbox_of(bigger, "bob")),
        smtp("smtp -q: over only under bob's lock (no final LF): IbrahimEK's and alice's copies taken back",
             ehlo_to(*three), expect_codes(*opened, "250", "250", "250", "354", "552", "221"),
             expect_in_order(S_QUOTA_OVER), options=quota(len(no_lf) + x_record_length(*three)),
             setup=no_lf_bob_and_alice, final_mailboxes={"bob": LABXYZ_MAILBOX}),
        smtp("smtp -q: several recipients, all within the quota: a copy each",
             ehlo_to(*three), expect_codes(*opened, "250", "250", "250", "354", "250", "221"),
             options=quota(ibrahim + x_record_length(*three)),
             setup=mailbox_of(IBRAHIM_MAILBOX, "bob"),
             deliveries={"IbrahimEK": 1, "bob": 1, "alice": 1}),
        smtp("smtp -q: a foreign tail past the quota is moved aside, then the message fits",
             ehlo_to("bob"), expect_codes(*opened, "250", "354", "250", "221"),
             options=quota(ibrahim + X_RECORD_LENGTH),
             setup=mailbox_of(IBRAHIM_MAILBOX + junk, "bob"), deliveries={"bob": 1},
             side_files={"bob": junk}),
        smtp("smtp -q: a message longer than the quota: 552, no folder made",
             ehlo_to("bob"), expect_codes(*opened, "250", "354", "552", "221"),
             expect_in_order(S_QUOTA_OVER), options=quota(X_RECORD_LENGTH - 1)),
        smtp("smtp -q 0: no quota", ehlo_to("bob"),
             expect_codes(*opened, "250", "354", "250", "221"), options=quota(0),
             setup=mailbox_of(BIG_FILE, "bob"), deliveries={"bob": 1}),
    ]

# Path tricks: nothing may be created outside the mail root or under a
# wrong name; the snapshot check sees any stray folder.


RCPT_TRICKS = [
    ("../bob", S_NO_USER), ("..", S_NO_USER), ("/bob", S_NO_USER), ("USERS/bob", S_NO_USER),
    ("bob%2f..", S_NO_USER), ("%2e%2e%2fbob", S_NO_USER), (".hidden", S_NO_USER),
    ("-dash", S_NO_USER), ("USERS", S_NO_USER), ("userinfo.txt", S_NO_USER),
    ('"bob"', S_NO_USER), ("bo\\b", S_NO_USER), ("b\xc3\xb8b", S_NOT_ASCII),
    ("b\xffb", S_NOT_ASCII), ("a" * 65, S_NO_USER), ("bob@", S_NO_USER),
    ("b ob", S_SYNTAX), ("", S_SYNTAX), ("a" * 300, S_SYNTAX), ("a" * 10_000, S_TOO_LONG),
]


def rcpt_trick_case(local: str, reply: str) -> Case:
    """RCPT with a hostile local part, then bob: only bob gets the mail."""
    address = f"RCPT TO:<{local}@test.example>" if local else "RCPT TO:<>"
    return smtp(f"smtp: RCPT TO local part {label(local)}",
                lines(*ENVELOPE[:2], address, ENVELOPE[2], "DATA", "x", ".", "QUIT"),
                expect_replies(S_GREETING, S_HELO, S_SENDER, reply, S_BOB, S_DATA, S_ACCEPTED, S_BYE),
                deliveries={"bob": 1})


def address_trick_cases() -> list[Case]:
    cases = [rcpt_trick_case(local, reply) for local, reply in RCPT_TRICKS]
    cases += [
        smtp("smtp: RCPT with a path trick in the domain goes to bob",
             lines(*ENVELOPE[:2], "RCPT TO:<bob@test.example/../../x>", "DATA", "x", ".", "QUIT"),
             expect_in_order(S_BOB, S_ACCEPTED), expect_body("bob", "x", to="bob@test.example/../../x"),
             deliveries={"bob": 1}),
        smtp("smtp: MAIL FROM path tricks are only text in From:",
             lines(ENVELOPE[0], "MAIL FROM:<../../outside/target.txt>", ENVELOPE[2], "DATA", "x", ".",
                   "MAIL FROM:<>", ENVELOPE[2], "DATA", "y", ".", "QUIT"),
             expect_in_order("250 <../../outside/target.txt>... Sender ok", S_ACCEPTED,
                             "250 <>... Sender ok", S_ACCEPTED),
             expect_body("bob", "x", sender="../../outside/target.txt"),
             expect_body("bob", "y", sender="<>", index=1), deliveries={"bob": 2}),
        smtp("smtp: MAIL FROM with raw 0xff and UTF-8, without and with SMTPUTF8",
             lines(ENVELOPE[0], "MAIL FROM:<\xff\xfe@b\xc3\xa4d>", "MAIL FROM:<\xff\xfe@b\xc3\xa4d> SMTPUTF8",
                   "MAIL FROM:<a@b\xc3\xa4d> SMTPUTF8", ENVELOPE[2], "DATA", "x", ".", "QUIT"),
             expect_replies(S_GREETING, S_HELO, S_NOT_ASCII, S_NOT_UTF8, "250 <a@b\xc3\xa4d>... Sender ok",
                            S_BOB, S_DATA, S_ACCEPTED, S_BYE),
             expect_body("bob", "x", sender="a@b\xc3\xa4d"), deliveries={"bob": 1}),
        smtp("smtp: MAIL FROM overlong (300 and 10,000 chars)",
             lines(ENVELOPE[0], "MAIL FROM:<" + "a" * 300 + ">", "MAIL FROM:<" + "a" * 10_000 + ">", "QUIT"),
             expect_replies(S_GREETING, S_HELO, S_SYNTAX, S_TOO_LONG, S_BYE)),
        smtp("smtp: MAIL FROM with spaces, quotes and backslashes",
             lines(ENVELOPE[0], "MAIL FROM:<a b@c>", 'MAIL FROM:<"a\\"b"@c>', "QUIT"),
             expect_replies(S_GREETING, S_HELO, S_SYNTAX, '250 <"a\\"b"@c>... Sender ok', S_BYE)),
    ]
    return cases


USER_TRICKS = ["../labxyz", "/etc/passwd", "..", ".", "labxyz/../labxyz", "%2e%2e%2flabxyz",
               ".hidden", "-dash", "USERS", "userinfo.txt", "", " labxyz", "lab xyz",
               '"labxyz"', "lab\\xyz", "l\xc3\xa4bxyz", "lab\xffxyz", "a" * 65]


def user_trick_case(login: str) -> Case:
    """A hostile USER name with the right password fails; then labxyz logs in."""
    return pop3(f"pop3: USER {label(login)}",
                lines(f"USER {login}", "PASS labpass", *LOGIN, "QUIT"),
                expect_replies(P_GREETING, P_SEND_PASS, P_BAD_LOGIN, P_SEND_PASS, P_LABXYZ_LOGIN, P_BYE))


def login_trick_cases() -> list[Case]:
    digest = "0123456789abcdef0123456789abcdef"
    cases = [user_trick_case(login) for login in USER_TRICKS]
    cases += [
        pop3("pop3: USER of 10,000 chars is too long, PASS then wants USER",
             lines("USER " + "a" * 10_000, "PASS labpass", *LOGIN, "QUIT"),
             expect_replies(P_GREETING, P_TOO_LONG, P_USER_FIRST, P_SEND_PASS, P_LABXYZ_LOGIN, P_BYE)),
        pop3("pop3: USER in another case logs in to the folder spelled as in userinfo",
             lines("USER OTHERLAB", "PASS otherpass", "QUIT"),
             expect_replies(P_GREETING, P_SEND_PASS, P_EMPTY_LOGIN, P_BYE), may_login=("otherlab",)),
        pop3("pop3: APOP path tricks with -a",
             lines(f"APOP ../labxyz {digest}", f"APOP {'a' * 65} {digest}", *LOGIN, "QUIT"),
             expect_in_order(P_BAD_LOGIN, P_BAD_LOGIN, P_SEND_PASS, P_LABXYZ_LOGIN, P_BYE),
             options=("-a",)),
        pop3("pop3: APOP without digest, with spaces, with NUL, with -a",
             lines("APOP labxyz", "APOP lab xyz", b"APOP lab\0xyz " + digest.encode(), "QUIT"),
             expect_in_order("-ERR usage: APOP name digest", P_BAD_LOGIN, P_NUL, P_BYE),
             options=("-a",)),
        pop3("pop3: APOP without -a is unknown",
             lines(f"APOP ../labxyz {digest}", "QUIT"), expect_replies(P_GREETING, P_UNKNOWN, P_BYE)),
    ]
    return cases

# Broken mailboxes and folders: refused, never followed or written through.


MAILBOX_TRAPS = [
    ("mailbox is a symlink outside the mail root", mailbox_symlink_outside),
    ("mailbox is a dangling symlink", mailbox_dangling_symlink),
    ("user folder is a symlink outside the mail root", folder_symlink_outside),
    ("USERS/ is a symlink outside the mail root", users_symlink_outside),
    ("mailbox is a directory", mailbox_directory),
    ("mailbox is hard-linked", mailbox_hard_link),
    ("mailbox is a FIFO", mailbox_fifo),
    ("user folder is a FIFO", folder_fifo),
]


# Broken mailbox indexes (a cache, mdindex.h): never followed or written
# through, and never believed: the login sees the mailbox as it is.


def index_symlink_outside(root: Path) -> None:
    (root / "USERS" / "labxyz" / "my_mailbox.idx").symlink_to(outside(root) / "target.txt")


def index_hard_link(root: Path) -> None:
    os.link(outside(root) / "target.txt", root / "USERS" / "labxyz" / "my_mailbox.idx")


def index_directory(root: Path) -> None:
    (root / "USERS" / "labxyz" / "my_mailbox.idx").mkdir(mode=0o700)


def index_fifo(root: Path) -> None:
    os.mkfifo(root / "USERS" / "labxyz" / "my_mailbox.idx", 0o600)


def index_garbage(root: Path) -> None:
    (root / "USERS" / "labxyz" / "my_mailbox.idx").write_bytes(random.Random(7).randbytes(4096))


def log_in(root: Path, *login: str) -> None:
    """A real login and QUIT, which writes the login's index."""
    subprocess.run([str(POP3D), "-d", str(root), "-f", "0"], input=lines(*login, "QUIT"),
                   capture_output=True, check=True, timeout=HANDLER_TIMEOUT,
                   env=dict(os.environ, SOCKMAIL_LOG="stderr"))


def index_of_another_mailbox(root: Path) -> None:
    """IbrahimEK's valid index in labxyz's folder."""
    log_in(root, "USER IbrahimEK", "PASS ibrahim123")
    shutil.copy(root / "USERS" / "IbrahimEK" / "my_mailbox.idx",
                root / "USERS" / "labxyz" / "my_mailbox.idx")


def index_of_the_mailbox_before(root: Path) -> None:
    """labxyz's index, then the mailbox rewritten under it, same length."""
    log_in(root, *LOGIN)
    mailbox = root / "USERS" / "labxyz" / "my_mailbox.txt"
    data = mailbox.read_bytes()
    with open(mailbox, "r+b") as f:     # same inode and length, new bytes
        f.write(data.replace(b"First", b"Fir.t"))


INDEX_TRAPS = [
    ("index is a symlink outside the mail root", index_symlink_outside),
    ("index is hard-linked outside the mail root", index_hard_link),
    ("index is a directory", index_directory),
    ("index is a FIFO", index_fifo),
    ("index is garbage", index_garbage),
    ("index is another mailbox's", index_of_another_mailbox),
    ("index is of the mailbox before an in-place edit", index_of_the_mailbox_before),
]


def index_trap_cases() -> list[Case]:
    session = lines(*LOGIN, "LIST", "UIDL", "RETR 3", "DELE 1", "QUIT")
    return [pop3(f"pop3: {label}: the mailbox as it is", session,
                 expect_in_order(P_LABXYZ_LOGIN, f"+OK {len(LABXYZ_MESSAGES)} messages "
                                 f"({LABXYZ_OCTETS} octets)", P_BYE),
                 setup=setup, final_mailboxes={"labxyz": b"".join(LABXYZ_MESSAGES[1:])},
                 unlinked_outside=setup is index_hard_link)
            for label, setup in INDEX_TRAPS]


def mailbox_trap_cases() -> list[Case]:
    cases = []
    for label, setup in MAILBOX_TRAPS:
        cases += [
            smtp(f"smtp: {label}: 451", to_bob("x"),
                 expect_replies(*ENVELOPE_REPLIES, S_DATA, S_LOCAL_ERROR, S_BYE), setup=setup),
            pop3(f"pop3: {label}: no login", lines("USER bob", "PASS bobpass", "QUIT"),
                 expect_replies(P_GREETING, P_SEND_PASS, P_NO_MAILDROP, P_BYE), setup=setup),
        ]
    cases.append(smtp(
        "smtp: all or nothing: IbrahimEK's copy is taken back when bob's mailbox is a symlink",
        lines(*ENVELOPE[:2], "RCPT TO:<IbrahimEK@test.example>", ENVELOPE[2], "DATA", "x", ".", "QUIT"),
        expect_last(S_DATA, S_LOCAL_ERROR, S_BYE), setup=mailbox_symlink_outside))
    return cases


def userinfo_cases() -> list[Case]:
    smtp_rcpt = lines(*ENVELOPE, "QUIT")
    pop3_login = lines("USER bob", "PASS bobpass", "QUIT")
    rcpt_fails = (S_GREETING, S_HELO, S_SENDER, S_LOCAL_ERROR, S_BYE)
    login_fails = (P_GREETING, P_SEND_PASS, P_LOCAL_ERROR, P_BYE)
    bob_logs_in = (P_GREETING, P_SEND_PASS, P_EMPTY_LOGIN, P_BYE)
    cases = []
    for label, setup, unprivileged in (("missing", userinfo_missing, False),
                                       ("unreadable", userinfo_unreadable, True),
                                       ("a directory", userinfo_directory, False)):
        cases += [
            smtp(f"smtp: userinfo.txt {label}: RCPT 451", smtp_rcpt, expect_replies(*rcpt_fails),
                 setup=setup, unprivileged=unprivileged),
            pop3(f"pop3: userinfo.txt {label}: local error", pop3_login, expect_replies(*login_fails),
                 setup=setup, unprivileged=unprivileged),
        ]
    cases += [
        smtp("smtp: userinfo.txt empty: 550", smtp_rcpt,
             expect_replies(S_GREETING, S_HELO, S_SENDER, S_NO_USER, S_BYE), setup=userinfo_empty),
        pop3("pop3: userinfo.txt empty: bad login", pop3_login,
             expect_replies(P_GREETING, P_SEND_PASS, P_BAD_LOGIN, P_BYE), setup=userinfo_empty),
        smtp("smtp: userinfo.txt of 100,000 lines", lines(
             *ENVELOPE[:2], "RCPT TO:<user50000@x>", ENVELOPE[2], "DATA", "x", ".", "QUIT"),
             expect_in_order("250 user50000... Recipient ok", S_BOB, S_ACCEPTED),
             setup=userinfo_100000_lines, deliveries={"bob": 1, "user50000": 1}),
        pop3("pop3: userinfo.txt of 100,000 lines", lines(*LOGIN, "QUIT"),
             expect_replies(*LOGIN_REPLIES, P_BYE), setup=userinfo_100000_lines),
        smtp("smtp: userinfo.txt with garbage, NUL and overlong lines", to_bob("x"),
             expect_in_order(S_BOB, S_ACCEPTED), setup=userinfo_garbage, deliveries={"bob": 1}),
        pop3("pop3: userinfo.txt with garbage, NUL and overlong lines", pop3_login,
             expect_replies(*bob_logs_in), setup=userinfo_garbage, may_login=("bob",)),
        smtp("smtp: userinfo.txt is a FIFO: RCPT 451, no hang", smtp_rcpt,
             expect_replies(*rcpt_fails), setup=userinfo_fifo, options=("-t", "1"), timeout=10),
        pop3("pop3: userinfo.txt is a FIFO: local error, no hang", pop3_login,
             expect_replies(*login_fails), setup=userinfo_fifo, options=("-t", "1"), timeout=10),
        pop3("pop3: userinfo.txt with CRLF line endings", pop3_login,
             expect_replies(*bob_logs_in), setup=userinfo_crlf, may_login=("bob",)),
    ]
    return cases


def permission_cases() -> list[Case]:
    """Run without CAP_DAC_OVERRIDE when root: chmod alone does not stop root."""
    only_ibrahim = lines(*ENVELOPE[:2], "RCPT TO:<IbrahimEK@test.example>", "DATA", "x", ".", "QUIT")
    return [
        smtp("smtp: read-only USERS/: new folder for bob fails with 451", to_bob("x"),
             expect_last(S_DATA, S_LOCAL_ERROR, S_BYE), setup=users_read_only, unprivileged=True),
        smtp("smtp: read-only USERS/: IbrahimEK + bob fails, IbrahimEK untouched",
             lines(*ENVELOPE[:2], "RCPT TO:<IbrahimEK@test.example>", ENVELOPE[2], "DATA", "x", ".", "QUIT"),
             expect_last(S_DATA, S_LOCAL_ERROR, S_BYE), setup=users_read_only, unprivileged=True),
        smtp("smtp: read-only USERS/: existing folder still gets mail", only_ibrahim,
             expect_last(S_DATA, S_ACCEPTED, S_BYE), setup=users_read_only, unprivileged=True,
             deliveries={"IbrahimEK": 1}),
        smtp("smtp: spool directory not writable: a small message needs none (spooled in memory)",
             to_bob("small"), expect_replies(*ENVELOPE_REPLIES, S_DATA, S_ACCEPTED, S_BYE),
             setup=spool_read_only, unprivileged=True, deliveries={"bob": 1}),
        smtp("smtp: spool directory not writable: a message past 256 KiB gets 451, the next "
             "small one 250",
             lines(*ENVELOPE, "DATA", *["x" * 99] * 3000, ".", *ENVELOPE[1:], "DATA", "small", ".",
                   "QUIT"),
             expect_replies(*ENVELOPE_REPLIES, S_DATA, S_LOCAL_ERROR, S_SENDER, S_BOB, S_DATA,
                            S_ACCEPTED, S_BYE),
             setup=spool_read_only, unprivileged=True, deliveries={"bob": 1}),
        smtp("smtp: read-only user folder without mailbox: 451", to_bob("x"),
             expect_last(S_DATA, S_LOCAL_ERROR, S_BYE), setup=folder_read_only, unprivileged=True),
        pop3("pop3: read-only USERS/: login without folder fails",
             lines("USER otherlab", "PASS otherpass", "QUIT"),
             expect_replies(P_GREETING, P_SEND_PASS, P_NO_MAILDROP, P_BYE),
             setup=users_read_only, unprivileged=True),
        pop3("pop3: read-only USERS/: existing maildrop works", lines(*LOGIN, "RETR 1", "QUIT"),
             expect_in_order(*LOGIN_REPLIES, P_BYE), setup=users_read_only, unprivileged=True),
    ]


def session_end_cases() -> list[Case]:
    idle = ("-t", "1")
    return [
        smtp("smtp: idle after the greeting with -t 1", b"", expect_replies(S_GREETING, S_CLOSING),
             options=idle, hold_open=True),
        smtp("smtp: idle inside DATA with -t 1", lines(*ENVELOPE, "DATA", "line1"),
             expect_replies(*ENVELOPE_REPLIES, S_DATA, S_CLOSING), options=idle, hold_open=True),
        smtp("smtp: idle in the middle of a command with -t 1", b"NOO",
             expect_replies(S_GREETING, S_CLOSING), options=idle, hold_open=True),
        pop3("pop3: idle before login with -t 1", b"", expect_replies(P_GREETING, P_IDLE),
             options=idle, hold_open=True),
        pop3("pop3: idle after DELE with -t 1 deletes nothing", lines(*LOGIN, "DELE 1"),
             expect_replies(*LOGIN_REPLIES, "+OK message 1 deleted", P_IDLE), options=idle,
             hold_open=True),
        smtp("smtp: client closes in the middle of a command", lines(ENVELOPE[0]) + b"MAIL FR",
             expect_in_order(S_GREETING, S_HELO)),
        pop3("pop3: client closes in the middle of a command after DELE",
             lines(*LOGIN, "DELE 1", "DELE 2") + b"QUI",
             expect_in_order(*LOGIN_REPLIES, "+OK message 2 deleted")),
        smtp("smtp: mail root missing: 421, exit 1", lines(*ENVELOPE),
             expect_replies(S_CLOSING), setup=remove_mailroot, exit_status=1),
        pop3("pop3: mail root missing: -ERR, exit 1", lines(*LOGIN),
             expect_replies(P_NO_ROOT), setup=remove_mailroot, exit_status=1),
    ]


def maildrop_cases() -> list[Case]:
    """POP3 over hostile mailbox contents and hostile message numbers."""
    kept = LABXYZ_MESSAGES[0] + LABXYZ_MESSAGES[2]
    hostile_record = mailbox_record("a", "b", "c", ["x" * MiB, "\0\0", "a\rb", ".\r", ""])
    hostile_tail = b"torn tail without dot"
    hostile_box = (hostile_record + b"no headers at all\n.\n.\n" + b"..\n..\n.\n" +
                   b".\r\n.\n" + hostile_tail)
    # Random bytes with NULs and CRs, but neither a "." line nor the form
    # of a killed delivery's tail (NULs to the end).
    junk_tail = random_bytes(21, 4096).replace(b".", b",") + b"\0\r\n\rend"
    read_all = lines(*LOGIN, "STAT", "LIST", "UIDL", "RETR 1", "RETR 2", "RETR 3", "RETR 4",
                     "TOP 1 0", "TOP 2 5", "TOP 4 1", "QUIT")
    return [
        pop3("pop3: DELE 2 and QUIT leaves messages 1 and 3", lines(*LOGIN, "DELE 2", "QUIT"),
             expect_replies(*LOGIN_REPLIES, "+OK message 2 deleted", P_BYE),
             final_mailboxes={"labxyz": kept}),
        pop3("pop3: DELE, RSET, QUIT leaves the mailbox untouched",
             lines(*LOGIN, "DELE 1", "DELE 3", "RSET", "QUIT"),
             expect_last(P_LABXYZ_LOGIN, P_BYE)),
        pop3("pop3: hostile message numbers", lines(
             *LOGIN, "DELE -1", "DELE 0", "DELE 1 1", "DELE 99999999999999999999999", "DELE 0x1",
             "DELE  1", "RETR", "TOP 1", "TOP 1 -1", "LIST 4", "UIDL ../1", "QUIT"),
             expect_replies(*LOGIN_REPLIES, "-ERR invalid message number", "-ERR no such message, only 3 in maildrop",
                            "-ERR invalid message number", "-ERR no such message, only 3 in maildrop",
                            "-ERR invalid message number", "-ERR invalid message number",
                            "-ERR message number required", "-ERR usage: TOP message lines",
                            "-ERR invalid number of lines", "-ERR no such message, only 3 in maildrop",
                            "-ERR invalid message number", P_BYE)),
        pop3("pop3: reading a mailbox with a 1 MiB line, NULs, CRs and a torn tail", read_all,
             expect_last(P_BYE), setup=mailbox_of(hostile_box),
             final_mailboxes={"labxyz": hostile_box}),
        pop3("pop3: DELE 1 and QUIT on that mailbox: the tail is moved whole to a side file",
             lines(*LOGIN, "DELE 1", "QUIT"), expect_last("+OK message 1 deleted", P_BYE),
             setup=mailbox_of(hostile_box),
             final_mailboxes={"labxyz": hostile_box[len(hostile_record):-len(hostile_tail)]},
             side_files={"labxyz": hostile_tail}),
        pop3("pop3: DELE 1 and QUIT on a mailbox whose tail a killed delivery left: cut off",
             lines(*LOGIN, "DELE 1", "QUIT"), expect_last("+OK message 1 deleted", P_BYE),
             setup=mailbox_of(LABXYZ_MAILBOX + b"From: a@b\nTo: lab" + b"\0" * 300),
             final_mailboxes={"labxyz": LABXYZ_MESSAGES[1] + LABXYZ_MESSAGES[2]}),
        smtp("smtp: a delivery to a mailbox with a binary tail moves the tail whole to a side file",
             to_bob("Subject: after junk", "", "body"),
             expect_body("bob", "", "body", subject="after junk"), deliveries={"bob": 1},
             setup=mailbox_of(IBRAHIM_MAILBOX + junk_tail, "bob"),
             side_files={"bob": junk_tail}),
        pop3("pop3: reading a mailbox of 64 KiB random bytes (seed 12)", read_all,
             expect_last(P_BYE), setup=mailbox_of(random_bytes(12, 65536))),
        pop3("pop3: reading a mailbox of 1,000 '.' lines", lines(*LOGIN, "LIST", "UIDL", "RETR 1000", "QUIT"),
             expect_in_order(maildrop_line([b".\n"] * 1000), "+OK 0 octets", P_BYE),
             setup=mailbox_of(b".\n" * 1000)),
        pop3("pop3: DELE 1 on a mailbox whose last '.' has no LF",
             lines(*LOGIN, "DELE 1", "QUIT"), expect_last("+OK message 1 deleted", P_BYE),
             setup=mailbox_of(LABXYZ_MAILBOX[:-1]),
             final_mailboxes={"labxyz": LABXYZ_MESSAGES[1] + LABXYZ_MESSAGES[2]}),
    ]


# Penalty tables that are not ours (penalty.h): refused, logged once, never
# written, and logins work as without a table.


def penalty_garbage(root: Path) -> None:
    (root / "auth-penalty").write_bytes(random.Random(31).randbytes(PENALTY_SIZE))
    (root / "auth-penalty").chmod(0o600)


def penalty_short_garbage(root: Path) -> None:
    (root / "auth-penalty").write_bytes(b"labxyz labpass\n")


def penalty_wrong_version(root: Path) -> None:
    (root / "auth-penalty").write_bytes(PENALTY_MAGIC + b"\x02" + bytes(PENALTY_SIZE - 9))
    (root / "auth-penalty").chmod(0o600)


def penalty_unwritable(root: Path) -> None:
    (root / "auth-penalty").write_bytes(b"")
    (root / "auth-penalty").chmod(0o400)


def penalty_symlink_outside(root: Path) -> None:
    (root / "auth-penalty").symlink_to(outside(root) / "target.txt")


def penalty_dangling_symlink(root: Path) -> None:
    (root / "auth-penalty").symlink_to(outside(root) / "new-file")


def penalty_hard_link(root: Path) -> None:
    os.link(outside(root) / "target.txt", root / "auth-penalty")


def penalty_fifo(root: Path) -> None:
    os.mkfifo(root / "auth-penalty", 0o600)


def penalty_directory(root: Path) -> None:
    (root / "auth-penalty").mkdir(mode=0o700)


PENALTY_TRAPS = [
    ("garbage of a table's size", penalty_garbage, False),
    ("a short foreign file", penalty_short_garbage, False),
    ("a table of another version", penalty_wrong_version, False),
    ("read-only (0400)", penalty_unwritable, True),
    ("a symlink outside the mail root", penalty_symlink_outside, False),
    ("a dangling symlink", penalty_dangling_symlink, False),
    ("hard-linked outside the mail root", penalty_hard_link, False),
    ("a FIFO", penalty_fifo, False),
    ("a directory", penalty_directory, False),
]


def expect_log_once(pattern: str) -> Check:
    """stderr holds exactly one line matching pattern."""
    regexp = re.compile(pattern.encode())

    def check(result: Result) -> list[str]:
        got = [line for line in result.stderr.splitlines() if regexp.search(line)]
        if len(got) == 1:
            return []
        return [f"{len(got)} log lines match {pattern!r}; stderr: "
                + result.stderr.decode("latin-1")[-1500:]]
    return check


def penalty_trap_cases() -> list[Case]:
    session = lines("USER labxyz", "PASS wrong", "APOP labxyz 0123456789abcdef0123456789abcdef",
                    *LOGIN, "QUIT")
    warned = r"^sockmail-pop3d\[\d+\]: warning penalty: table auth-penalty: "
    cases = [pop3(f"pop3: penalty table is {label}: refused once, logins go on", session,
                  expect_last(P_SEND_PASS, P_BAD_LOGIN, P_BAD_LOGIN, *LOGIN_REPLIES[1:], P_BYE),
                  expect_log_once(warned),
                  expect_log_once(r" auth-failed: login labxyz from local failed \(2 in this "
                                  r"session\); answered after 0 s "),
                  setup=setup, options=("-a",), unprivileged=unprivileged)
             for label, setup, unprivileged in PENALTY_TRAPS]
    cases += [
        pop3("pop3: a garbage -L name: no table, logins go on",
             lines("USER labxyz", "PASS wrong", *LOGIN, "QUIT"),
             expect_replies(P_GREETING, P_SEND_PASS, P_BAD_LOGIN, *LOGIN_REPLIES[1:], P_BYE),
             expect_log_once(r" warning penalty: table \.\./\.\./\.\./\?\?/x: "),
             options=("-L", "../../../\x01\x7f/x")),
        pop3("pop3: three failed logins count in the table; the third ends the session",
             lines(*(["USER labxyz", "PASS wrong"] * 3), *LOGIN),
             expect_replies(P_GREETING, *([P_SEND_PASS, P_BAD_LOGIN] * 3)),
             expect_log_once(r" auth-failed: login labxyz from local failed \(3 in this "
                             r"session\); failures: login 3; answered after 0 s ")),
    ]
    return cases
# ESMTP (sockmail-smtpd(8), ENHANCED STATUS CODES): enhanced status codes
# after EHLO only, SMTPUTF8, bare CR in DATA, and the cap on commands
# without progress.

EHLO = "EHLO client.example"
E_ENVELOPE = (EHLO, "MAIL FROM:<sender@example.org>", "RCPT TO:<bob@test.example>")
E_ENVELOPE_REPLIES = (S_GREETING, *ehlo_lines(), E_SENDER, E_BOB)

# Commands that draw every kind of refusal (with -s 1000), their replies
# after HELO and the enhanced codes they carry after EHLO. The 20th 5xx
# is the last: 421 follows.
ERROR_COMMANDS = [
    ("VRFY", S_SYNTAX, "5.5.4"), ("DATA", S_SEQUENCE, "5.5.1"), ("RCPT TO:<bob@x>", S_SEQUENCE, "5.5.1"),
    ("MAIL", S_SYNTAX, "5.5.4"), ("MAIL FROM:<a b@c>", S_SYNTAX, "5.1.7"),
    ("MAIL FROM:<a@b> SIZE=99999999", S_TOO_BIG, "5.3.4"), ("MAIL FROM:<a@b> X=1", S_PARAMS, "5.5.4"),
    ("MAIL FROM:<a@b> BODY=9BIT", S_SYNTAX, "5.5.4"), ("MAIL FROM:<a@b> SMTPUTF8=yes", S_SYNTAX, "5.5.4"),
    ("MAIL FROM:<\xc3\xa4@b>", S_NOT_ASCII, "5.6.7"), ("MAIL FROM:<\xc3@b> SMTPUTF8", S_NOT_UTF8, "5.6.7"),
    ("MAIL FROM:<sender@example.org>", S_SENDER, "2.1.0"), ("MAIL FROM:<a@b>", S_SEQUENCE, "5.5.1"),
    ("RCPT TO:<nobody@x>", S_NO_USER, "5.1.1"), ("RCPT TO:<bob>", S_SYNTAX, "5.1.3"),
    ("RCPT TO:<bob@x> X=1", S_PARAMS, "5.5.4"), ("RCPT TO:<b\xc3\xb6b@x>", S_NOT_ASCII, "5.6.7"),
    ("DATA", "554 No valid recipients", "5.5.1"), ("STARTTLS", S_UNKNOWN, "5.5.2"),
    ("X" * 600, S_TOO_LONG, "5.5.2"), (b"NO\0OP", S_NUL_COMMAND, "5.5.2"),
]


def error_session_replies(with_ehlo: bool) -> list[str]:
    """The replies to ERROR_COMMANDS after HELO or EHLO, and the 421."""
    first = ehlo_lines(1000) if with_ehlo else [S_HELO]
    replies = [esc(reply, code) if with_ehlo else reply for _, reply, code in ERROR_COMMANDS]
    return [S_GREETING, *first, *replies, E_CLOSING if with_ehlo else S_CLOSING]


def esmtp_cases() -> list[Case]:
    ok_session = ["NOOP", "RSET", "VRFY bob", "HELP", *E_ENVELOPE[1:], "RCPT TO:<BOB@other.example>",
                  "DATA", "hello", ".", "MAIL FROM:<\xc3\xa4@b\xc3\xbc.example> SMTPUTF8 SIZE=10 BODY=8BITMIME",
                  "RCPT TO:<bob@b\xc3\xbccher.example>", "DATA", "x", "y\rz", ".", "QUIT"]
    errors = [command for command, _, _ in ERROR_COMMANDS]
    return [
        smtp("esmtp: an EHLO session's replies all carry an enhanced code of their class",
             lines(EHLO, *ok_session), expect_enhanced_codes,
             expect_in_order(E_OK, E_OK, "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery",
                             "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP VRFY HELP QUIT",
                             E_SENDER, E_BOB, E_BOB, S_DATA, E_ACCEPTED,
                             "250 2.1.0 <\xc3\xa4@b\xc3\xbc.example>... Sender ok", E_BOB, S_DATA,
                             "554 5.6.0 Message contains bare CR", E_BYE),
             expect_body("bob", "hello"), deliveries={"bob": 1}),
        smtp("esmtp: the same session after HELO has no enhanced code anywhere",
             lines(ENVELOPE[0], *ok_session), expect_no_enhanced_codes,
             expect_replies(S_GREETING, S_HELO, S_OK, S_OK,
                            "252 Cannot VRFY user, but will accept message and attempt delivery",
                            "214 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP VRFY HELP QUIT",
                            S_SENDER, S_BOB, S_BOB, S_DATA, S_ACCEPTED,
                            "250 <\xc3\xa4@b\xc3\xbc.example>... Sender ok", S_BOB, S_DATA, S_BARE_CR, S_BYE),
             deliveries={"bob": 1}),
        smtp("esmtp: every refusal after EHLO carries its code; the 20th 5xx gets 421 4.7.0",
             lines(EHLO, *errors), expect_enhanced_codes,
             expect_replies(*error_session_replies(True)), options=("-s", "1000")),
        smtp("esmtp: every refusal after HELO reads as in sockmail-smtpd(8) REPLIES; the 20th 5xx gets 421",
             lines(ENVELOPE[0], *errors), expect_no_enhanced_codes,
             expect_replies(*error_session_replies(False)), options=("-s", "1000")),
        smtp("esmtp: HELO turns the codes off, EHLO on again",
             lines(EHLO, "NOOP", ENVELOPE[0], "NOOP", EHLO, "NOOP", "QUIT"),
             expect_replies(S_GREETING, *ehlo_lines(), E_OK, S_HELO, S_OK, *ehlo_lines(), E_OK, E_BYE)),
        smtp("esmtp: a failed EHLO or HELO keeps the mode",
             lines(EHLO, "HELO", "NOOP", ENVELOPE[0], "EHLO", "NOOP", "QUIT"),
             expect_replies(S_GREETING, *ehlo_lines(), E_SYNTAX, E_OK, S_HELO, S_SYNTAX, S_OK, S_BYE)),
        smtp("esmtp: idle after EHLO with -t 1: 421 4.4.2", lines(EHLO),
             expect_replies(S_GREETING, *ehlo_lines(), esc(S_CLOSING, "4.4.2")),
             options=("-t", "1"), hold_open=True),
        smtp("esmtp: userinfo.txt missing after EHLO: 451 4.3.0", lines(*E_ENVELOPE, "QUIT"),
             expect_replies(S_GREETING, *ehlo_lines(), E_SENDER, esc(S_LOCAL_ERROR, "4.3.0"), E_BYE),
             setup=userinfo_missing),
        smtp("esmtp: the 101st recipient after EHLO: 452 4.5.3",
             lines(EHLO, E_ENVELOPE[1], *[f"RCPT TO:<user{n:03d}@x>" for n in range(101)], "QUIT"),
             expect_last(esc(S_TOO_MANY, "4.5.3"), E_BYE), expect_enhanced_codes, setup=many_users(101)),
        smtp("esmtp: a message over -s and one with a NUL after EHLO: 552 5.3.4, 554 5.6.0",
             lines(*E_ENVELOPE, "DATA", "z" * 2000, ".", *E_ENVELOPE[1:], "DATA", b"a\0b", ".", "QUIT"),
             expect_in_order(esc(S_TOO_BIG, "5.3.4"), esc(S_NUL_DATA, "5.6.0"), E_BYE),
             expect_enhanced_codes, options=("-s", "1000")),
    ]


UTF8_BODY = ["From: J\xc3\xb6rg <j\xc3\xb6rg@b\xc3\xbccher.example>", "To: bob@test.example",
             "Subject: Gr\xc3\xbc\xc3\x9fe \xe2\x9c\x89 \xf0\x9f\x93\xab", "",
             "\xe7\x94\xa8\xe6\x88\xb7 \xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"]

# Bytes that are not UTF-8 (RFC 3629), each in a local part.
BAD_UTF8 = [("a stray continuation byte", "\x80"), ("a cut sequence", "\xe2\x82"),
            ("an overlong NUL", "\xc0\x80"), ("an overlong slash", "\xe0\x80\xaf"),
            ("a surrogate", "\xed\xa0\x80"), ("above U+10FFFF", "\xf4\x90\x80\x80"),
            ("0xFF", "\xff"), ("a C1 control", "\xc2\x85")]


def smtputf8_cases() -> list[Case]:
    cases = [
        smtp("smtputf8: UTF-8 sender, recipient domain, headers and body are stored as sent",
             lines(EHLO, "MAIL FROM:<j\xc3\xb6rg@b\xc3\xbccher.example> SMTPUTF8",
                   "RCPT TO:<bob@\xe4\xbe\x8b\xe5\xad\x90.example>", "DATA", *UTF8_BODY, ".", "QUIT"),
             expect_enhanced_codes,
             expect_in_order("250 2.1.0 <j\xc3\xb6rg@b\xc3\xbccher.example>... Sender ok", E_BOB, E_ACCEPTED),
             expect_body("bob", *UTF8_BODY[3:], sender=UTF8_BODY[0][6:], subject=UTF8_BODY[2][9:]),
             deliveries={"bob": 1}),
        smtp("smtputf8: the parameter in any case, with SIZE= and BODY=",
             lines(EHLO, "MAIL FROM:<\xc3\xa4@b> smtputf8 SIZE=100 BODY=8BITMIME", "RSET",
                   "MAIL FROM:<\xc3\xa4@b> BODY=8BITMIME SmtpUtf8", "QUIT"),
             expect_replies(S_GREETING, *ehlo_lines(), "250 2.1.0 <\xc3\xa4@b>... Sender ok", E_OK,
                            "250 2.1.0 <\xc3\xa4@b>... Sender ok", E_BYE)),
        smtp("smtputf8: a UTF-8 local part is no login: 550 5.1.1, then bob gets the mail",
             lines(EHLO, "MAIL FROM:<a@b> SMTPUTF8", "RCPT TO:<b\xc3\xb6b@test.example>",
                   "RCPT TO:<\xe7\x94\xa8\xe6\x88\xb7@test.example>", E_ENVELOPE[2], "DATA", "x", ".", "QUIT"),
             expect_in_order(esc(S_NO_USER, "5.1.1"), esc(S_NO_USER, "5.1.1"), E_BOB, E_ACCEPTED),
             deliveries={"bob": 1}),
        smtp("smtputf8: without the parameter a UTF-8 sender or recipient is 553 5.6.7",
             lines(EHLO, "MAIL FROM:<j\xc3\xb6rg@example.org>", "MAIL FROM:<a@b\xc3\xbc.example>",
                   "MAIL FROM:<a@b>", "RCPT TO:<bob@b\xc3\xbc.example>", "QUIT"),
             expect_replies(S_GREETING, *ehlo_lines(), esc(S_NOT_ASCII, "5.6.7"), esc(S_NOT_ASCII, "5.6.7"),
                            "250 2.1.0 <a@b>... Sender ok", esc(S_NOT_ASCII, "5.6.7"), E_BYE)),
        smtp("smtputf8: the parameter lasts one transaction",
             lines(EHLO, "MAIL FROM:<a@b> SMTPUTF8", "RCPT TO:<bob@b\xc3\xbc.example>", "DATA", "x", ".",
                   "MAIL FROM:<a@b>", "RCPT TO:<bob@b\xc3\xbc.example>", "RSET",
                   "MAIL FROM:<a@b> SMTPUTF8", "RSET", "MAIL FROM:<a@b>", "RCPT TO:<bob@b\xc3\xbc.example>",
                   "QUIT"),
             expect_in_order(E_BOB, E_ACCEPTED, "250 2.1.0 <a@b>... Sender ok", esc(S_NOT_ASCII, "5.6.7"),
                             E_OK, "250 2.1.0 <a@b>... Sender ok", E_OK, "250 2.1.0 <a@b>... Sender ok",
                             esc(S_NOT_ASCII, "5.6.7"), E_BYE),
             expect_body("bob", "x", sender="a@b", to="bob@b\xc3\xbc.example"), deliveries={"bob": 1}),
        smtp("smtputf8: SMTPUTF8 with a value is 501 5.5.4",
             lines(EHLO, "MAIL FROM:<a@b> SMTPUTF8=yes", "MAIL FROM:<a@b> SMTPUTF8=", "QUIT"),
             expect_replies(S_GREETING, *ehlo_lines(), E_SYNTAX, E_SYNTAX, E_BYE)),
    ]
    for what, bad in BAD_UTF8:
        cases.append(smtp(
            f"smtputf8: {what} in an address is 553 5.6.7, sender and recipient",
            lines(EHLO, f"MAIL FROM:<a{bad}b@example.org> SMTPUTF8", "MAIL FROM:<a@b> SMTPUTF8",
                  f"RCPT TO:<bob@x{bad}y.example>", f"RCPT TO:<x{bad}@test.example>", E_ENVELOPE[2],
                  "DATA", "x", ".", "QUIT"),
            expect_replies(S_GREETING, *ehlo_lines(), esc(S_NOT_UTF8, "5.6.7"), "250 2.1.0 <a@b>... Sender ok",
                           esc(S_NOT_UTF8, "5.6.7"), esc(S_NOT_UTF8, "5.6.7"), E_BOB, S_DATA, E_ACCEPTED, E_BYE),
            deliveries={"bob": 1}))
    return cases


def bare_cr_cases() -> list[Case]:
    refused = (*ENVELOPE_REPLIES, S_DATA, S_BARE_CR)
    return [
        smtp("bare CR: in a header line: 554, the next message goes through",
             lines(*ENVELOPE, "DATA", b"Subject: a\rRCPT TO:<evil@x>", "", "x", ".") + transaction_to_bob("clean"),
             expect_replies(*refused, S_SENDER, S_BOB, S_DATA, S_ACCEPTED, S_BYE),
             expect_body("bob", "clean"), deliveries={"bob": 1}),
        smtp("bare CR: a smuggling attempt with CR . CR is one refused message",
             lines(*ENVELOPE, "DATA", b"x\r.\rMAIL FROM:<evil@x>\rRCPT TO:<alice@x>\rDATA\revil", ".", "QUIT"),
             expect_replies(*refused, S_BYE)),
        smtp("bare CR: a lone CR line and a CR before CR LF, LF session",
             lines(*ENVELOPE, "DATA", b"x\ry", b"a\r\r", "z", ".", "QUIT", end=LF),
             expect_replies(*refused, S_BYE)),
        smtp("bare CR: one CR in the middle of a 1 MiB line", to_bob(b"x" * 600_000 + b"\r" + b"y" * 600_000),
             expect_replies(*refused, S_BYE)),
        smtp("bare CR: a NUL wins over a CR, a CR over the size limit",
             lines(*ENVELOPE, "DATA", b"a\r\0", ".", *ENVELOPE[1:], "DATA", b"a\r" + b"z" * 70_000, ".", "QUIT"),
             expect_replies(*refused[:-1], S_NUL_DATA, S_SENDER, S_BOB, S_DATA, S_BARE_CR, S_BYE),
             options=("-s", "65536")),
        smtp("bare CR: after EHLO 554 5.6.0",
             lines(*E_ENVELOPE, "DATA", b"a\rb", ".", "QUIT"),
             expect_replies(*E_ENVELOPE_REPLIES, S_DATA, "554 5.6.0 Message contains bare CR", E_BYE)),
        smtp("bare CR: CR CR LF as the line before the end",
             lines(*ENVELOPE, "DATA", b"last\r", ".", "QUIT"), expect_replies(*refused, S_BYE)),
    ]


def junk_cases() -> list[Case]:
    junk = ["NOOP", "RSET", "VRFY bob", "HELP", "HELO client.example", "EHLO client.example"]
    mixed = [junk[n % len(junk)] for n in range(100)]
    message = [*ENVELOPE[1:], "DATA", "x", "."]

    def pop3_message(login: str) -> bytes:
        return mailbox_record("a@b", f"{login}@test.example", "m", ["x"])
    return [
        smtp("junk: 100 mixed junk commands, a message, 100 more: never cut off",
             lines(ENVELOPE[0], *mixed, *message, *mixed, "QUIT"),
             expect_count(E_ACCEPTED, 1), expect_last(E_BYE), deliveries={"bob": 1}),
        smtp("junk: 101 mixed junk commands: the 101st gets 421",
             lines(ENVELOPE[0], *mixed, "HELP", "QUIT"), expect_last(E_CLOSING),
             expect_count("214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP VRFY HELP QUIT", 16)),
        smtp("junk: 101 repeated HELOs: the 101st gets 421",
             lines(*[ENVELOPE[0]] * 102, "QUIT"), expect_replies(S_GREETING, *[S_HELO] * 101, S_CLOSING)),
        smtp("junk: after EHLO, the 101st NOOP gets 421 4.7.0",
             lines(EHLO, *["NOOP"] * 101, "QUIT"),
             expect_replies(S_GREETING, *ehlo_lines(), *[E_OK] * 100, E_CLOSING)),
        smtp("junk: 150 messages, each after RSET and NOOP, in one session",
             lines(ENVELOPE[0], *[line for _ in range(150) for line in ("RSET", "NOOP", *message)], "QUIT"),
             expect_count(S_ACCEPTED, 150), expect_last(S_BYE), deliveries={"bob": 150}),
        smtp("junk: a refused message is no progress",
             lines(ENVELOPE[0], *["NOOP"] * 100, *ENVELOPE[1:], "DATA", b"a\rb", ".", "NOOP", "QUIT"),
             expect_last(S_BARE_CR, S_CLOSING)),
        smtp("junk: errors are not junk, junk is not errors",
             lines(ENVELOPE[0], *["NOOP", "BOGUS"] * 19, *["NOOP"] * 82, "QUIT"),
             expect_count(S_UNKNOWN, 19), expect_count(S_OK, 100), expect_last(S_CLOSING)),
        pop3("junk: 99 CAPA and USER, then PASS, 100 NOOPs and a QUIT with UPDATE",
             lines(*["CAPA"] * 99, *LOGIN, *["NOOP"] * 100, "DELE 1", "QUIT"),
             expect_last("+OK message 1 deleted", P_BYE),
             final_mailboxes={"labxyz": LABXYZ_MESSAGES[1] + LABXYZ_MESSAGES[2]}),
        pop3("junk: a failed login is no progress: the 101st command ends it",
             lines(*["CAPA"] * 99, "USER labxyz", "PASS wrong", "PASS labpass"),
             expect_last(P_SEND_PASS, P_BAD_LOGIN, P_JUNK)),
        pop3("junk: USER, STLS-less STLS and AUTH without TLS count before login",
             lines(*["USER labxyz", "STLS", "AUTH", "NOOP"] * 30),
             expect_count(P_SEND_PASS, 25), expect_count(P_JUNK, 1), expect_last(P_JUNK)),
        pop3("junk: RETR, TOP, DELE, LIST n and UIDL n start the count again",
             lines(*LOGIN, *[line for command in ("RETR 1", "TOP 2 0", "LIST 3", "UIDL 1", "DELE 2")
                             for line in (*["STAT"] * 100, command)], *["NOOP"] * 100, "QUIT"),
             expect_last("+OK message 2 deleted", *["+OK"] * 100, P_BYE),
             final_mailboxes={"labxyz": LABXYZ_MESSAGES[0] + LABXYZ_MESSAGES[2]}),
        pop3("junk: a failed RETR counts: the 101st gets its -ERR, then the end",
             lines(*LOGIN, *["RETR 9"] * 101, "QUIT"),
             expect_count("-ERR no such message, only 3 in maildrop", 101), expect_last(P_JUNK)),
        pop3("junk: the engine's refusals after login count",
             lines(*LOGIN, *["USER x", "BOGUS", b"NO\0OP", "X" * 300] * 26),
             expect_count(P_WRONG_STATE, 25), expect_last(P_JUNK)),
        pop3("junk: a login after 100 junk commands still works",
             lines(*["NOOP"] * 99, *LOGIN, "RETR 1", "QUIT"),
             expect_in_order(P_LABXYZ_LOGIN, P_BYE)),
        pop3("junk: with -a, failed APOPs count as junk",
             lines(*[f"APOP labxyz {'0' * 32}", "USER labxyz"] * 2, *["CAPA"] * 97, "DELE 1", "QUIT"),
             expect_count(P_BAD_LOGIN, 2), expect_last(P_JUNK), options=("-a",)),
    ]


def all_cases() -> list[Case]:
    return (random_cases() + long_line_cases() + boundary_cases() + nul_cases() +
            line_ending_cases() + end_of_data_cases() + smtp_flood_cases() + pop3_flood_cases() +
            huge_message_cases() + quota_cases() + address_trick_cases() + login_trick_cases() +
            mailbox_trap_cases() + index_trap_cases() + userinfo_cases() + permission_cases() +
            session_end_cases() + maildrop_cases() + penalty_trap_cases() +
            esmtp_cases() + smtputf8_cases() + bare_cr_cases() + junk_cases())

# ---------------------------------------------------------------------------
# Running one case.


def make_removable(base: Path) -> None:
    """Undo a case's chmods so its temp dir can be removed when not root."""
    for folder, dirs, _ in os.walk(base):
        for name in dirs:
            path = Path(folder, name)
            if not path.is_symlink():
                path.chmod(0o700)


def handler_command(case: Case, root: Path, unprivileged: bool,
                    program: Path) -> list[str]:
    command = [str(program), "-d", str(root), "-n", DOMAIN]
    if case.handler == "pop3":
        command += ["-f", "0"]
    command += list(case.options)
    if unprivileged:
        # Still root (no other user could reach a build tree in /root), but
        # without the capabilities, in the bounding set too: an exec as
        # root would otherwise get them straight back.
        command = ["setpriv", f"--inh-caps={OVERRIDE_CAPS}", f"--bounding-set={OVERRIDE_CAPS}",
                   *command]
    return command


def run_handler(case: Case, command: list[str], spool: Path) -> tuple[bytes, bytes, int | None]:
    """Run the handler on the case's input; returns stdout, stderr and the
    exit status (None when it had to be killed)."""
    env = dict(os.environ, SOCKMAIL_LOG="stderr", TMPDIR=str(spool), TZ="UTC")
    if case.hold_open:
        # Idle cases: the input stays open, so only the handler's timeout
        # can end the session.
        read_end, write_end = os.pipe()
        os.write(write_end, case.client_input)
        stdin, client_input = read_end, None
    else:
        stdin, client_input = subprocess.PIPE, case.client_input
    proc = subprocess.Popen(command, stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    try:
        if case.hold_open:
            os.close(read_end)
        out, err = proc.communicate(client_input, timeout=case.timeout)
        status = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        status = None
    finally:
        if case.hold_open:
            os.close(write_end)
    return out, err, status


def process_problems(case: Case, err: bytes, status: int | None) -> list[str]:
    problems = []
    if status is None:
        problems.append(f"handler hung: killed after {case.timeout} s")
    elif status < 0:
        problems.append(f"handler killed by signal {-status}")
    elif status != case.exit_status:
        problems.append(f"handler exited {status}, want {case.exit_status}")
    if SANITIZER_REPORT.search(err):
        problems.append("sanitizer or valgrind report on stderr")
    if problems and err:
        problems.append("stderr: " + err.decode("latin-1")[-3000:])
    return problems


MAILBOX_PATH = re.compile(r"root/USERS/([^/]+)/my_mailbox\.txt")
# sockmail-mailbox(5): my_mailbox.txt.tail.<UTC time>.<host>.<pid>
SIDE_PATH = re.compile(r"root/USERS/([^/]+)/my_mailbox\.txt\.tail\.\d{8}T\d{6}Z\.%s\.\d+"
                       % re.escape(os.uname().nodename))
INDEX_PATH = re.compile(r"root/USERS/([^/]+)/my_mailbox\.idx")
PENALTY_PATH = "root/auth-penalty"
PENALTY_SIZE = 32 + 4096 * 32      # penalty.h: header and slots
PENALTY_MAGIC = b"sockpnlt"
FOLDER_PATH = re.compile(r"root/USERS/([^/]+)")


def delivery_problems(login: str, count: int, old: Entry | None, new: Entry | None,
                      records: dict[str, list[Record]], moved: bytes = b"") -> list[str]:
    """Old content (less the tail moved aside, if any) a prefix, then
    exactly count whole records."""
    if new is None or new.kind != "file" or new.mode != 0o600 or new.data is None:
        return [f"mailbox of {login} is not a readable 0600 file after delivery: {new}"]
    old_data = old.data if old else b""
    if moved and old_data is not None:
        if not old_data.endswith(moved):
            return [f"mailbox of {login}: the tail to move aside was not its end"]
        old_data = old_data[:-len(moved)]
    if old_data is None or not new.data.startswith(old_data):
        return [f"mailbox of {login}: old content is not kept as a prefix"]
    found, problems = parse_records(new.data[len(old_data):])
    records[login] = found
    if len(found) != count:
        problems.append(f"{len(found)} new messages, want {count}")
    return [f"mailbox of {login}: {problem}" for problem in problems]


def created_entry_ok(case: Case, path: str, old: Entry | None, new: Entry | None) -> bool:
    """A folder for a declared delivery or login, an empty mailbox for a
    declared POP3 login (which creates one), or a mailbox index (a cache a
    login may write, replace or remove) that is a plain 0600 file."""
    if INDEX_PATH.fullmatch(path):
        return new is None or (new.kind == "file" and new.mode == 0o600 and new.links == 1)
    if path == PENALTY_PATH:
        return is_penalty_table(new) and (old is None or is_penalty_table(old) or old.data == b"")
    if old is not None or new is None:
        return False
    folder = FOLDER_PATH.fullmatch(path)
    if folder and new.kind == "dir" and new.mode == 0o700:
        return folder[1] in (*case.deliveries, *case.may_login)
    mailbox = MAILBOX_PATH.fullmatch(path)
    return bool(mailbox and mailbox[1] in case.may_login and new.kind == "file"
                and new.mode == 0o600 and new.data == b"")


def is_penalty_table(entry: Entry | None) -> bool:
    """A POP3 login attempt may make or update the penalty table: a plain
    0600 file of the table's size that starts with its magic. Nothing else
    there may change."""
    return (entry is not None and entry.kind == "file" and entry.mode == 0o600
            and entry.links == 1 and entry.data is not None
            and len(entry.data) == PENALTY_SIZE and entry.data.startswith(PENALTY_MAGIC))


def mailroot_problems(case: Case, before: dict[str, Entry], after: dict[str, Entry],
                      records: dict[str, list[Record]]) -> list[str]:
    problems, declared = [], set()
    for login, count in case.deliveries.items():
        path = f"root/USERS/{login}/my_mailbox.txt"
        declared.add(path)
        problems += delivery_problems(login, count, before.get(path), after.get(path), records,
                                      case.side_files.get(login, b""))
    for login, want in case.final_mailboxes.items():
        path = f"root/USERS/{login}/my_mailbox.txt"
        declared.add(path)
        got = after.get(path)
        if got is None or got.data != want or got.mode != 0o600:
            problems.append(f"mailbox of {login} is not the expected final one ({len(want)} bytes)")
    for login, want in case.side_files.items():
        sides = [path for path in after if path not in before
                 and (m := SIDE_PATH.fullmatch(path)) and m[1] == login]
        if len(sides) != 1:
            problems.append(f"{len(sides)} side files of {login}, expected one "
                            f"({len(want)} bytes)")
            continue
        declared.add(sides[0])
        got = after[sides[0]]
        if got.kind != "file" or got.data != want or got.mode != 0o600 or got.links != 1:
            problems.append(f"side file {sides[0]} is not the tail moved aside "
                            f"({len(want)} bytes): {got}"[:300])
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path), after.get(path)
        if path in declared or old == new or created_entry_ok(case, path, old, new):
            continue
        if (case.unlinked_outside and path.startswith("outside/") and old and new
                and dataclasses.replace(old, links=new.links) == new):
            continue    # our name for it was removed; its bytes are untouched
        what = "left-over temp file" if path.endswith(".tmp") else "unexpected change"
        problems.append(f"{what}: {path}: {old} -> {new}"[:300])
    return problems


def run_case(case: Case) -> list[str]:
    """Everything wrong with the case; empty when it passes."""
    with tempfile.TemporaryDirectory(prefix="sockmail-hostile-") as tmp:
        base = Path(tmp)
        try:
            return check_case(case, base)
        finally:
            make_removable(base)


def check_case(case: Case, base: Path) -> list[str]:
    root, spool = base / "root", base / "spool"
    make_mailroot(root)
    spool.mkdir()
    if case.setup:
        case.setup(root)
    unprivileged = case.unprivileged and IS_ROOT
    program = SMTPD if case.handler == "smtp" else POP3D
    before = snapshot(base)
    out, err, status = run_handler(case, handler_command(case, root, unprivileged, program),
                                   spool)
    problems = process_problems(case, err, status)
    if case.handler == "smtp":
        replies, wire = check_smtp_wire(out)
        wire += smtp_session_problems(replies)
    else:
        replies, wire = check_pop3_wire(out)
        wire += pop3_session_problems(replies)
    records: dict[str, list[Record]] = {}
    problems += wire + mailroot_problems(case, before, snapshot(base), records)
    result = Result(replies, status if status is not None else -1, err, records)
    for check in case.checks:
        problems += check(result)
    return problems

# ---------------------------------------------------------------------------


def main() -> int:
    for program in (SMTPD, POP3D):
        if not os.access(program, os.X_OK):
            print(f"1..0 # SKIP {program} not built")
            return 0
    cases = all_cases()
    print(f"1..{len(cases)}", flush=True)
    started, failed = time.monotonic(), 0
    jobs = int(os.environ.get("HOSTILE_JOBS") or os.cpu_count() or 2)
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for number, (case, problems) in enumerate(
                zip(cases, pool.map(run_case, cases)), start=1):
            failed += bool(problems)
            print(f"{'not ok' if problems else 'ok'} {number} - {case.name}")
            for problem in problems:
                print("\n".join("# " + line for line in problem.splitlines() or [""]))
            sys.stdout.flush()
    print(f"# {len(cases)} cases, {failed} failed, {time.monotonic() - started:.1f} s"
          f"{' (permission cases without ' + OVERRIDE_CAPS.replace('-', '') + ')' if IS_ROOT else ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
