/*
 * fakedirector: a scriptable fake Dovecot director-admin server, for the
 * faults a real director will not produce on demand (garbage, a partial
 * line then silence, a wrong handshake, "Ring sync timed out", NOTFOUND
 * for a host removed between HOST-LIST and HOST-DOWN, a close in the
 * middle of a reply). It records every command it is sent.
 *
 *   fakedirector [-L LOG] [-m MODEFILE] [-s STALL_MS] [-T TRUTHSOCKET]
 *	SOCKET HOST...
 *	Serve SOCKET (poolmond's side: faults apply) and, with -T,
 *	TRUTHSOCKET (the test's side: always sane, e.g. for
 *	tests/tools/director-cmd). HOST is IP[,TAG][,D]: listed in HOST-LIST,
 *	up unless ",D". HOST-DOWN, HOST-UP and HOST-FLUSH answered OK change
 *	the state HOST-LIST shows (HOST-FLUSH only counts). On the truth
 *	socket HOST-REMOVE IP and HOST-ADD IP also work.
 *
 * MODEFILE is re-read for every connection and every command; each line
 * is WHAT=HOW, WHAT one of hello (the handshake line), HOST-LIST,
 * DIRECTOR-LIST, HOST-DOWN, HOST-UP, HOST-FLUSH; anything not named is
 * sane. HOW is one of
 *   ok        sane
 *   garbage   hello: binary junk instead of VERSION; a list: one valid
 *             line, then junk, then the empty line; a command: a junk line
 *   partial   a part of a line, then silence (the connection stays open)
 *   silent    nothing at all (the connection stays open)
 *   close     hello: close at once; a list: one valid line, then close;
 *             a command: close without a reply
 *   badversion  hello only: "VERSION\tdirector-doveadm\t2\t0"
 *   ring      a command: "Ring sync timed out" (nothing applied)
 *   twoline   a command: a junk line, then "OK": two replies to one
 *             command (nothing applied)
 *   notfound  a command: "NOTFOUND", and the host is removed from the
 *             list, as if removed just before the command came
 *   unsynced  DIRECTOR-LIST: the own ring "ring handshaking"
 *   nul       a NUL byte inside the reply line
 *   long      a reply line of 10000 bytes
 *   stall     a command: answered sanely, but only STALL_MS (-s, default
 *             30000) after it came, as by a director waiting for its ring
 *             to sync; meanwhile the connection reads no more input
 *
 * With -L, one line per event, written at once:
 *   T=MS conn=N accept hello=HOW
 *   T=MS conn=N cmd=CMD arg=ARG how=HOW
 *   T=MS conn=N closed
 * (only for SOCKET's connections; T is ms since start).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define FD_MAX_CONNS	128
#define FD_MAX_HOSTS	256
#define FD_BUF		8192
#define FD_CONN_MAX_MS	60000
#define FD_HANDSHAKE	"VERSION\tdirector-doveadm\t1\t0\n"
/* A literal that may hold NUL bytes, all of it. */
#define SEND_LIT(c, s)	send_all((c), (s), sizeof(s) - 1)

struct host {
	char ip[64];
	char tag[64];
	bool up;
	bool present;
	unsigned int flushes;
};

struct conn {
	int fd;
	long id;
	bool truth;
	bool stalled;		/* partial/silent: read and drop, never answer */
	bool greeted;		/* the client's VERSION line was read */
	long long reply_at;	/* stall: answer then, read nothing before */
	char stall_cmd[32];
	char stall_arg[128];
	long long since;
	size_t len;
	char buf[FD_BUF];
};

static struct host hosts[FD_MAX_HOSTS];
static size_t nhosts;
static struct conn conns[FD_MAX_CONNS];
static const char *logpath, *modepath;
static long long started, stall_ms = 30000;
static long nconns;
static volatile sig_atomic_t stop;

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void __attribute__((format(printf, 1, 2)))
logf_(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int fd, n;

	if (logpath == NULL)
		return;
	n = snprintf(buf, sizeof(buf), "T=%lld ", now_ms() - started);
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if ((fd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0644)) >= 0) {
		(void)!write(fd, buf, (size_t)n);
		close(fd);
	}
}

