/*-------------------------------------------------------------------------
 *
 * secrets.c
 *		  Credentials kept in files: client_secret_file, proxy_password_file.
 *
 * A secret file is read when a request needs it, checked like a private
 * key (a regular file of the server's user, no group or world access), and
 * read again whenever it changed, so a vault agent's rename rotates the
 * secret at the next request.  The transport (connection.c) reads the
 * proxy's password here and redacts the secrets it knows; auth.c reads the
 * client secret and is told, through defender_on_secret_rotation(), when
 * a secret changed so that no token fetched with the old one is reused.
 * This file calls nothing else of defender_fdw's: it sits below both.
 *
 * src/remote/secrets.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/fd.h"
#include "utils/memutils.h"

#include "defender_remote.h"

/*
 * A secret kept in a file (client_secret_file, proxy_password_file), as
 * last read, and what identified the file then: it is read again when any
 * of these changes, so replacing the file (a vault agent's rename) rotates
 * the secret at the next request.
 */
typedef struct SecretFile
{
	char	   *path;
	dev_t		dev;
	ino_t		ino;
	off_t		size;
	time_t		mtime_s;
	long		mtime_ns;
	char	   *secret;
} SecretFile;

#define SECRET_FILE_MAX_BYTES 65536

static List *secret_files = NIL;	/* of SecretFile, in TopMemoryContext */
static void (*rotation_callback) (void) = NULL;

/*
 * defender_on_secret_rotation
 *		Call callback whenever a secret file's content changed (auth.c drops
 *		its tokens).  One callback: auth.c is the only one that caches
 *		anything obtained with a secret.
 */
void
defender_on_secret_rotation(void (*callback) (void))
{
	rotation_callback = callback;
}

/*
 * defender_check_private_file
 *		A file that holds a credential (a private key, a secret) must be a
 *		regular file that belongs to the database server's operating system
 *		user and that nobody else can read, as PostgreSQL demands of its
 *		own ssl_key_file.
 */
void
defender_check_private_file(const char *path, const struct stat *st, const char *what)
{
	if (!S_ISREG(st->st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("%s \"%s\" is not a regular file", what, path)));
	if (st->st_uid != geteuid())
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("%s \"%s\" is not owned by the database server's operating system user", what, path),
				 errdetail("A file that holds a credential must belong to the user the server runs as."),
				 errhint("Run chown on the file to the server's user, and chmod 600.")));
	if (st->st_mode & (S_IRWXG | S_IRWXO))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("%s \"%s\" has group or world access", what, path),
				 errdetail("A file that holds a credential must be readable only by the database server's operating system user."),
				 errhint("Run chmod 600 on the file (and chown it to the server's user).")));
}

/*
 * defender_secret_file
 *		The secret in a client_secret_file or proxy_password_file: the
 *		file's content without one trailing newline, read again whenever
 *		the file changed (device, inode, size or modification time to the
 *		nanosecond).
 *
 * The file is checked as a private key is (defender_check_private_file) on the
 * descriptor that is read, so a file swapped in between is not read
 * unchecked.  When a file's secret changes, every cached token is
 * dropped: the next request fetches one with the new secret.  The
 * returned string belongs to the cache.
 */
const char *
defender_secret_file(const char *path, const char *option)
{
	SecretFile *entry = NULL;
	ListCell   *lc;
	struct stat st;
	int			fd;
	char	   *buf;
	ssize_t		got;
	size_t		len;
	MemoryContext old;

	foreach(lc, secret_files)
	{
		if (strcmp(((SecretFile *) lfirst(lc))->path, path) == 0)
		{
			entry = (SecretFile *) lfirst(lc);
			break;
		}
	}

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open %s \"%s\": %m", option, path)));
	if (fstat(fd, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat %s \"%s\": %m", option, path)));
	defender_check_private_file(path, &st, option);
	if (entry && entry->dev == st.st_dev && entry->ino == st.st_ino &&
		entry->size == st.st_size && entry->mtime_s == st.st_mtim.tv_sec &&
		entry->mtime_ns == st.st_mtim.tv_nsec)
	{
		CloseTransientFile(fd);
		return entry->secret;
	}
	if (st.st_size > SECRET_FILE_MAX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("%s \"%s\" is larger than %d bytes", option, path, SECRET_FILE_MAX_BYTES)));

	buf = palloc(SECRET_FILE_MAX_BYTES + 1);
	got = read(fd, buf, SECRET_FILE_MAX_BYTES + 1);
	if (got < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read %s \"%s\": %m", option, path)));
	CloseTransientFile(fd);
	len = (size_t) got;
	if (len > 0 && buf[len - 1] == '\n')
	{
		len--;
		if (len > 0 && buf[len - 1] == '\r')
			len--;
	}
	buf[len] = '\0';
	if (len == 0 || len > SECRET_FILE_MAX_BYTES || strlen(buf) != len)
	{
		explicit_bzero(buf, SECRET_FILE_MAX_BYTES + 1);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("%s \"%s\" holds no usable secret", option, path),
				 errdetail("The file must hold the secret itself, optionally followed by one newline, with no NUL byte, at most %d bytes.",
						   SECRET_FILE_MAX_BYTES)));
	}

	old = MemoryContextSwitchTo(TopMemoryContext);
	if (entry == NULL)
	{
		entry = palloc0(sizeof(SecretFile));
		entry->path = pstrdup(path);
		secret_files = lappend(secret_files, entry);
	}
	if (entry->secret)
	{
		/* a rotated secret: no token fetched with the old one is reused */
		if (strcmp(entry->secret, buf) != 0 && rotation_callback != NULL)
			rotation_callback();
		explicit_bzero(entry->secret, strlen(entry->secret));
		pfree(entry->secret);
	}
	entry->secret = pstrdup(buf);
	entry->dev = st.st_dev;
	entry->ino = st.st_ino;
	entry->size = st.st_size;
	entry->mtime_s = st.st_mtim.tv_sec;
	entry->mtime_ns = st.st_mtim.tv_nsec;
	MemoryContextSwitchTo(old);
	explicit_bzero(buf, SECRET_FILE_MAX_BYTES + 1);
	pfree(buf);
	return entry->secret;
}

/* The secret last read from path, or NULL; reads nothing (for redaction). */
const char *
defender_secret_file_cached(const char *path)
{
	ListCell   *lc;

	foreach(lc, secret_files)
	{
		if (strcmp(((SecretFile *) lfirst(lc))->path, path) == 0)
			return ((SecretFile *) lfirst(lc))->secret;
	}
	return NULL;
}

/* The mapping's client secret: client_secret, or client_secret_file's content. */
const char *
defender_client_secret(const DefenderOptions *opts)
{
	if (opts->client_secret_file)
		return defender_secret_file(opts->client_secret_file, "client_secret_file");
	return opts->client_secret;
}

/* The proxy's password: proxy_password, or proxy_password_file's content. */
const char *
defender_proxy_password(const DefenderOptions *opts)
{
	if (opts->proxy_password_file)
		return defender_secret_file(opts->proxy_password_file, "proxy_password_file");
	return opts->proxy_password;
}
