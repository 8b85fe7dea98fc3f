/*
 * The Lua director's SQLite file, off the loop: SQLite waits for locks
 * and fsyncs inside its calls, so one worker thread owns the connection
 * and runs each job whole. The loop hands it a job and hears of its end
 * through an eventfd. Waits are bounded by the job's deadline: the busy
 * timeout ends short of it, a progress handler and sqlite3_interrupt()
 * end a statement that runs past it. What cannot be interrupted (an
 * fsync that hangs) keeps the worker, never the loop: the loop abandons
 * the job at its deadline, and later jobs wait, each up to its own
 * deadline, until the worker is free again; the connection is then
 * closed and opened afresh. The worker blocks every signal and runs
 * nothing but SQLite and the job (luadir_job.c, which has no globals).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <sqlite3.h>

#include "dlib.h"
#include "luadir_db.h"
#include "util.h"

/* Of the time left, kept back from the busy timeout: the job still has
 * the time to say why it stopped. */
#define BUSY_MARGIN_MS	100
#define MAX_COLS	8

struct sqlite_api {
	__typeof__(sqlite3_open_v2) *open_v2;
	__typeof__(sqlite3_close_v2) *close_v2;
	__typeof__(sqlite3_prepare_v2) *prepare_v2;
	__typeof__(sqlite3_step) *step;
	__typeof__(sqlite3_finalize) *finalize;
	__typeof__(sqlite3_column_count) *column_count;
	__typeof__(sqlite3_column_type) *column_type;
	__typeof__(sqlite3_column_text) *column_text;
	__typeof__(sqlite3_column_bytes) *column_bytes;
	__typeof__(sqlite3_changes) *changes;
	__typeof__(sqlite3_errmsg) *errmsg;
	__typeof__(sqlite3_errstr) *errstr;
	__typeof__(sqlite3_busy_timeout) *busy_timeout;
	__typeof__(sqlite3_interrupt) *interrupt;
	__typeof__(sqlite3_progress_handler) *progress_handler;
	__typeof__(sqlite3_db_readonly) *db_readonly;
};

static struct sqlite_api sq;
static const struct dlib_sym sq_syms[] = {
	DLIB_SYM(struct sqlite_api, open_v2, sqlite3_open_v2),
	DLIB_SYM(struct sqlite_api, close_v2, sqlite3_close_v2),
	DLIB_SYM(struct sqlite_api, prepare_v2, sqlite3_prepare_v2),
	DLIB_SYM(struct sqlite_api, step, sqlite3_step),
	DLIB_SYM(struct sqlite_api, finalize, sqlite3_finalize),
	DLIB_SYM(struct sqlite_api, column_count, sqlite3_column_count),
	DLIB_SYM(struct sqlite_api, column_type, sqlite3_column_type),
	DLIB_SYM(struct sqlite_api, column_text, sqlite3_column_text),
	DLIB_SYM(struct sqlite_api, column_bytes, sqlite3_column_bytes),
	DLIB_SYM(struct sqlite_api, changes, sqlite3_changes),
	DLIB_SYM(struct sqlite_api, errmsg, sqlite3_errmsg),
	DLIB_SYM(struct sqlite_api, errstr, sqlite3_errstr),
	DLIB_SYM(struct sqlite_api, busy_timeout, sqlite3_busy_timeout),
	DLIB_SYM(struct sqlite_api, interrupt, sqlite3_interrupt),
	DLIB_SYM(struct sqlite_api, progress_handler, sqlite3_progress_handler),
	DLIB_SYM(struct sqlite_api, db_readonly, sqlite3_db_readonly),
};
static struct dlib sq_lib = DLIB_INIT("libsqlite3.so.0", "libsqlite3-0",
    sq_syms, &sq);

/* Between the loop and the worker, under mu. */
struct shared {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct luadir_job *job;		/* handed over, until collected */
	int64_t deadline;
	bool running;			/* the worker is on job */
	bool finished;			/* job is over: the loop collects it */
	bool abandoned;			/* the loop gave up on job */
	bool quit;
	bool orphaned;			/* the loop side is gone */
	sqlite3 *db;			/* the worker's; closed under mu */
	int efd;			/* worker -> loop: "free again" */
	char path[PATH_MAX];
};

