/* SPDX-License-Identifier: MIT */
/* A tiny TAP emitter for the unit tests: ok() per check, done_testing(). */
#ifndef SOCKMAIL_TAP_H
#define SOCKMAIL_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int	tap_count, tap_failures;

#define ok(cond, ...)	\
	tap_ok((cond) ? true : false, __FILE__, __LINE__, __VA_ARGS__)

__attribute__((format(printf, 4, 5))) static bool
tap_ok(bool pass, const char *file, int line, const char *fmt, ...)
{
	va_list	ap;

	printf("%s %d - ", pass ? "ok" : "not ok", ++tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!pass) {
		tap_failures++;
		printf("\n#   failed at %s:%d", file, line);
	}
	printf("\n");
	(void)fflush(stdout);
	return pass;
}

/* Print the plan; the result is the program's exit status. */
static int
done_testing(void)
{
	printf("1..%d\n", tap_count);
	return tap_failures == 0 ? 0 : 1;
}

#endif
