/* SPDX-License-Identifier: MIT */
/* TLS over the connection's descriptors with OpenSSL. One handler process
 * serves one connection, so a server context and its one TLS session live
 * together in struct tls_server.
 *
 * libssl is loaded with dlopen when a server context is made, not linked:
 * every connection execs a fresh handler, and linking OpenSSL costs each
 * one about 0.8 ms and 1.9 MiB even when no certificate is configured.
 * Every OpenSSL function goes through the table ossl; the handlers have no
 * DT_NEEDED on libssl or libcrypto, so a call that bypasses the table fails
 * to link. */
#include "config.h"

#include <stdlib.h>

#include "io.h"
#include "log.h"
#include "tls.h"

#ifndef HAVE_OPENSSL

bool
tls_available(void)
{
	return false;
}

struct tls_server *
tls_server_new(const char *cert_file, const char *key_file)
{
	(void)cert_file;
	(void)key_file;
	log_event(LOG_ERR, "fatal", "TLS asked for, but built without OpenSSL");
	return NULL;
}

void
tls_server_hook(struct tls_server *srv, int in_fd, int out_fd,
    struct tls_hook *hook)
{
	(void)srv;
	(void)in_fd;
	(void)out_fd;
	hook->start = NULL;
	hook->arg = NULL;
}

void
tls_server_free(struct tls_server *srv)
{
	(void)srv;
}

#else

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "transport.h"

/* The soname of the libssl these headers describe (3.x: libssl.so.3). */
#ifdef OPENSSL_SHLIB_VERSION
#define TLS_LIBSSL	"libssl.so." OPENSSL_MSTR(OPENSSL_SHLIB_VERSION)
#else
#define TLS_LIBSSL	"libssl.so." SHLIB_VERSION_NUMBER
#endif

/* OpenSSL 3 can zero each record's plaintext once it is read: a PASS
 * line must not stay in its buffers either. */
#ifdef SSL_OP_CLEANSE_PLAINTEXT
#define TLS_OP_CLEANSE	SSL_OP_CLEANSE_PLAINTEXT
#else
#define TLS_OP_CLEANSE	0
#endif

/* The OpenSSL functions used here, typed from the headers. Macros such as
 * SSL_CTX_set_min_proto_version are spelt out through SSL_CTX_ctrl. */
#define OSSL_FUNCS(F) \
	F(ERR_clear_error) \
	F(ERR_error_string_n) \
	F(ERR_get_error) \
	F(SSL_CIPHER_get_name) \
	F(SSL_CTX_check_private_key) \
	F(SSL_CTX_ctrl) \
	F(SSL_CTX_free) \
	F(SSL_CTX_new) \
	F(SSL_CTX_set_num_tickets) \
	F(SSL_CTX_set_options) \
	F(SSL_CTX_use_PrivateKey_file) \
	F(SSL_CTX_use_certificate_chain_file) \
	F(SSL_accept) \
	F(SSL_free) \
	F(SSL_get_current_cipher) \
	F(SSL_get_error) \
	F(SSL_get_version) \
	F(SSL_is_init_finished) \
	F(SSL_new) \
	F(SSL_read_ex) \
	F(SSL_set_rfd) \
	F(SSL_set_wfd) \
	F(SSL_shutdown) \
	F(SSL_write_ex) \
	F(TLS_server_method)

static struct {
#define OSSL_FIELD(name)	__typeof__(name) *name;
	OSSL_FUNCS(OSSL_FIELD)
#undef OSSL_FIELD
} ossl;

/* Fill ossl from libssl (its dependency libcrypto answers for ERR_*).
 * Returns 0, or -1 after logging why. The handle is never closed: the
 * process ends with its connection, and OpenSSL 3 refuses to unload. */