struct luadir_sqlite {
	struct luadir_db base;
	sd_event *event;
	struct shared *sh;
	pthread_t thread;
	bool thread_started;
	sd_event_source *io;		/* the eventfd */
	struct luadir_job *waiting;	/* the worker is not free yet */
	int64_t waiting_deadline;
};

/* ------------------------------------------------------------------ */
/* The worker */

static int
sqlite_errno(int rc, bool *unreachable)
{
	*unreachable = true;
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_INTERRUPT:
		return -ETIMEDOUT;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_IOERR:
	case SQLITE_FULL:
		return -EIO;
	case SQLITE_READONLY:
		*unreachable = false;
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		*unreachable = false;
		return -EACCES;
	}
	*unreachable = false;
	return -EIO;
}

static int
progress(void *arg)
{
	const int64_t *deadline = arg;

	return now_ms() >= *deadline;
}

static int
open_db(struct shared *sh, struct luadir_job *job)
{
	sqlite3 *db = NULL;
	bool unreachable;
	int rc;

	rc = sq.open_v2(sh->path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		luadir_job_fail(job, sqlite_errno(rc, &unreachable), true,
		    "cannot open %s: %s", sh->path, db != NULL ?
		    sq.errmsg(db) : sq.errstr(rc));
		if (db != NULL)
			sq.close_v2(db);
		return -1;
	}
	pthread_mutex_lock(&sh->mu);
	sh->db = db;
	pthread_mutex_unlock(&sh->mu);
	return 0;
}

static void
close_db(struct shared *sh)
{
	sqlite3 *db;

	pthread_mutex_lock(&sh->mu);
	db = sh->db;
	sh->db = NULL;
	pthread_mutex_unlock(&sh->mu);
	if (db != NULL)
		sq.close_v2(db);
}

/* One statement: its rows to the job, its end into end. */
static void
run_stmt(sqlite3 *db, struct luadir_job *job, const char *sql,
    struct luadir_stmt_end *end, char *errbuf, size_t errlen)
{
	const char *cells[MAX_COLS];
	size_t lens[MAX_COLS];
	sqlite3_stmt *st = NULL;
	int rc, i, ncols;

	memset(end, 0, sizeof(*end));
	end->readonly = sq.db_readonly(db, "main");
	rc = sq.prepare_v2(db, sql, -1, &st, NULL);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		if ((rc = sq.step(st)) != SQLITE_ROW)
			break;
		ncols = sq.column_count(st);
		if (ncols > MAX_COLS)
			ncols = MAX_COLS;
		for (i = 0; i < ncols; i++) {
			if (sq.column_type(st, i) == SQLITE_NULL) {
				cells[i] = NULL;
				lens[i] = 0;
				continue;
			}
			cells[i] = (const char *)sq.column_text(st, i);
			lens[i] = (size_t)sq.column_bytes(st, i);
			if (cells[i] == NULL)
				lens[i] = 0;
		}
		if (luadir_job_row(job, cells, lens, (size_t)ncols) < 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE && rc != SQLITE_OK) {
		end->error = sqlite_errno(rc, &end->unreachable);
		snprintf(errbuf, errlen, "%s", (rc & 0xff) == SQLITE_BUSY ?
		    "the database is locked" : sq.errmsg(db));
		end->errmsg = errbuf;
	}
	end->affected = sq.changes(db);
	if (st != NULL)
		sq.finalize(st);
}

