/* SPDX-License-Identifier: MIT */
/* TLS for the handlers (SPEC §7). A session never sees OpenSSL: it gets a
 * struct tls_hook in its configuration and calls it when the client asks
 * for STARTTLS or STLS (or at once, for implicit TLS); the hook does the
 * handshake on the connection and hands back the transport to use from
 * then on. Built without OpenSSL, tls_server_new always fails, so -C and
 * -K are refused and the hook is never offered. Built with it, libssl is
 * loaded only by tls_server_new (dlopen), so a handler without -C/-K never
 * maps OpenSSL. */
#ifndef SOCKMAIL_TLS_H
#define SOCKMAIL_TLS_H

#include <stdbool.h>

struct transport;

struct tls_hook {
	/* Handshake as the server within timeout_ms (-1: no limit). Returns
	 * the transport to use from now on, or NULL when the handshake failed
	 * (logged); the session must then end, since the connection's state
	 * is unknown. */
	struct transport	*(*start)(void *arg, int timeout_ms);
	void			*arg;
};

struct tls_server;

/* Whether this build has TLS at all. */
bool	tls_available(void);

/* A server context for certificate chain cert_file and private key
 * key_file (PEM), TLS 1.2 or newer; a relative name is looked up in
 * $CREDENTIALS_DIRECTORY first (systemd's LoadCredential=). Loads libssl
 * on the first call. Returns NULL after logging why (libssl missing, a
 * file unreadable, ...). */
struct tls_server *tls_server_new(const char *cert_file, const char *key_file);

/* Fill hook so that its start runs TLS over in_fd and out_fd (the same
 * socket under every supervisor) with srv's certificate. */
void	tls_server_hook(struct tls_server *srv, int in_fd, int out_fd,
	    struct tls_hook *hook);

/* Send TLS's close_notify if a TLS session runs, and free everything. */
void	tls_server_free(struct tls_server *srv);

#endif
