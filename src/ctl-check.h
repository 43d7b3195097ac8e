/* SPDX-License-Identifier: MIT */
/* sockmailctl check's parts: the findings they share. */
#ifndef SOCKMAIL_CTL_CHECK_H
#define SOCKMAIL_CTL_CHECK_H

#include <stdbool.h>
#include <sys/types.h>

struct ctl;

struct check {
	struct ctl	*c;
	unsigned	 problems;
	bool		 have_handlers;	/* USERS/ exists: its owner known */
	uid_t		 handlers_uid;
};

/* One problem: a line on stdout, "MAILROOT/what: why". */
void	check_problem(struct check *k, const char *what, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* The file system under the mail root: one whose locks stay on this host
 * loses mail under several (ctl-checkfs.c). */
void	check_file_system(struct check *k);

#endif
