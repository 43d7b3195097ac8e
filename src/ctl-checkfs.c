/* SPDX-License-Identifier: MIT */
/* sockmailctl check: a file system under the mail root that loses mail
 * when several hosts serve it (sockmailctl(8), CHECK).
 *
 * Every guarantee across hosts rests on fcntl locks that the file
 * system's server keeps for all its clients. A client can be told to
 * keep them to itself: NFS with nolock or local_lock=posix|all, SMB with
 * nobrl; a FUSE file system keeps them in the local kernel unless it
 * implements them (GlusterFS and CephFS do; sshfs and most others do
 * not). Each of those loses mail as soon as two hosts deliver to one
 * mailbox, and the mount's type and options, in /proc/self/mountinfo,
 * tell. GlusterFS's client caches (write-behind, stat-prefetch,
 * quick-read, open-behind, on by default) need no option: the handlers
 * look past them (sockmail-mailbox(5)), so no volume option is
 * checked. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "ctl.h"
#include "ctl-check.h"

/* A FUSE file system that keeps fcntl locks on its servers. */
static const char *const fuse_with_locks[] = {
	"fuse.glusterfs",
	"fuse.ceph-fuse",
	"fuse.ceph",
};

/* Whether the comma-separated list opts holds opt (exactly, or as
 * "opt=value" when opt ends in '='). */
static bool
has_option(const char *opts, const char *opt)
{
	size_t n = strlen(opt);
	const char *p = opts;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, opt, n) == 0 &&
		    (opt[n - 1] == '=' || p[n] == ',' || p[n] == '\0'))
			return true;
		p = strchr(p, ',');
		if (p != NULL)
			p++;
	}
	return false;
}

static void
judge(struct check *k, const char *fstype, const char *mount_opts,
    const char *super_opts)
{
	size_t i;

	if (strcmp(fstype, "nfs") == 0 || strcmp(fstype, "nfs4") == 0) {
		if (has_option(super_opts, "nolock") ||
		    has_option(mount_opts, "nolock") ||
		    has_option(super_opts, "local_lock=all") ||
		    has_option(super_opts, "local_lock=posix"))
			check_problem(k, "", "on NFS mounted with nolock or "
			    "local_lock=posix|all: fcntl locks stay on this "
			    "host, so hosts sharing it lose mail (mount "
			    "without them, local_lock=none)");
		return;
	}
	if (strcmp(fstype, "cifs") == 0 || strcmp(fstype, "smb3") == 0) {
		if (has_option(super_opts, "nobrl"))
			check_problem(k, "", "on SMB mounted with nobrl: fcntl "
			    "locks stay on this host, so hosts sharing it "
			    "lose mail (mount without nobrl)");
		return;
	}
	if (strncmp(fstype, "fuse.", 5) != 0 && strcmp(fstype, "fuse") != 0)
		return;
	for (i = 0; i < sizeof(fuse_with_locks) / sizeof(fuse_with_locks[0]);
	    i++)
		if (strcmp(fstype, fuse_with_locks[i]) == 0)
			return;
	check_problem(k, "", "on FUSE file system %s, whose fcntl locks stay "
	    "on this host: serve it from this host alone, or use GlusterFS, "
	    "CephFS or NFS", fstype);
}

/* Field i (from 0) of a mountinfo line, split in place on spaces. */
static int
split(char *line, char **fields, int max)
{
	int n = 0;
	char *p = line;

	while (n < max) {
		while (*p == ' ' || *p == '\n')
			*p++ = '\0';
		if (*p == '\0')
			break;
		fields[n++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\n')
			p++;
	}
	return n;
}

void
check_file_system(struct check *k)
{
	char *line = NULL, *fields[32], want[64], *type = NULL, *mopts = NULL,
	    *sopts = NULL;
	const char *path;
	struct stat st;
	size_t cap = 0;
	int n, dash;
	FILE *f;

	if (fstat(k->c->root_fd, &st) < 0)
		return;
	/* SOCKMAILCTL_MOUNTINFO: another file in that format, for tests. */
	path = getenv("SOCKMAILCTL_MOUNTINFO");
	if (path == NULL || path[0] == '\0')
		path = "/proc/self/mountinfo";
	f = fopen(path, "re");
	if (f == NULL) {
		check_problem(k, "", "cannot tell its file system: %s: %s",
		    path, strerror(errno));
		return;
	}
	(void)snprintf(want, sizeof(want), "%u:%u", major(st.st_dev),
	    minor(st.st_dev));
	/* proc(5): ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS [TAGS...]
	 * - TYPE SOURCE SUPEROPTIONS. The last mount of the device wins:
	 * it is the one on top. */
	while (getline(&line, &cap, f) > 0) {
		n = split(line, fields, 32);
		if (n < 7 || strcmp(fields[2], want) != 0)
			continue;
		for (dash = 6; dash < n && strcmp(fields[dash], "-") != 0; dash++)
			continue;
		if (dash + 1 >= n)
			continue;
		free(type);
		free(mopts);
		free(sopts);
		type = strdup(fields[dash + 1]);
		mopts = strdup(fields[5]);
		sopts = strdup(dash + 3 < n ? fields[dash + 3] : "");
		if (type == NULL || mopts == NULL || sopts == NULL)
			break;
	}
	(void)fclose(f);
	free(line);
	if (type != NULL && mopts != NULL && sopts != NULL)
		judge(k, type, mopts, sopts);
	free(type);
	free(mopts);
	free(sopts);
}
