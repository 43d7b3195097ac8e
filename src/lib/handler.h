/* SPDX-License-Identifier: MIT */
/* What every handler's main does before its session starts. */
#ifndef SOCKMAIL_HANDLER_H
#define SOCKMAIL_HANDLER_H

#include <stddef.h>
#include <stdint.h>

struct transport;

/* Parse an option's number: min..max, digits only. Returns 0, or -1. */
int	handler_number(const char *arg, uint64_t min, uint64_t max,
	    uint64_t *value_out);

/* The client's address, for the logs only: $REMOTE_ADDR (set by systemd
 * and systemd-socket-activate), else the peer of the socket on fd, else
 * "local". */
void	handler_peer(int fd, char *buf, size_t size);

/* This host's name, the default for -n. */
void	handler_hostname(char *buf, size_t size);

/* Send the one line (CRLF included) that ends a session before it began,
 * such as 421 when the mail root cannot be opened. */
void	handler_refuse(struct transport *t, const char *line);

#endif
