/* SPDX-License-Identifier: MIT */
/* TLS over the connection's descriptors with OpenSSL, as the server (the
 * handlers) or as the client (mail_client). One process serves one
 * connection, so a context and its one TLS session live together in
 * struct tls_end, which both sides share with the record layer below.
 *
 * libssl is loaded with dlopen when a context is made, not linked:
 * every connection execs a fresh handler, and linking OpenSSL costs each
 * one about 0.8 ms and 1.9 MiB even when no certificate is configured.
 * Every OpenSSL function goes through the table ossl; the handlers have no
 * DT_NEEDED on libssl or libcrypto, so a call that bypasses the table fails
 * to link. */
#include "config.h"

#include <stdlib.h>

#include "io.h"
#include "log.h"
#include "str.h"
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

int
tls_server_load(struct tls_server *srv)
{
	(void)srv;
	return -1;
}

void
tls_server_hook(struct tls_server *srv, int in_fd, int out_fd,
    struct tls_hook *hook)
{
	(void)srv;
	(void)in_fd;
	(void)out_fd;
	hook->prepare = NULL;
	hook->start = NULL;
	hook->arg = NULL;
}

void
tls_server_free(struct tls_server *srv)
{
	(void)srv;
}

struct tls_client *
tls_client_new(const struct tls_client_config *cfg, const char *host)
{
	(void)cfg;
	(void)host;
	log_event(LOG_ERR, "fatal", "TLS asked for, but built without OpenSSL");
	return NULL;
}

void
tls_client_hook(struct tls_client *cl, int fd, struct tls_hook *hook)
{
	(void)cl;
	(void)fd;
	hook->prepare = NULL;
	hook->start = NULL;
	hook->arg = NULL;
}

void
tls_client_free(struct tls_client *cl)
{
	(void)cl;
}

#else

#include <arpa/inet.h>
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
#include <openssl/x509_vfy.h>

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
	F(ERR_peek_error) \
	F(SSL_CIPHER_get_name) \
	F(SSL_CTX_check_private_key) \
	F(SSL_CTX_ctrl) \
	F(SSL_CTX_free) \
	F(SSL_CTX_load_verify_locations) \
	F(SSL_CTX_new) \
	F(SSL_CTX_set_default_verify_paths) \
	F(SSL_CTX_set_num_tickets) \
	F(SSL_CTX_set_options) \
	F(SSL_CTX_set_verify) \
	F(SSL_CTX_use_PrivateKey_file) \
	F(SSL_CTX_use_certificate_chain_file) \
	F(SSL_accept) \
	F(SSL_connect) \
	F(SSL_ctrl) \
	F(SSL_free) \
	F(SSL_get0_param) \
	F(SSL_get_current_cipher) \
	F(SSL_get_error) \
	F(SSL_get_verify_result) \
	F(SSL_get_version) \
	F(SSL_is_init_finished) \
	F(SSL_new) \
	F(SSL_read_ex) \
	F(SSL_set1_host) \
	F(SSL_set_rfd) \
	F(SSL_set_wfd) \
	F(SSL_shutdown) \
	F(SSL_write_ex) \
	F(TLS_client_method) \
	F(TLS_server_method) \
	F(X509_VERIFY_PARAM_set1_ip_asc) \
	F(X509_verify_cert_error_string)

static struct {
#define OSSL_FIELD(name)	__typeof__(name) *name;
	OSSL_FUNCS(OSSL_FIELD)
#undef OSSL_FIELD
} ossl;

/* Where OpenSSL's system calls leave errno. In a statically linked
 * handler (configure's --enable-static-handlers) libssl runs on a libc.so.6
 * of its own, loaded with it, and that libc's errno is not the handler's:
 * the errno of a failed SSL call is read from, and cleared in, libssl's
 * libc. In a dynamically linked one both are the same. */
static int *(*ossl_errno_location)(void);

