/* SPDX-License-Identifier: MIT */
/* TLS for the handlers (-C, -K and TLS in sockmail-smtpd(8) and
 * sockmail-pop3d(8)) and for mail_client. A session never sees
 * OpenSSL: it gets a struct tls_hook and calls it when the client asks for
 * STARTTLS or STLS (or at once, for implicit TLS), or, in mail_client,
 * when the server said yes to them; the hook does the handshake on the
 * connection and hands back the transport to use from then on. Built
 * without OpenSSL, tls_server_new and tls_client_new always fail, so -C
 * and -K are refused and the hook is never offered. Built with it, libssl
 * is loaded only by those two (dlopen), so a program that never starts
 * TLS never maps OpenSSL; a handler loads it at the first STARTTLS or STLS
 * (or at start, for implicit TLS), not because it was given -C and -K. */
#ifndef SOCKMAIL_TLS_H
#define SOCKMAIL_TLS_H

#include <stdbool.h>

struct transport;

struct tls_hook {
	/* Make ready for start, before the "go ahead" reply: the server loads
	 * its certificate here. Returns 0, or -1 (logged) when TLS cannot be
	 * started, which the session answers as a temporary failure. NULL:
	 * nothing to prepare. */
	int			 (*prepare)(void *arg);
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

/* A server for certificate chain cert_file and private key key_file
 * (PEM), TLS 1.2 or newer; a relative name is looked up in
 * $CREDENTIALS_DIRECTORY first (systemd's LoadCredential=). Only records
 * the names: nothing is loaded or read until tls_server_load. Returns
 * NULL after logging why (out of memory; always, built without OpenSSL). */
struct tls_server *tls_server_new(const char *cert_file, const char *key_file);

/* Load libssl, make the context and read the certificate and key, once:
 * the hook's prepare and start call it, a handler with implicit TLS calls
 * it at start. Returns 0, or -1 after logging why (libssl missing, a file
 * unreadable or not matching, ...); a failure is not retried. */
int	tls_server_load(struct tls_server *srv);

/* Fill hook so that its start runs TLS over in_fd and out_fd (the same
 * socket under every supervisor) with srv's certificate. */
void	tls_server_hook(struct tls_server *srv, int in_fd, int out_fd,
	    struct tls_hook *hook);

/* Send TLS's close_notify if a TLS session runs, and free everything. */
void	tls_server_free(struct tls_server *srv);

struct tls_client;

/* How a client trusts a server. */
struct tls_client_config {
	const char	*trust_file;	/* CA certificates (PEM) to trust
					 * instead of the system's store */
	bool		 insecure;	/* check no certificate at all */
};

/* A client context, TLS 1.2 or newer, for one session with host: a name
 * (sent as SNI) or an IP address, which the server's certificate must
 * name, signed by a CA of cfg's trust (unless cfg->insecure). Loads libssl
 * on the first call. Returns NULL after logging why. */
struct tls_client *tls_client_new(const struct tls_client_config *cfg,
	    const char *host);

/* Fill hook so that its start runs TLS as the client over fd. A failed
 * handshake is logged at LOG_ERR, with the reason a certificate was not
 * trusted. */
void	tls_client_hook(struct tls_client *cl, int fd, struct tls_hook *hook);

/* Send close_notify if a TLS session runs, and free everything. */
void	tls_client_free(struct tls_client *cl);

#endif