/* HOW for WHAT from the mode file; "ok" when not named. */
static void
mode_for(const char *what, char *how, size_t howlen)
{
	char line[256];
	size_t wlen = strlen(what);
	FILE *f;

	snprintf(how, howlen, "ok");
	if (modepath == NULL || (f = fopen(modepath, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strncmp(line, what, wlen) == 0 && line[wlen] == '=') {
			snprintf(how, howlen, "%s", line + wlen + 1);
			break;
		}
	}
	fclose(f);
}

static void
send_all(struct conn *c, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

static void
send_str(struct conn *c, const char *s)
{
	send_all(c, s, strlen(s));
}

static void
conn_close(struct conn *c)
{
	if (c->fd < 0)
		return;
	if (!c->truth)
		logf_("conn=%ld closed", c->id);
	close(c->fd);
	c->fd = -1;
}

static struct host *
host_find(const char *ip)
{
	size_t i;

	for (i = 0; i < nhosts; i++)
		if (hosts[i].present && strcmp(hosts[i].ip, ip) == 0)
			return &hosts[i];
	return NULL;
}

static int
host_line(const struct host *h, char *buf, size_t len)
{
	return snprintf(buf, len, "%.63s\t100\t0\t%.63s\t%s\t%lld\n", h->ip,
	    h->tag, h->up ? "U" : "D", (long long)time(NULL));
}

static const char junk[] = "\x16\x03\x01\xff\xfe junk \x80\x81\x7f\tmore\t"
    "\xc3\x28\n";

/* One valid line first: a client must not act on a list it half read. */
static void
first_host(struct conn *c)
{
	char line[256];
	size_t i;

	for (i = 0; i < nhosts; i++) {
		if (hosts[i].present) {
			host_line(&hosts[i], line, sizeof(line));
			send_str(c, line);
			return;
		}
	}
}

static void
reply_host_list(struct conn *c, const char *how)
{
	char line[256];
	size_t i;

	if (strcmp(how, "garbage") == 0) {
		first_host(c);
		send_str(c, junk);
		send_str(c, "\n");
		return;
	}
	if (strcmp(how, "partial") == 0) {
		first_host(c);
		send_str(c, "127.0.8.99\t100\t0");
		c->stalled = true;
		return;
	}
	if (strcmp(how, "silent") == 0) {
		c->stalled = true;
		return;
	}
	if (strcmp(how, "close") == 0) {
		first_host(c);
		conn_close(c);
		return;
	}
	if (strcmp(how, "nul") == 0) {
		first_host(c);
		SEND_LIT(c, "127.0.8.98\t100\0\t0\t\tU\t0\n\n");
		return;
	}
	if (strcmp(how, "long") == 0) {
		for (i = 0; i < 10000; i++)
			send_str(c, "x");
		send_str(c, "\n\n");
		return;
	}
	for (i = 0; i < nhosts; i++) {
		if (!hosts[i].present)
			continue;
		host_line(&hosts[i], line, sizeof(line));
		send_str(c, line);
	}
	send_str(c, "\n");
}

static void
reply_director_list(struct conn *c, const char *how)
{
	static const char self[] = "127.0.8.100\t9090\tself\t0\tring synced\t0\n";

	if (strcmp(how, "garbage") == 0) {
		send_str(c, junk);
		send_str(c, "\n");
	} else if (strcmp(how, "partial") == 0) {
		send_str(c, "127.0.8.100\t9090\ts");
		c->stalled = true;
	} else if (strcmp(how, "silent") == 0) {
		c->stalled = true;
	} else if (strcmp(how, "close") == 0) {
		conn_close(c);
	} else if (strcmp(how, "unsynced") == 0) {
		send_str(c, "127.0.8.100\t9090\tself\t0\tring handshaking\t0\n\n");
	} else {
		send_str(c, self);
		send_str(c, "\n");
	}
}

/* HOST-DOWN, HOST-UP, HOST-FLUSH (and the truth socket's extras). */
static void
reply_host_cmd(struct conn *c, const char *cmd, const char *ip,
    const char *how)
{
	struct host *h = host_find(ip);
	size_t i;

	if (strcmp(how, "garbage") == 0) {
		send_str(c, junk);
		return;
	}
	if (strcmp(how, "partial") == 0) {
		send_str(c, "O");
		c->stalled = true;
		return;
	}
	if (strcmp(how, "silent") == 0) {
		c->stalled = true;
		return;
	}
	if (strcmp(how, "close") == 0) {
		conn_close(c);
		return;
	}
	if (strcmp(how, "ring") == 0) {
		send_str(c, "Ring sync timed out\n");
		return;
	}
	if (strcmp(how, "twoline") == 0) {
		send_str(c, junk);
		send_str(c, "OK\n");
		return;
	}
	if (strcmp(how, "nul") == 0) {
		SEND_LIT(c, "OK\0junk\n");
		return;
	}
	if (strcmp(how, "long") == 0) {
		for (i = 0; i < 10000; i++)
			send_str(c, "O");
		send_str(c, "\n");
		return;
	}
	if (strcmp(how, "notfound") == 0) {
		if (h != NULL)
			h->present = false;
		send_str(c, "NOTFOUND\n");
		return;
	}
	if (strcmp(cmd, "HOST-ADD") == 0) {
		if (h == NULL) {
			for (i = 0; i < nhosts && strcmp(hosts[i].ip, ip) != 0;
			    i++)
				;
			if (i == nhosts && nhosts < FD_MAX_HOSTS) {
				snprintf(hosts[i].ip, sizeof(hosts[i].ip),
				    "%.63s", ip);
				nhosts++;
			}
			if (i < nhosts) {
				hosts[i].present = true;
				hosts[i].up = true;
			}
		}
		send_str(c, "OK\n");
		return;
	}
	if (h == NULL) {
		send_str(c, "NOTFOUND\n");
		return;
	}
	if (strcmp(cmd, "HOST-DOWN") == 0)
		h->up = false;
	else if (strcmp(cmd, "HOST-UP") == 0)
		h->up = true;
	else if (strcmp(cmd, "HOST-FLUSH") == 0)
		h->flushes++;
	else if (strcmp(cmd, "HOST-REMOVE") == 0)
		h->present = false;
	send_str(c, "OK\n");
}

static void answer(struct conn *c, const char *line, const char *arg,
    const char *how);

static void
command(struct conn *c, char *line)
{
	char how[64], *arg = strchr(line, '\t');

	if (arg != NULL)
		*arg++ = '\0';
	if (c->truth)
		snprintf(how, sizeof(how), "ok");
	else
		mode_for(line, how, sizeof(how));
	if (!c->truth)
		logf_("conn=%ld cmd=%s arg=%s how=%s", c->id, line,
		    arg != NULL ? arg : "", how);
	if (strcmp(how, "stall") == 0) {
		c->reply_at = now_ms() + stall_ms;
		snprintf(c->stall_cmd, sizeof(c->stall_cmd), "%.31s", line);
		snprintf(c->stall_arg, sizeof(c->stall_arg), "%.127s",
		    arg != NULL ? arg : "");
		return;
	}
	answer(c, line, arg, how);
}

static void
answer(struct conn *c, const char *line, const char *arg, const char *how)
{
	if (strcmp(line, "HOST-LIST") == 0)
		reply_host_list(c, how);
	else if (strcmp(line, "DIRECTOR-LIST") == 0)
		reply_director_list(c, how);
	else if (strcmp(line, "HOST-DOWN") == 0 ||
	    strcmp(line, "HOST-UP") == 0 || strcmp(line, "HOST-FLUSH") == 0 ||
	    (c->truth && (strcmp(line, "HOST-REMOVE") == 0 ||
	    strcmp(line, "HOST-ADD") == 0)))
		reply_host_cmd(c, line, arg != NULL ? arg : "", how);
	else
		send_str(c, "Unknown command\n");
}

static void
conn_lines(struct conn *c)
{
	char *nl;
	size_t used;

	while (c->fd >= 0 && !c->stalled && c->reply_at == 0 &&
	    (nl = memchr(c->buf, '\n', c->len)) != NULL) {
		*nl = '\0';
		used = (size_t)(nl - c->buf) + 1;
		if (!c->greeted)
			c->greeted = true;	/* the client's VERSION line */
		else
			command(c, c->buf);
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
	}
	if (c->len == sizeof(c->buf))
		conn_close(c);
}

static void
conn_input(struct conn *c)
{
	ssize_t n;

	n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	if (c->stalled) {
		c->len = 0;	/* read and dropped */
		return;
	}
	c->len += (size_t)n;
	conn_lines(c);
}

/* A stalled command's time has come: answered, then the input goes on. */
static void
conn_unstall(struct conn *c)
{
	c->reply_at = 0;
	answer(c, c->stall_cmd, c->stall_arg, "ok");
	conn_lines(c);
}

static void
conn_new(int lfd, bool truth)
{
	char how[64];
	struct conn *c = NULL;
	size_t i;
	int fd;

	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
		return;
	for (i = 0; i < FD_MAX_CONNS; i++)
		if (conns[i].fd < 0) {
			c = &conns[i];
			break;
		}
	if (c == NULL) {
		close(fd);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->truth = truth;
	c->since = now_ms();
	if (truth) {
		c->id = 0;
		send_str(c, FD_HANDSHAKE);
		return;
	}
	c->id = ++nconns;
	mode_for("hello", how, sizeof(how));
	logf_("conn=%ld accept hello=%s", c->id, how);
	if (strcmp(how, "garbage") == 0)
		send_str(c, junk);
	else if (strcmp(how, "partial") == 0) {
		send_str(c, "VERSION\tdirector-");
		c->stalled = true;
	} else if (strcmp(how, "silent") == 0)
		c->stalled = true;
	else if (strcmp(how, "close") == 0)
		conn_close(c);
	else if (strcmp(how, "badversion") == 0)
		send_str(c, "VERSION\tdirector-doveadm\t2\t0\n");
	else if (strcmp(how, "nul") == 0)
		SEND_LIT(c, "VERSION\tdirector-doveadm\t1\0\t0\n");
	else
		send_str(c, FD_HANDSHAKE);
}

static int
listen_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "fakedirector: %s: path too long\n", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(fd, 64) < 0) {
		fprintf(stderr, "fakedirector: %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	chmod(path, 0600);
	return fd;
}

static void
on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static void
add_host(const char *spec)
{
	struct host *h;
	char buf[256], *tag, *state;

	if (nhosts == FD_MAX_HOSTS)
		return;
	h = &hosts[nhosts++];
	snprintf(buf, sizeof(buf), "%s", spec);
	if ((tag = strchr(buf, ',')) != NULL) {
		*tag++ = '\0';
		if ((state = strchr(tag, ',')) != NULL) {
			*state++ = '\0';
			h->up = strcmp(state, "D") != 0;
		} else
			h->up = true;
		if (strcmp(tag, "D") == 0) {
			h->up = false;
			tag = (char *)"";
		}
		snprintf(h->tag, sizeof(h->tag), "%.63s", tag);
	} else
		h->up = true;
	snprintf(h->ip, sizeof(h->ip), "%.63s", buf);
	h->present = true;
}

int
main(int argc, char **argv)
{
	struct pollfd pfd[FD_MAX_CONNS + 2];
	const char *truthpath = NULL;
	int lfd, tfd = -1, ch, r;
	size_t i, n;
	long long now;

	while ((ch = getopt(argc, argv, "L:m:s:T:")) != -1) {
		switch (ch) {
		case 'L': logpath = optarg; break;
		case 'm': modepath = optarg; break;
		case 's': stall_ms = atoll(optarg); break;
		case 'T': truthpath = optarg; break;
		default:
			fprintf(stderr, "usage: fakedirector [-L LOG] "
			    "[-m MODEFILE] [-s STALL_MS] [-T TRUTHSOCKET] SOCKET "
			    "HOST...\n");
			return 64;
		}
	}
	if (argc - optind < 1) {
		fprintf(stderr, "fakedirector: no socket\n");
		return 64;
	}
	for (i = (size_t)optind + 1; i < (size_t)argc; i++)
		add_host(argv[i]);
	started = now_ms();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	for (i = 0; i < FD_MAX_CONNS; i++)
		conns[i].fd = -1;
	if ((lfd = listen_unix(argv[optind])) < 0)
		return 1;
	if (truthpath != NULL && (tfd = listen_unix(truthpath)) < 0)
		return 1;
	while (!stop) {
		pfd[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = tfd, .events = POLLIN };
		for (i = 0, n = 2; i < FD_MAX_CONNS; i++)
			pfd[n++] = (struct pollfd){ .fd = conns[i].fd,
			    .events = conns[i].reply_at != 0 ? 0 : POLLIN };
		r = poll(pfd, n, 200);
		if (r < 0 && errno != EINTR)
			break;
		now = now_ms();
		for (i = 0; i < FD_MAX_CONNS; i++) {
			if (conns[i].fd < 0)
				continue;
			if (conns[i].reply_at != 0 && now >= conns[i].reply_at)
				conn_unstall(&conns[i]);
			else if (conns[i].reply_at != 0)
				continue;
			else if (pfd[i + 2].revents & (POLLIN | POLLHUP | POLLERR))
				conn_input(&conns[i]);
			else if (now - conns[i].since > FD_CONN_MAX_MS)
				conn_close(&conns[i]);
		}
		if (r > 0 && (pfd[0].revents & POLLIN))
			conn_new(lfd, false);
		if (r > 0 && tfd >= 0 && (pfd[1].revents & POLLIN))
			conn_new(tfd, true);
	}
	for (i = 0; i < FD_MAX_CONNS; i++)
		conn_close(&conns[i]);
	unlink(argv[optind]);
	if (truthpath != NULL)
		unlink(truthpath);
	return 0;
}
