/* SPDX-License-Identifier: MIT */
/* Entries for journald, through libsystemd's sd_journal_sendv. journald
 * adds _PID, _UID and the rest from the socket's credentials. */
#ifndef SOCKMAIL_JOURNAL_H
#define SOCKMAIL_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#define JOURNAL_FIELDS_MAX	16

/* Whether the process's stderr is a stream to journald: systemd says so in
 * $JOURNAL_STREAM ("DEVICE:INODE" of that stream; systemd.exec(5)), which
 * it sets for a unit whose output goes to the journal. Only then are
 * entries worth their structured fields; under xinetd or a terminal the
 * variable is absent or names another file. */
bool	journal_is_stderr(void);

/* Send one entry: n fields (at most JOURNAL_FIELDS_MAX), each "KEY=value"
 * as sd_journal_sendv takes them; a value may hold any bytes. libsystemd
 * is loaded at the first call. Returns 0, or -1 with errno set (ENOENT or
 * ECONNREFUSED when journald is gone, ELIBACC when libsystemd cannot be
 * loaded, EINVAL for a field without "="); the caller then logs
 * elsewhere. */
int	journal_sendv(const struct iovec *fields, size_t n);

#endif