static void
run_job(struct shared *sh, struct luadir_job *job, int64_t deadline)
{
	struct luadir_stmt_end end;
	char errbuf[256];
	const char *sql;
	int64_t left;

	if (sh->db == NULL && open_db(sh, job) < 0)
		return;
	left = deadline - now_ms() - BUSY_MARGIN_MS;
	sq.busy_timeout(sh->db, left > 0 ? (int)(left < INT32_MAX ? left :
	    INT32_MAX) : 0);
	sq.progress_handler(sh->db, 1000, progress, &deadline);
	for (sql = luadir_job_next(job, NULL); sql != NULL;
	    sql = luadir_job_next(job, &end))
		run_stmt(sh->db, job, sql, &end, errbuf, sizeof(errbuf));
	sq.progress_handler(sh->db, 0, NULL, NULL);
	/* An error may leave a transaction or a lock: a fresh connection
	 * for the next job. */
	if (job->error != 0)
		close_db(sh);
}

static void
shared_free(struct shared *sh)
{
	if (sh->db != NULL)
		sq.close_v2(sh->db);
	if (sh->efd >= 0)
		close(sh->efd);
	luadir_job_free(sh->job);
	pthread_cond_destroy(&sh->cv);
	pthread_mutex_destroy(&sh->mu);
	free(sh);
}

static void *
worker(void *arg)
{
	struct shared *sh = arg;
	struct luadir_job *job;
	uint64_t one = 1;
	int64_t deadline;

	pthread_mutex_lock(&sh->mu);
	for (;;) {
		while (!sh->quit && (sh->job == NULL || sh->finished))
			pthread_cond_wait(&sh->cv, &sh->mu);
		if (sh->quit)
			break;
		job = sh->job;
		deadline = sh->deadline;
		sh->running = true;
		pthread_mutex_unlock(&sh->mu);

		run_job(sh, job, deadline);

		pthread_mutex_lock(&sh->mu);
		sh->running = false;
		if (sh->abandoned) {
			/* Nobody waits for it: gone, and so is the
			 * connection it may have left stuck. */
			sh->job = NULL;
			sh->abandoned = false;
			pthread_mutex_unlock(&sh->mu);
			luadir_job_free(job);
			close_db(sh);
			pthread_mutex_lock(&sh->mu);
		} else
			sh->finished = true;
		if (sh->quit)
			break;
		if (write(sh->efd, &one, sizeof(one)) < 0) {
			/* Full (it cannot be) or closed: the loop is gone. */
		}
	}
	if (sh->orphaned) {
		pthread_mutex_unlock(&sh->mu);
		shared_free(sh);
		return NULL;
	}
	pthread_mutex_unlock(&sh->mu);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The loop's side */

static int
start_worker(struct luadir_sqlite *s, char *err, size_t errlen)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&s->thread, NULL, worker, s->sh);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return err_set(err, errlen, -r, "SQLite worker thread: %s",
		    strerror(r));
	s->thread_started = true;
	return 0;
}

/* Under mu: the worker is free for job. */
static void
hand_over(struct luadir_sqlite *s, struct luadir_job *job, int64_t deadline)
{
	s->sh->job = job;
	s->sh->deadline = deadline;
	s->sh->finished = false;
	s->sh->abandoned = false;
	pthread_cond_signal(&s->sh->cv);
}

static int
on_event(sd_event_source *src, int fd, uint32_t revents, void *arg)
{
	struct luadir_sqlite *s = arg;
	struct luadir_job *job = NULL;
	uint64_t n;

	(void)src;
	(void)revents;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return 0;
	pthread_mutex_lock(&s->sh->mu);
	if (s->sh->finished) {
		job = s->sh->job;
		s->sh->job = NULL;
		s->sh->finished = false;
	}
	/* The worker is free: a job that waited for it goes now. */
	if (s->sh->job == NULL && s->waiting != NULL) {
		hand_over(s, s->waiting, s->waiting_deadline);
		s->waiting = NULL;
	}
	pthread_mutex_unlock(&s->sh->mu);
	if (job != NULL)
		s->base.done(job, s->base.done_arg);
	return 0;
}