static int
ossl_load(void)
{
	static bool loaded;
	const char *why;
	void *lib;

	if (loaded)
		return 0;
	if ((lib = dlopen(TLS_LIBSSL, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		why = dlerror();	/* names the file */
		log_event(LOG_ERR, "fatal", "TLS: cannot load OpenSSL: %s",
		    why != NULL ? why : TLS_LIBSSL);
		return -1;
	}
#define OSSL_BIND(name) \
	ossl.name = (__typeof__(ossl.name))dlsym(lib, #name); \
	if (ossl.name == NULL) { \
		log_event(LOG_ERR, "fatal", "TLS: %s has no %s", \
		    TLS_LIBSSL, #name); \
		return -1; \
	}
	OSSL_FUNCS(OSSL_BIND)
#undef OSSL_BIND
	loaded = true;
	return 0;
}

struct tls_server {
	SSL_CTX			*ctx;
	SSL			*ssl;		/* once a handshake started */
	int			 in_fd, out_fd;
	struct transport	 base;
};

bool
tls_available(void)
{
	return true;
}

/* Log OpenSSL's queued errors (the first is the cause), and clear them. */
static void
log_ssl_errors(int priority, const char *event, const char *what)
{
	char reason[256];
	unsigned long e = ossl.ERR_get_error();

	if (e == 0) {
		log_event(priority, event, "%s", what);
		return;
	}
	ossl.ERR_error_string_n(e, reason, sizeof(reason));
	log_event(priority, event, "%s: %s", what, reason);
	ossl.ERR_clear_error();
}

/* The file for name: under $CREDENTIALS_DIRECTORY when name is relative
 * and the credential exists there, else name itself. */
static const char *
credential_path(const char *name, char *buf, size_t size)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	int n;

	if (name[0] == '/' || dir == NULL || dir[0] == '\0')
		return name;
	n = snprintf(buf, size, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= size || access(buf, F_OK) != 0)
		return name;
	return buf;
}

struct tls_server *
tls_server_new(const char *cert_file, const char *key_file)
{
	char cert_buf[PATH_MAX], key_buf[PATH_MAX];
	struct tls_server *srv;
	const char *cert, *key;

	if (ossl_load() < 0)
		return NULL;
	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		log_event(LOG_ERR, "fatal", "TLS: out of memory");
		return NULL;
	}
	srv->in_fd = srv->out_fd = -1;
	cert = credential_path(cert_file, cert_buf, sizeof(cert_buf));
	key = credential_path(key_file, key_buf, sizeof(key_buf));
	srv->ctx = ossl.SSL_CTX_new(ossl.TLS_server_method());
	if (srv->ctx == NULL ||
	    ossl.SSL_CTX_ctrl(srv->ctx, SSL_CTRL_SET_MIN_PROTO_VERSION,
	    TLS1_2_VERSION, NULL) != 1) {
		log_ssl_errors(LOG_ERR, "fatal", "TLS: cannot make a context");
		goto fail;
	}
	/* One process per connection: a session cache or ticket key would
	 * die with it, so resumption cannot work; do not pretend. A client
	 * asking to renegotiate only costs us CPU. */
	(void)ossl.SSL_CTX_ctrl(srv->ctx, SSL_CTRL_SET_SESS_CACHE_MODE,
	    SSL_SESS_CACHE_OFF, NULL);
	(void)ossl.SSL_CTX_set_num_tickets(srv->ctx, 0);
	ossl.SSL_CTX_set_options(srv->ctx,
	    SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | TLS_OP_CLEANSE);
	if (ossl.SSL_CTX_use_certificate_chain_file(srv->ctx, cert) != 1) {
		log_ssl_errors(LOG_ERR, "fatal", cert);
		goto fail;
	}
	if (ossl.SSL_CTX_use_PrivateKey_file(srv->ctx, key,
	    SSL_FILETYPE_PEM) != 1 ||
	    ossl.SSL_CTX_check_private_key(srv->ctx) != 1) {
		log_ssl_errors(LOG_ERR, "fatal", key);
		goto fail;
	}
	return srv;
fail:
	tls_server_free(srv);
	return NULL;
}

/* Wait until OpenSSL can go on after it returned err, at most timeout_ms
 * from t0 (-1: no limit). Returns 0 to retry; -1 with errno set when the
 * time is up (ETIMEDOUT), poll failed, or err is no "want" at all. */
static int
wait_for(struct tls_server *srv, int err, const struct timespec *t0,
    int timeout_ms)
{
	struct pollfd pfd;
	long left = -1;
	int ready;

	if (err == SSL_ERROR_WANT_READ)
		pfd = (struct pollfd){ .fd = srv->in_fd, .events = POLLIN };
	else if (err == SSL_ERROR_WANT_WRITE)
		pfd = (struct pollfd){ .fd = srv->out_fd, .events = POLLOUT };
	else {
		errno = EPROTO;
		return -1;
	}
	do {
		if (timeout_ms >= 0) {
			left = timeout_ms - io_ms_since(t0);
			if (left <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
		}
		ready = poll(&pfd, 1, (int)left);
	} while (ready < 0 && errno == EINTR);
	if (ready < 0)
		return -1;
	if (ready == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	return 0;
}

static ssize_t
tls_read(void *ctx, void *buf, size_t len, int timeout_ms)
{
	struct tls_server *srv = ctx;
	struct timespec t0;
	size_t n;
	int err;

	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ossl.ERR_clear_error();
		if (ossl.SSL_read_ex(srv->ssl, buf, len, &n) == 1)
			return (ssize_t)n;
		err = ossl.SSL_get_error(srv->ssl, 0);
		if (err == SSL_ERROR_ZERO_RETURN)
			return 0;	/* close_notify: the end of input */
		if (err == SSL_ERROR_SYSCALL && errno == 0) {
			/* The peer closed without close_notify. A truncated
			 * command or DATA is discarded like any cut input. */
			return 0;
		}
		if (err == SSL_ERROR_SSL) {
			log_ssl_errors(LOG_INFO, "tls", "TLS read failed");
			errno = EPROTO;
			return -1;
		}
		if (wait_for(srv, err, &t0, timeout_ms) < 0)
			return -1;
	}
}

static int
tls_write(void *ctx, const void *buf, size_t len, int timeout_ms)
{
	struct tls_server *srv = ctx;
	const char *p = buf;
	struct timespec t0;
	size_t n;
	int err;

	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	while (len > 0) {
		ossl.ERR_clear_error();
		if (ossl.SSL_write_ex(srv->ssl, p, len, &n) == 1) {
			p += n;
			len -= n;
			continue;
		}
		err = ossl.SSL_get_error(srv->ssl, 0);
		if (err == SSL_ERROR_SSL) {
			log_ssl_errors(LOG_INFO, "tls", "TLS write failed");
			errno = EPROTO;
			return -1;
		}
		/* As with plain writes, the whole write has timeout_ms. */
		if (wait_for(srv, err, &t0, timeout_ms) < 0)
			return -1;
	}
	return 0;
}

static const struct transport_ops tls_ops = {
	.read = tls_read,
	.write = tls_write,
};

static int
set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0)
		return -1;
	return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static struct transport *
tls_start(void *arg, int timeout_ms)
{
	struct tls_server *srv = arg;
	struct timespec t0;
	int err;

	if (srv->ssl != NULL)
		return NULL;	/* one TLS session a connection */
	/* Non-blocking, so that a client that stalls in the handshake or in
	 * a record cannot outlast the timeout. */
	if (set_nonblocking(srv->in_fd) < 0 || set_nonblocking(srv->out_fd) < 0) {
		log_event(LOG_ERR, "tls", "cannot set O_NONBLOCK: %s",
		    strerror(errno));
		return NULL;
	}
	ossl.ERR_clear_error();
	if ((srv->ssl = ossl.SSL_new(srv->ctx)) == NULL ||
	    ossl.SSL_set_rfd(srv->ssl, srv->in_fd) != 1 ||
	    ossl.SSL_set_wfd(srv->ssl, srv->out_fd) != 1) {
		log_ssl_errors(LOG_ERR, "tls", "cannot start TLS");
		return NULL;
	}
	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ossl.ERR_clear_error();
		if (ossl.SSL_accept(srv->ssl) == 1)
			break;
		err = ossl.SSL_get_error(srv->ssl, 0);
		if (err == SSL_ERROR_SSL || err == SSL_ERROR_SYSCALL ||
		    err == SSL_ERROR_ZERO_RETURN) {
			log_ssl_errors(LOG_INFO, "tls", "TLS handshake failed");
			return NULL;
		}
		if (wait_for(srv, err, &t0, timeout_ms) < 0) {
			log_event(LOG_INFO, "tls", "TLS handshake failed: %s",
			    errno == ETIMEDOUT ? "timed out" : strerror(errno));
			return NULL;
		}
	}
	log_event(LOG_INFO, "tls", "TLS started: %s, %s",
	    ossl.SSL_get_version(srv->ssl),
	    ossl.SSL_CIPHER_get_name(ossl.SSL_get_current_cipher(srv->ssl)));
	srv->base.ops = &tls_ops;
	srv->base.ctx = srv;
	return &srv->base;
}

void
tls_server_hook(struct tls_server *srv, int in_fd, int out_fd,
    struct tls_hook *hook)
{
	srv->in_fd = in_fd;
	srv->out_fd = out_fd;
	hook->start = tls_start;
	hook->arg = srv;
}

void
tls_server_free(struct tls_server *srv)
{
	if (srv == NULL)
		return;
	if (srv->ssl != NULL) {
		/* One try at close_notify; a client already gone is fine. */
		if (ossl.SSL_is_init_finished(srv->ssl))
			(void)ossl.SSL_shutdown(srv->ssl);
		ossl.SSL_free(srv->ssl);
	}
	ossl.SSL_CTX_free(srv->ctx);
	free(srv);
}

#endif
