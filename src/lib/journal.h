/* SPDX-License-Identifier: MIT */
/* Entries for journald in its native protocol, without libsystemd: one
 * datagram per entry on journald's socket, what sd_journal_sendv sends
 * (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/). journald adds _PID, _UID
 * and the rest from the socket's credentials. */
#ifndef SOCKMAIL_JOURNAL_H
#define SOCKMAIL_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#define JOURNAL_SOCKET		"/run/systemd/journal/socket"
#define JOURNAL_FIELDS_MAX	16

/* Whether journald's socket is there for us to write to. */
bool	journal_available(void);

/* Send one entry: n fields (at most JOURNAL_FIELDS_MAX), each "KEY=value"
 * as sd_journal_sendv takes them; a value may hold any bytes. Never
 * blocks. Returns 0, or -1 with errno set (EAGAIN when journald lags
 * behind, ENOENT or ECONNREFUSED when it is gone, EMSGSIZE, EINVAL for a
 * field without "="); the caller then logs elsewhere. */
int	journal_sendv(const struct iovec *fields, size_t n);

/* For tests only: send to the datagram socket at path instead of
 * JOURNAL_SOCKET. Returns 0, or -1 when path does not fit. */
int	journal_open_path(const char *path);

#endif
