/*
 * The Lua director's rows, as a database could return them, through the
 * real parsing and grouping: a listing (the list job, row by row), the
 * pool built from it and the engine's host list, then a command job fed
 * the same rows as its locked SELECT and driven to its end. The input:
 *
 *   byte 0        the command (bits 0-1), the dialect (bits 2-3), whether
 *                 statements after the SELECT fail (bit 4)
 *   byte 1        UPDATE's affected count
 *   the rest      rows, '\n' between them, cells '\t' between them
 *                 (at most 8); a cell "\N" is SQL NULL; NUL bytes kept
 *
 * Asserts: no crash; each backend's address once, sorted; every placed
 * row in exactly one backend; a backend is up iff all its rows are 0;
 * the command ends within a bounded number of statements, and commits
 * only what its rows allow (never over an operator's state).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luadir_job.h"
#include "luadir_rows.h"
#include "router.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_CELLS	8
#define MAX_STEPS	16

/* Each row of the input through fn(job). */
static void
feed_rows(struct luadir_job *job, const uint8_t *data, size_t size)
{
	const char *cells[MAX_CELLS];
	size_t lens[MAX_CELLS], n = 0, start = 0, i;
	char *copy = malloc(size + 1);

	if (copy == NULL)
		return;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (i = 0; i <= size; i++) {
		if (i < size && copy[i] != '\t' && copy[i] != '\n')
			continue;
		if (n < MAX_CELLS) {
			size_t len = i - start;

			if (len == 2 && memcmp(copy + start, "\\N", 2) == 0)
				cells[n] = NULL, lens[n] = 0;
			else
				cells[n] = copy + start, lens[n] = len;
			n++;
		}
		/* NUL-terminate the cell where its separator was; a NUL
		 * inside stays, and its length tells. */
		if (i < size) {
			bool end_row = copy[i] == '\n';

			copy[i] = '\0';
			if (end_row) {
				(void)luadir_job_row(job, cells, lens, n);
				n = 0;
			}
		}
		start = i + 1;
	}
	if (n > 0)
		(void)luadir_job_row(job, cells, lens, n);
	free(copy);
}

static void
check_pool(const struct luadir_pool *pool, size_t nrows)
{
	struct router_host_list list;
	size_t i, j, rows = 0;

	if (pool->nrows + pool->unplaced != nrows)
		abort();
	for (i = 0; i < pool->nbackends; i++) {
		const struct luadir_backend *b = &pool->backends[i];
		bool all0 = true;

		if (i > 0 && strcmp(pool->backends[i - 1].ip, b->ip) >= 0)
			abort();
		if (b->first != rows || b->n == 0)
			abort();
		for (j = b->first; j < b->first + b->n; j++) {
			if (strcmp(pool->rows[j].addr, b->ip) != 0)
				abort();
			all0 = all0 && pool->rows[j].state == 0;
		}
		if (b->up != all0 || (b->up && b->state != 0) ||
		    (!b->up && b->state == 0))
			abort();
		if (luadir_pool_find(pool, b->ip) != b)
			abort();
		rows += b->n;
	}
	if (rows != pool->nrows)
		abort();
	if (luadir_pool_list(pool, &list) < 0)
		return;
	if (list.n != pool->nbackends)
		abort();
	for (i = 0; i < list.n; i++)
		if (strcmp(list.hosts[i].ip, pool->backends[i].ip) != 0 ||
		    list.hosts[i].tag == NULL)
			abort();
	router_host_list_free(&list);
}

static void
listing(enum luadir_kind kind, const uint8_t *data, size_t size)
{
	struct luadir_job *job = luadir_job_new(LUADIR_JOB_LIST, kind,
	    ROUTER_DOWN, NULL, NULL, 0);
	struct luadir_stmt_end end = { .readonly = -1 };
	struct luadir_pool pool;
	size_t i, nrows;

	if (job == NULL)
		return;
	if (luadir_job_next(job, NULL) == NULL)
		abort();
	feed_rows(job, data, size);
	if (luadir_job_next(job, &end) != NULL || !job->done)
		abort();
	/* Names "resolve" to an address of their own, or not at all. */
	for (i = 0; i < job->nrows; i++)
		if (job->rows[i].addr[0] == '\0' &&
		    (job->rows[i].hostname[0] & 1))
			snprintf(job->rows[i].addr, sizeof(job->rows[i].addr),
			    "192.0.2.%u", (unsigned char)
			    job->rows[i].hostname[1] % 4);
	nrows = job->nrows;
	if (luadir_pool_build(&pool, job->rows, job->nrows) == 0) {
		check_pool(&pool, nrows);
		luadir_pool_free(&pool);
	}
	job->rows = NULL;
	luadir_job_free(job);
}

static void
command(uint8_t how, uint8_t changed, const uint8_t *data, size_t size)
{
	static const enum router_cmd cmds[] = { ROUTER_DOWN,
	    ROUTER_DOWN_FLUSH, ROUTER_FLUSH, ROUTER_UP };
	int32_t known[] = { 1, 2, 3 };
	enum router_cmd cmd = cmds[how & 3];
	enum luadir_kind kind = (enum luadir_kind)((how >> 2) % 3);
	struct luadir_stmt_end end = { .readonly = -1 };
	struct luadir_job *job = luadir_job_new(LUADIR_JOB_COMMAND, kind, cmd,
	    "192.0.2.1", known, 3);
	const char *sql;
	bool operator = false;
	size_t i, steps = 0;

	if (job == NULL)
		return;
	for (sql = luadir_job_next(job, NULL); sql != NULL;
	    sql = luadir_job_next(job, &end)) {
		if (++steps > MAX_STEPS || strchr(sql, ';') != NULL)
			abort();
		memset(&end, 0, sizeof(end));
		end.readonly = -1;
		if (strncmp(sql, "SELECT", 6) == 0)
			feed_rows(job, data, size);
		else if (strncmp(sql, "UPDATE", 6) == 0)
			end.affected = changed;
		if ((how & 16) && strncmp(sql, "SELECT", 6) != 0 &&
		    strncmp(sql, "BEGIN", 5) != 0 &&
		    strncmp(sql, "START", 5) != 0) {
			end.error = -5;
			end.errmsg = "fuzzed failure";
		}
	}
	if (!job->done)
		abort();
	for (i = 0; i < job->nrows; i++)
		if (job->rows[i].state != 0 &&
		    job->rows[i].state != ROUTER_STATE_POOLMON)
			operator = true;
	/* An operator's state is never overwritten by a down or an up. */
	if (job->committed && operator && (cmd == ROUTER_DOWN ||
	    cmd == ROUTER_DOWN_FLUSH || cmd == ROUTER_UP))
		abort();
	if (job->committed && (job->error != 0 ||
	    job->reply != ROUTER_REPLY_OK))
		abort();
	luadir_job_free(job);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	listing((enum luadir_kind)((data[0] >> 2) % 3), data + 2, size - 2);
	command(data[0], data[1], data + 2, size - 2);
	return 0;
}
