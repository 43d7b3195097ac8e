/* SPDX-License-Identifier: MIT */
/* The switch to TLS shared by both sessions. */
#include "config.h"

#include "line.h"
#include "out.h"
#include "starttls.h"
#include "tls.h"

int
starttls_prepare(const struct tls_hook *hook)
{
	return hook->prepare == NULL ? 0 : hook->prepare(hook->arg);
}

int
starttls(const struct tls_hook *hook, struct line_reader *in, struct out *out)
{
	struct transport *t;

	if (out_flush(out) < 0)
		return -1;
	line_reader_discard(in);
	t = hook->start(hook->arg, in->timeout_ms);
	if (t == NULL)
		return -1;
	in->t = t;
	out->t = t;
	return 0;
}