/* Before an SSL call whose failure may be a system call's. */
static void
ossl_errno_clear(void)
{
	*ossl_errno_location() = 0;
}

/* After it failed: OpenSSL's errno becomes ours. */
static void
ossl_errno_take(void)
{
	errno = *ossl_errno_location();
}

/* Fill ossl from libssl (its dependency libcrypto answers for ERR_* and
 * X509_*).
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
	/* libssl's own libc (see ossl_errno_location); ours if none. */
	ossl_errno_location = (int *(*)(void))dlsym(lib, "__errno_location");
	if (ossl_errno_location == NULL)
		ossl_errno_location = __errno_location;
	loaded = true;
	return 0;
}

/* One end of a TLS connection: a context and its one session, over the
 * connection's descriptors (the same socket under every supervisor). */
struct tls_end {
	SSL_CTX			*ctx;
	SSL			*ssl;		/* once a handshake started */
	int			 in_fd, out_fd;
	struct transport	 base;
};

/* The certificate and key are read at the first tls_server_load (the
 * first STARTTLS or STLS, or at once for implicit TLS), not when the
 * handler starts: loading libssl, making a context and parsing the PEM
 * files cost about 9 ms, more than a whole plain session, and most
 * sessions never start TLS. */
struct tls_server {
	struct tls_end		 end;
	enum { SERVER_UNLOADED, SERVER_LOADED, SERVER_FAILED } state;
	char			*cert_file, *key_file;
};

struct tls_client {
	struct tls_end		 end;
	bool			 insecure;
	char			 host[256];	/* what the certificate must name */
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

/* A context for method, TLS 1.2 or newer, with what both sides want:
 * no renegotiation (a peer asking only costs us CPU), and received
 * plaintext (a PASS line) wiped from OpenSSL's buffers. Returns 0, or -1
 * after logging why at priority. */
static int
end_init(struct tls_end *e, const SSL_METHOD *method, int priority)
{
	e->ctx = ossl.SSL_CTX_new(method);
	if (e->ctx == NULL ||
	    ossl.SSL_CTX_ctrl(e->ctx, SSL_CTRL_SET_MIN_PROTO_VERSION,
	    TLS1_2_VERSION, NULL) != 1) {
		log_ssl_errors(priority, "fatal", "TLS: cannot make a context");
		return -1;
	}
	ossl.SSL_CTX_set_options(e->ctx, SSL_OP_NO_RENEGOTIATION |
	    TLS_OP_CLEANSE);
	return 0;
}

/* Send close_notify once if a session runs, and free the end's parts. */
static void
end_free(struct tls_end *e)
{
	if (e->ssl != NULL) {
		/* One try; a peer already gone is fine. */
		if (ossl.SSL_is_init_finished(e->ssl))
			(void)ossl.SSL_shutdown(e->ssl);
		ossl.SSL_free(e->ssl);
	}
	ossl.SSL_CTX_free(e->ctx);
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
	struct tls_server *srv;

	if ((srv = calloc(1, sizeof(*srv))) == NULL ||
	    (srv->cert_file = strdup(cert_file)) == NULL ||
	    (srv->key_file = strdup(key_file)) == NULL) {
		log_event(LOG_ERR, "fatal", "TLS: out of memory");
		tls_server_free(srv);
		return NULL;
	}
	srv->end.in_fd = srv->end.out_fd = -1;
	return srv;
}

int
tls_server_load(struct tls_server *srv)
{
	char cert_buf[PATH_MAX], key_buf[PATH_MAX];
	const char *cert, *key;
	SSL_CTX *ctx;

	if (srv->state != SERVER_UNLOADED)
		return srv->state == SERVER_LOADED ? 0 : -1;
	srv->state = SERVER_FAILED;	/* one try a connection */
	if (ossl_load() < 0)
		return -1;
	cert = credential_path(srv->cert_file, cert_buf, sizeof(cert_buf));
	key = credential_path(srv->key_file, key_buf, sizeof(key_buf));
	if (end_init(&srv->end, ossl.TLS_server_method(), LOG_ERR) < 0)
		return -1;
	ctx = srv->end.ctx;
	/* One process per connection: a session cache or ticket key would
	 * die with it, so resumption cannot work; do not pretend. */
	(void)ossl.SSL_CTX_ctrl(ctx, SSL_CTRL_SET_SESS_CACHE_MODE,
	    SSL_SESS_CACHE_OFF, NULL);
	(void)ossl.SSL_CTX_set_num_tickets(ctx, 0);
	ossl.SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	if (ossl.SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		log_ssl_errors(LOG_ERR, "tls", cert);
		return -1;
	}
	if (ossl.SSL_CTX_use_PrivateKey_file(ctx, key,
	    SSL_FILETYPE_PEM) != 1 ||
	    ossl.SSL_CTX_check_private_key(ctx) != 1) {
		log_ssl_errors(LOG_ERR, "tls", key);
		return -1;
	}
	srv->state = SERVER_LOADED;
	return 0;
}

/* Wait until OpenSSL can go on after it returned err, at most timeout_ms
 * from t0 (-1: no limit). Returns 0 to retry; -1 with errno set when the
 * time is up (ETIMEDOUT), poll failed, or err is no "want" at all. */
static int
wait_for(struct tls_end *e, int err, const struct timespec *t0,
    int timeout_ms)
{
	struct pollfd pfd;
	long left = -1;
	int ready;

	if (err == SSL_ERROR_WANT_READ)
		pfd = (struct pollfd){ .fd = e->in_fd, .events = POLLIN };
	else if (err == SSL_ERROR_WANT_WRITE)
		pfd = (struct pollfd){ .fd = e->out_fd, .events = POLLOUT };
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
	struct tls_end *e = ctx;
	struct timespec t0;
	size_t n;
	int err;

	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ossl.ERR_clear_error();
		ossl_errno_clear();
		if (ossl.SSL_read_ex(e->ssl, buf, len, &n) == 1)
			return (ssize_t)n;
		ossl_errno_take();
		err = ossl.SSL_get_error(e->ssl, 0);
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
		if (wait_for(e, err, &t0, timeout_ms) < 0)
			return -1;
	}
}