static int
sqlite_run(struct luadir_db *db, struct luadir_job *job, int64_t deadline,
    char *err, size_t errlen)
{
	struct luadir_sqlite *s = (struct luadir_sqlite *)db;
	int r;

	if (s->waiting != NULL)
		return err_set(err, errlen, -EBUSY, "a job is waiting already");
	if (!s->thread_started && (r = start_worker(s, err, errlen)) < 0)
		return r;
	pthread_mutex_lock(&s->sh->mu);
	if (s->sh->job == NULL)
		hand_over(s, job, deadline);
	else {
		/* Still on an abandoned job (a stuck fsync, say). */
		s->waiting = job;
		s->waiting_deadline = deadline;
	}
	pthread_mutex_unlock(&s->sh->mu);
	return 0;
}

static void
sqlite_abandon(struct luadir_db *db)
{
	struct luadir_sqlite *s = (struct luadir_sqlite *)db;
	struct luadir_job *drop = NULL;

	if (s->waiting != NULL) {
		luadir_job_free(s->waiting);
		s->waiting = NULL;
		return;
	}
	pthread_mutex_lock(&s->sh->mu);
	if (s->sh->job != NULL && s->sh->finished) {
		/* Over, not yet collected: it goes here. */
		drop = s->sh->job;
		s->sh->job = NULL;
		s->sh->finished = false;
	} else if (s->sh->job != NULL) {
		s->sh->abandoned = true;
		if (s->sh->db != NULL)
			sq.interrupt(s->sh->db);
	}
	pthread_mutex_unlock(&s->sh->mu);
	luadir_job_free(drop);
}

static void
sqlite_free(struct luadir_db *db)
{
	struct luadir_sqlite *s = (struct luadir_sqlite *)db;
	bool busy;

	if (s == NULL)
		return;
	s->io = sd_event_source_disable_unref(s->io);
	luadir_job_free(s->waiting);
	if (!s->thread_started) {
		shared_free(s->sh);
		free(s);
		return;
	}
	pthread_mutex_lock(&s->sh->mu);
	s->sh->quit = true;
	busy = s->sh->running;
	if (busy) {
		/* Never waited for: it frees what is shared when it is
		 * done. */
		s->sh->orphaned = true;
		if (s->sh->db != NULL)
			sq.interrupt(s->sh->db);
	}
	pthread_cond_signal(&s->sh->cv);
	pthread_mutex_unlock(&s->sh->mu);
	if (busy)
		pthread_detach(s->thread);
	else {
		pthread_join(s->thread, NULL);
		shared_free(s->sh);
	}
	free(s);
}

static const struct luadir_db_ops sqlite_ops = {
	.run = sqlite_run,
	.abandon = sqlite_abandon,
	.free = sqlite_free,
};

int
luadir_sqlite_new(sd_event *event, const struct luadir_dsn *dsn,
    int timeout_ms, luadir_db_done_fn *done, void *arg,
    struct luadir_db **out, char *err, size_t errlen)
{
	struct luadir_sqlite *s;
	int r;

	(void)timeout_ms;
	*out = NULL;
	if ((r = dlib_load(&sq_lib, "--lua-director (SQLite)", err,
	    errlen)) < 0)
		return r;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->sh = calloc(1, sizeof(*s->sh))) == NULL) {
		free(s);
		return err_set(err, errlen, -ENOMEM, "out of memory");
	}
	s->base.ops = &sqlite_ops;
	s->base.done = done;
	s->base.done_arg = arg;
	s->event = event;
	pthread_mutex_init(&s->sh->mu, NULL);
	pthread_cond_init(&s->sh->cv, NULL);
	str_copy(s->sh->path, dsn->path, sizeof(s->sh->path));
	s->sh->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->sh->efd < 0) {
		r = -errno;
		sqlite_free(&s->base);
		return err_set(err, errlen, r, "eventfd: %s", strerror(-r));
	}
	if ((r = sd_event_add_io(event, &s->io, s->sh->efd, EPOLLIN, on_event,
	    s)) < 0) {
		sqlite_free(&s->base);
		return err_set(err, errlen, r, "sd_event_add_io: %s",
		    strerror(-r));
	}
	*out = &s->base;
	return 0;
}
