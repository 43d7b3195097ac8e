/* SPDX-License-Identifier: MIT */
/* What every handler's main does before its session starts: the options
 * all handlers share, and wiring up fds 0 and 1. */
#ifndef SOCKMAIL_HANDLER_H
#define SOCKMAIL_HANDLER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tls.h"

struct fd_transport;

#define HANDLER_DOMAIN_MAX	255
#define HANDLER_TIMEOUT_MAX	86400

/* The options every handler has. */
struct handler_options {
	const char	*root;		/* -d: the mail root */
	const char	*domain;	/* -n: NULL for this host's name */
	int		 timeout_s;	/* -t */
	int		 lifetime_s;	/* -T; 0: no limit */
	const char	*cert_file;	/* -C */
	const char	*key_file;	/* -K */
	bool		 auth_needs_tls; /* -R */
	bool		 proxy;		/* -P */
	/* Implicit TLS (pop3d -S): the certificate is read at start, and an
	 * unusable one refuses the connection. Otherwise it is read at the
	 * first STARTTLS or STLS, which an unusable one fails. */
	bool		 tls_at_start;
};

/* The letters of the shared options, for getopt. */
#define HANDLER_OPTSTRING	"d:n:t:T:C:K:RP"
#define HANDLER_USAGE		"[-d MAILROOT] [-n DOMAIN] [-t SECS] " \
				"[-T SECS] [-C CERT -K KEY] [-R] [-P]"

/* What handler_start set up for the session. */
struct handler_env {
	int		 root_fd;	/* the mail root */
	struct tls_hook	 tls_hook;
	const struct tls_hook *tls;	/* &tls_hook, or NULL: no -C/-K */
	/* -R given and the peer is not on this machine: no password may
	 * travel before TLS. */
	bool		 auth_needs_tls;
	/* The client's address, as -R judges it (the socket's peer, or a
	 * PROXY header's client): for per-address limits, never for logs.
	 * has_peer_addr is false when there is none (a pipe). */
	bool		 has_peer_addr;
	struct sockaddr_storage peer_addr;
};

/* Parse an option's number: min..max, digits only. Returns 0, or -1. */
int	handler_number(const char *arg, uint64_t min, uint64_t max,
	    uint64_t *value_out);

/* Take opt if it is one of the shared options (-d, -n, -t, -T, -C, -K,
 * -R, -P). Returns 1 when it was, 0 when it is not, -1 when its value is bad. */
int	handler_option(struct handler_options *o, int opt, const char *arg);

/* Whether the options agree with each other (-C and -K come together).
 * Returns 0, or -1. */
int	handler_options_check(const struct handler_options *o);

enum handler_start_status {
	HANDLER_READY,		/* run the session */
	HANDLER_REFUSED,	/* refused; the client was told: exit 1 */
	HANDLER_DROPPED,	/* -P and no valid PROXY header: logged, the
				 * client told nothing: exit 0 */
};

/* Set the handler up for a session on fds 0 and 1: ignore SIGPIPE (a
 * vanished client is a failed write), start logging as ident with the
 * peer's address, with -P read the PROXY header (within -t) and take the
 * client's address from it, wire t to fds 0 and 1, default the domain to
 * the host name, open the mail root, load the TLS certificate. Returns
 * HANDLER_READY; HANDLER_DROPPED when -P is given and the header is bad,
 * cut off or late (logged; nothing is sent: a balancer drops such a
 * connection too); or HANDLER_REFUSED when the mail root or the
 * certificate cannot be used, after logging why and sending the client
 * the line refusal_fmt (CR LF added), a format given two strings: the
 * domain and what is missing ("mail root", "TLS certificate"). */
enum handler_start_status handler_start(struct handler_options *o,
	    const char *ident, struct fd_transport *t, const char *refusal_fmt,
	    struct handler_env *env);

/* End the session's TLS, if any (close_notify), at the end of main. */
void	handler_end(void);

#endif