static int
tls_write(void *ctx, const void *buf, size_t len, int timeout_ms)
{
	struct tls_end *e = ctx;
	const char *p = buf;
	struct timespec t0;
	size_t n;
	int err;

	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	while (len > 0) {
		ossl.ERR_clear_error();
		ossl_errno_clear();
		if (ossl.SSL_write_ex(e->ssl, p, len, &n) == 1) {
			p += n;
			len -= n;
			continue;
		}
		ossl_errno_take();
		err = ossl.SSL_get_error(e->ssl, 0);
		if (err == SSL_ERROR_SSL) {
			log_ssl_errors(LOG_INFO, "tls", "TLS write failed");
			errno = EPROTO;
			return -1;
		}
		/* As with plain writes, the whole write has timeout_ms. */
		if (wait_for(e, err, &t0, timeout_ms) < 0)
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

/* Make e's session over its descriptors, non-blocking, so that a peer
 * that stalls in the handshake or in a record cannot outlast a timeout.
 * Returns 0, or -1 after logging why at priority. */
static int
end_session(struct tls_end *e, int priority)
{
	if (e->ssl != NULL) {
		log_event(priority, "tls", "TLS already started");
		return -1;	/* one TLS session a connection */
	}
	if (set_nonblocking(e->in_fd) < 0 || set_nonblocking(e->out_fd) < 0) {
		log_event(priority, "tls", "cannot set O_NONBLOCK: %s",
		    strerror(errno));
		return -1;
	}
	ossl.ERR_clear_error();
	if ((e->ssl = ossl.SSL_new(e->ctx)) == NULL ||
	    ossl.SSL_set_rfd(e->ssl, e->in_fd) != 1 ||
	    ossl.SSL_set_wfd(e->ssl, e->out_fd) != 1) {
		log_ssl_errors(priority, "tls", "cannot start TLS");
		return -1;
	}
	return 0;
}

/* Run the handshake step (SSL_accept or SSL_connect) to its end within
 * timeout_ms. Returns 0 and makes e the transport; or -1, with OpenSSL's
 * errors still queued or errno set (ETIMEDOUT). */
static int
end_handshake(struct tls_end *e, int (*step)(SSL *), int timeout_ms)
{
	struct timespec t0;
	int err;

	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ossl.ERR_clear_error();
		ossl_errno_clear();
		if (step(e->ssl) == 1)
			break;
		ossl_errno_take();
		err = ossl.SSL_get_error(e->ssl, 0);
		if (err == SSL_ERROR_SYSCALL && errno == 0)
			err = SSL_ERROR_ZERO_RETURN;
		if (err == SSL_ERROR_ZERO_RETURN) {
			errno = ECONNRESET;	/* the peer hung up */
			return -1;
		}
		if (err == SSL_ERROR_SSL || err == SSL_ERROR_SYSCALL) {
			if (err == SSL_ERROR_SSL)
				errno = EPROTO;
			return -1;
		}
		if (wait_for(e, err, &t0, timeout_ms) < 0)
			return -1;
	}
	e->base.ops = &tls_ops;
	e->base.ctx = e;
	return 0;
}

/* Log why a handshake failed: OpenSSL's reason, or the system's. */
static void
log_handshake_failure(int priority)
{
	if (ossl.ERR_peek_error() != 0) {
		log_ssl_errors(priority, "tls", "TLS handshake failed");
		return;
	}
	log_event(priority, "tls", "TLS handshake failed: %s",
	    errno == ETIMEDOUT ? "timed out" : strerror(errno));
}

static int
tls_server_prepare(void *arg)
{
	return tls_server_load(arg);
}

static struct transport *
tls_server_start(void *arg, int timeout_ms)
{
	struct tls_end *e = &((struct tls_server *)arg)->end;

	if (tls_server_load(arg) < 0 || end_session(e, LOG_ERR) < 0)
		return NULL;
	if (end_handshake(e, ossl.SSL_accept, timeout_ms) < 0) {
		log_handshake_failure(LOG_INFO);
		return NULL;
	}
	log_event(LOG_INFO, "tls", "TLS started: %s, %s",
	    ossl.SSL_get_version(e->ssl),
	    ossl.SSL_CIPHER_get_name(ossl.SSL_get_current_cipher(e->ssl)));
	return &e->base;
}

void
tls_server_hook(struct tls_server *srv, int in_fd, int out_fd,
    struct tls_hook *hook)
{
	srv->end.in_fd = in_fd;
	srv->end.out_fd = out_fd;
	hook->prepare = tls_server_prepare;
	hook->start = tls_server_start;
	hook->arg = srv;
}

void
tls_server_free(struct tls_server *srv)
{
	if (srv == NULL)
		return;
	if (srv->end.ctx != NULL)	/* else libssl may not be loaded */
		end_free(&srv->end);
	free(srv->cert_file);
	free(srv->key_file);
	free(srv);
}

struct tls_client *
tls_client_new(const struct tls_client_config *cfg, const char *host)
{
	struct tls_client *cl;
	SSL_CTX *ctx;

	if (ossl_load() < 0)
		return NULL;
	if ((cl = calloc(1, sizeof(*cl))) == NULL) {
		log_event(LOG_ERR, "fatal", "TLS: out of memory");
		return NULL;
	}
	cl->end.in_fd = cl->end.out_fd = -1;
	if (str_copy(cl->host, sizeof(cl->host), host) < 0) {
		log_event(LOG_ERR, "fatal", "TLS: host name too long");
		goto fail;
	}
	cl->insecure = cfg->insecure;
	if (end_init(&cl->end, ossl.TLS_client_method(), LOG_ERR) < 0)
		goto fail;
	ctx = cl->end.ctx;
	/* The trust file replaces the system's store, as msmtp's and mpop's
	 * tls_trust_file do: a private CA is then the only one trusted. The
	 * system's store is OpenSSL's default (SSL_CERT_FILE, SSL_CERT_DIR). */
	if (cfg->trust_file != NULL ?
	    ossl.SSL_CTX_load_verify_locations(ctx, cfg->trust_file,
	    NULL) != 1 : ossl.SSL_CTX_set_default_verify_paths(ctx) != 1) {
		log_ssl_errors(LOG_ERR, "fatal", cfg->trust_file != NULL ?
		    cfg->trust_file : "TLS: the system's CA store");
		goto fail;
	}
	ossl.SSL_CTX_set_verify(ctx, cfg->insecure ? SSL_VERIFY_NONE :
	    SSL_VERIFY_PEER, NULL);
	return cl;
fail:
	tls_client_free(cl);
	return NULL;
}

/* Name the server for the session: its certificate must name host (an IP
 * address is matched against the certificate's IP addresses, a name
 * against its DNS names), and a name goes out as SNI. */
static int
client_expect_host(struct tls_client *cl)
{
	SSL *ssl = cl->end.ssl;
	unsigned char ip[sizeof(struct in6_addr)];
	bool is_ip = inet_pton(AF_INET, cl->host, ip) == 1 ||
	    inet_pton(AF_INET6, cl->host, ip) == 1;

	if (is_ip)
		return ossl.X509_VERIFY_PARAM_set1_ip_asc(
		    ossl.SSL_get0_param(ssl), cl->host) == 1 ? 0 : -1;
	if (ossl.SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME,
	    TLSEXT_NAMETYPE_host_name, cl->host) != 1)
		return -1;
	return ossl.SSL_set1_host(ssl, cl->host) == 1 ? 0 : -1;
}

