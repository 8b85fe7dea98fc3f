/*
 * calibrate: what this machine charges for the pieces of a check process,
 * measured apart from poolmond, so that make bench can say what bounds
 * its figures. CPU times (user + system) of this program and its children.
 *
 *   calibrate IP PORT CAFILE NAME [ROUNDS]
 *
 * IP:PORT speaks implicit TLS with a certificate for NAME signed by CAFILE.
 * Prints "key value unit" lines:
 *   fork_exit        a process forked and reaped, doing nothing
 *   page_first_touch reading one page the parent had written, first time
 *                    in a new process (no page fault: address-space cost)
 *   tls_warm         one TLS handshake (verified) in a process that has
 *                    done one before: the cryptography and the network
 *   tls_fresh        a process forked to do one TLS handshake, reaped
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define TOUCH_PAGES	2000

struct target {
	struct sockaddr_in sin;
	SSL_CTX *ctx;
	const char *name;
};

/* CPU seconds of this process (RUSAGE_SELF) or its reaped children. */
static double
cpu_s(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double
cpu_all(void)
{
	return cpu_s(RUSAGE_SELF) + cpu_s(RUSAGE_CHILDREN);
}

static int
handshake(const struct target *t)
{
	char buf[512];
	SSL *ssl;
	int fd, ok;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)&t->sin, sizeof(t->sin)) < 0) {
		close(fd);
		return -1;
	}
	ssl = SSL_new(t->ctx);
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, t->name);
	SSL_set1_host(ssl, t->name);
	ok = SSL_connect(ssl) == 1 && SSL_read(ssl, buf, sizeof(buf)) > 0;
	if (!ok)
		ERR_print_errors_fp(stderr);
	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
	return ok ? 0 : -1;
}

/* Fork rounds children that each run what(), reap them: CPU per child. */
static double
per_child(int rounds, void (*what)(const void *), const void *arg)
{
	double c0 = cpu_all();
	int i, status, failed = 0;
	pid_t pid;

	for (i = 0; i < rounds; i++) {
		if ((pid = fork()) < 0) {
			perror("fork");
			exit(1);
		}
		if (pid == 0) {
			what(arg);
			_exit(0);
		}
		if (waitpid(pid, &status, 0) < 0 || status != 0)
			failed++;
	}
	if (failed) {
		fprintf(stderr, "calibrate: %d children failed\n", failed);
		exit(1);
	}
	return (cpu_all() - c0) / rounds;
}

static void
do_nothing(const void *arg)
{
	(void)arg;
}

static void
touch_pages(const void *arg)
{
	const volatile char *pages = arg;
	unsigned int sum = 0;
	size_t i;

	for (i = 0; i < TOUCH_PAGES; i++)
		sum += (unsigned char)pages[i * 4096];
	if (sum != TOUCH_PAGES)
		_exit(1);
}

static void
one_handshake(const void *arg)
{
	if (handshake(arg) < 0)
		_exit(1);
}

int
main(int argc, char **argv)
{
	struct target t = { .sin = { .sin_family = AF_INET } };
	int rounds = argc > 5 ? atoi(argv[5]) : 200, i;
	char *pages;
	double c0, fork_exit, touched;

	if (argc < 5 || rounds <= 0) {
		fprintf(stderr, "usage: calibrate IP PORT CAFILE NAME [ROUNDS]\n");
		return 2;
	}
	if (inet_pton(AF_INET, argv[1], &t.sin.sin_addr) != 1) {
		fprintf(stderr, "calibrate: bad address %s\n", argv[1]);
		return 2;
	}
	t.sin.sin_port = htons((uint16_t)atoi(argv[2]));
	t.name = argv[4];
	t.ctx = SSL_CTX_new(TLS_client_method());
	if (t.ctx == NULL || SSL_CTX_load_verify_locations(t.ctx, argv[3],
	    NULL) != 1) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	SSL_CTX_set_verify(t.ctx, SSL_VERIFY_PEER, NULL);

	/* As poolmond: one handshake first, so the children share its caches. */
	if (handshake(&t) < 0) {
		fprintf(stderr, "calibrate: TLS to %s:%s failed\n", argv[1],
		    argv[2]);
		return 1;
	}
	if ((pages = malloc((size_t)TOUCH_PAGES * 4096)) == NULL)
		return 1;
	for (i = 0; i < TOUCH_PAGES; i++)
		pages[(size_t)i * 4096] = 1;

	fork_exit = per_child(rounds, do_nothing, NULL);
	touched = per_child(rounds, touch_pages, pages);
	free(pages);
	printf("fork_exit %.3f ms\n", fork_exit * 1e3);
	printf("page_first_touch %.2f us\n",
	    (touched - fork_exit) / TOUCH_PAGES * 1e6);
	c0 = cpu_all();
	for (i = 0; i < rounds; i++)
		if (handshake(&t) < 0)
			return 1;
	printf("tls_warm %.3f ms\n", (cpu_all() - c0) / rounds * 1e3);
	printf("tls_fresh %.3f ms\n",
	    per_child(rounds, one_handshake, &t) * 1e3);
	SSL_CTX_free(t.ctx);
	return 0;
}