static struct transport *
tls_client_start(void *arg, int timeout_ms)
{
	struct tls_client *cl = arg;
	struct tls_end *e = &cl->end;
	long verdict;

	if (end_session(e, LOG_ERR) < 0)
		return NULL;
	if (client_expect_host(cl) < 0) {
		log_ssl_errors(LOG_ERR, "tls", "TLS: cannot check the name");
		return NULL;
	}
	if (end_handshake(e, ossl.SSL_connect, timeout_ms) < 0) {
		/* A certificate that was not trusted says why; OpenSSL's own
		 * error would only say "certificate verify failed". */
		verdict = ossl.SSL_get_verify_result(e->ssl);
		if (!cl->insecure && verdict != X509_V_OK) {
			ossl.ERR_clear_error();
			log_event(LOG_ERR, "tls", "TLS: the certificate of %s "
			    "cannot be trusted: %s", cl->host,
			    ossl.X509_verify_cert_error_string(verdict));
		} else
			log_handshake_failure(LOG_ERR);
		return NULL;
	}
	log_event(LOG_INFO, "tls", "TLS started: %s, %s; certificate %s%s",
	    ossl.SSL_get_version(e->ssl),
	    ossl.SSL_CIPHER_get_name(ossl.SSL_get_current_cipher(e->ssl)),
	    cl->insecure ? "not checked (--insecure)" : "verified for ",
	    cl->insecure ? "" : cl->host);
	return &e->base;
}

void
tls_client_hook(struct tls_client *cl, int fd, struct tls_hook *hook)
{
	cl->end.in_fd = fd;
	cl->end.out_fd = fd;
	hook->prepare = NULL;	/* the context is made in tls_client_new */
	hook->start = tls_client_start;
	hook->arg = cl;
}

void
tls_client_free(struct tls_client *cl)
{
	if (cl == NULL)
		return;
	end_free(&cl->end);
	free(cl);
}

#endif
