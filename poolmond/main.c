/* poolmond: start-up, life cycle and signals. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "control.h"
#include "credentials.h"
#include "fleet.h"
#include "fleet_net.h"
#include "log.h"
#include "luadir.h"
#include "net.h"
#include "notify.h"
#include "poolmond.h"
#include "protocol.h"
#include "resolver.h"
#include "router_director.h"
#include "hooks.h"
#include "lean.h"
#include "sandbox.h"
#include "tls.h"
#include "util.h"
#include "version.h"
#include "wiring.h"

#define DAEMON_READY_TIMEOUT_MS	10000

static void __attribute__((noreturn, format(printf, 1, 2)))
startup_error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "poolmond: %s\n", msg);
	exit(1);
}

static bool
uses_tls(const struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nports; i++)
		if (cfg->ports[i].tls)
			return true;
	return false;
}

/* Logins on a plain port upgrade when offered, if the protocol can. */
static bool
may_starttls(const struct config *cfg)
{
	const struct protocol *p;
	size_t i;

	if (cfg->credfile == NULL)
		return false;
	for (i = 0; i < cfg->nports; i++) {
		p = protocol_get(cfg->ports[i].proto);
		if (!cfg->ports[i].tls && p->starttls != NULL &&
		    p->login != LOGIN_NONE)
			return true;
	}
	return false;
}

static void
setup_credentials(struct poolmond *d)
{
	char err[256];

	if (d->cfg.credfile == NULL)
		return;
	if (credentials_load(d->cfg.credfile, &d->env.creds, err,
	    sizeof(err)) < 0)
		startup_error("credential file %s: %s", d->cfg.credfile, err);
}

/* One TLS context for every check. */
static void
setup_tls(struct poolmond *d)
{
	struct check_env *env = &d->env;
	char err[256];

	if (!uses_tls(&d->cfg) && !may_starttls(&d->cfg))
		return;
	/* OpenSSL's own message for a missing file is a bare "failed". */
	if (d->cfg.ssl_verify && d->cfg.ssl_ca != NULL &&
	    access(d->cfg.ssl_ca, R_OK) < 0)
		startup_error("--ssl-ca %s: %s", d->cfg.ssl_ca,
		    strerror(errno));
	env->ssl_ctx = tls_client_ctx_new(d->cfg.ssl_verify, d->cfg.ssl_ca,
	    err, sizeof(err));
	if (env->ssl_ctx == NULL)
		startup_error("TLS: %s", err);
}

/*
 * The resolver of PTR names, when they count: with TLS verified and no
 * name given (a given name makes the PTR name moot; unverified, so is
 * any). On the daemon's event loop, so after daemonize().
 */
static void
setup_resolver(struct poolmond *d)
{
	char err[256];

	if (d->env.ssl_ctx == NULL || !d->cfg.ssl_verify || d->cfg.no_ptr ||
	    d->cfg.ssl_name != NULL)
		return;
	d->resolver = resolver_new(d->event, d->env.timeout_ms, NULL,
	    scan_names_ready, &d->scan, err, sizeof(err));
	if (d->resolver == NULL)
		fatalx("PTR resolver: %s", err);
}

static void
setup_check_env(struct poolmond *d)
{
	struct check_env *env = &d->env;

	env->timeout_ms = d->cfg.timeout_s * 1000;
	env->retries = d->cfg.retries;
	env->retry_delay_ms = d->cfg.retry_delay_ms;
	env->ssl_verify = d->cfg.ssl_verify;
	env->ssl_name = d->cfg.ssl_name;
	memcpy(env->proto_opts, d->cfg.proto_opts, sizeof(env->proto_opts));
	env->require_tls = d->cfg.require_tls;
	env->source_address = d->cfg.source_address;
	setup_credentials(d);
	setup_tls(d);
}

/*
 * Fork into the background. The parent waits until the daemon has written
 * its pid, so the pidfile is there when the command returns.
 */
static int
daemonize(void)
{
	int ready[2], nullfd;
	char c;
	pid_t pid;

	if (pipe2(ready, O_CLOEXEC) < 0)
		startup_error("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		startup_error("fork: %s", strerror(errno));
	if (pid > 0) {
		struct pollfd pfd = { .fd = ready[0], .events = POLLIN };

		close(ready[1]);
		if (poll(&pfd, 1, DAEMON_READY_TIMEOUT_MS) == 1 &&
		    read(ready[0], &c, 1) == 1) {
			/* systemd heeds only its main process: this one. */
			notify_mainpid(pid);
			_exit(0);
		}
		fprintf(stderr, "poolmond: the daemon did not start; "
		    "see the log\n");
		_exit(1);
	}
	close(ready[0]);
	if (setsid() < 0)
		fatal("setsid");
	if (chdir("/") < 0)
		fatal("chdir /");
	umask(022);
	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nullfd < 0)
		fatal("/dev/null");
	dup2(nullfd, STDIN_FILENO);
	dup2(nullfd, STDOUT_FILENO);
	/* Library complaints on stderr end up in the log file, if any. */
	dup2(log_fd() > STDERR_FILENO ? log_fd() : nullfd, STDERR_FILENO);
	close(nullfd);
	return ready[1];
}

/* Tell the waiting parent of daemonize() that the daemon is running. */
static void
daemon_ready(int *ready_fd)
{
	if (*ready_fd < 0)
		return;
	(void)!write(*ready_fd, "1", 1);
	close(*ready_fd);
	*ready_fd = -1;
}

static int
on_stop_signal(sd_event_source *s, const struct signalfd_siginfo *si,
    void *arg)
{
	struct poolmond *d = arg;

	(void)s;
	log_info("signal %s received, stopping", strsignal(si->ssi_signo));
	d->scan.stopping = true;
	return sd_event_exit(d->event, 0);
}

/*
 * What SIGHUP and "poolmonctl reload" do: reopen the log, re-read the
 * credential file. 0, or -errno with a message in err.
 */
static int
reload(void *arg, char *err, size_t errlen)
{
	struct poolmond *d = arg;
	int r, ret = 0;

	notify_reloading();
	if ((r = log_reopen()) < 0) {
		errno = -r;
		log_warn("cannot reopen the log file");
		snprintf(err, errlen, "cannot reopen the log file: %s",
		    strerror(-r));
		ret = r;
	} else
		log_info("reload: log file reopened");
	/* A bad file keeps the credentials in use: never die on reload. */
	if (d->cfg.credfile != NULL &&
	    credentials_reload(d->cfg.credfile, &d->env.creds) < 0) {
		if (ret == 0) {
			snprintf(err, errlen, "credential file %s not re-read "
			    "(the log says why); the credentials in use stay",
			    d->cfg.credfile);
			ret = -EINVAL;
		}
	} else if (d->cfg.credfile != NULL)
		scan_credentials(&d->scan);
	wire_notify_ready(d);
	return ret;
}

static int
on_hup(sd_event_source *s, const struct signalfd_siginfo *si, void *arg)
{
	char err[512];

	(void)s;
	(void)si;
	log_info("SIGHUP received, reloading");
	(void)reload(arg, err, sizeof(err));
	return 0;
}

static void
setup_signals(struct poolmond *d)
{
	static const int stop[] = { SIGINT, SIGTERM, SIGQUIT };
	sigset_t set;
	size_t i;
	int r;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	for (i = 0; i < ARRAY_SIZE(stop); i++)
		sigaddset(&set, stop[i]);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	/* sd-event reads these through a signalfd. */
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		fatal("sigprocmask");
	for (i = 0; i < ARRAY_SIZE(stop); i++) {
		r = sd_event_add_signal(d->event, NULL, stop[i],
		    on_stop_signal, d);
		if (r < 0) {
			errno = -r;
			fatal("sd_event_add_signal");
		}
	}
	r = sd_event_add_signal(d->event, NULL, SIGHUP, on_hup, d);
	if (r < 0) {
		errno = -r;
		fatal("sd_event_add_signal");
	}
}

/* Hysteresis, guard and ownership; the state file once we hold the lock. */
static void
setup_policy(struct poolmond *d)
{
	int r;

	d->actions.policy = (struct policy){
		.fall = d->cfg.fall, .rise = d->cfg.rise,
		.max_down_pct = d->cfg.max_down_pct,
		.adopt_down = d->cfg.adopt_down,
	};
	d->view.can_act = true;
	if ((r = state_load(&d->state, d->cfg.state_file)) < 0)
		startup_error("state file %s: %s", d->cfg.state_file,
		    strerror(-r));
}

static void
acquire_pidfile(struct poolmond *d)
{
	pid_t holder;
	int fd;

	fd = pidfile_acquire(d->cfg.lockfile, &holder);
	if (fd == -EEXIST) {
		if (holder > 0)
			startup_error("already running as pid %ld (lock file "
			    "%s)", (long)holder, d->cfg.lockfile);
		startup_error("already running (lock file %s is locked)",
		    d->cfg.lockfile);
	}
	if (fd == -ESTALE)
		startup_error("lock file %s: replaced each time it was locked; "
		    "is another poolmond starting or stopping?",
		    d->cfg.lockfile);
	if (fd < 0)
		startup_error("lock file %s: %s", d->cfg.lockfile,
		    strerror(-fd));
	d->pidfile_fd = fd;
}

/*
 * --on-change hooks run as the check user: one that may steer poolmond
 * through the control socket would let a hook hold or release hosts.
 * Said at start; the Debian package keeps the two apart.
 */
static void
check_hook_user(const struct poolmond *d)
{
	const struct group *gr;
	char *const *m;

	if (d->cfg.on_change == NULL || d->cfg.control_group == NULL ||
	    !d->sandbox.switch_ids ||
	    (gr = getgrnam(d->cfg.control_group)) == NULL)
		return;
	for (m = gr->gr_mem; *m != NULL && strcmp(*m, d->sandbox.user) != 0;
	    m++)
		;
	if (gr->gr_gid == d->sandbox.gid || *m != NULL)
		log_warnx("--on-change hooks run as %s, a member of "
		    "--control-group %s: a hook may steer poolmond (hold, "
		    "release); give --user or --control-group another "
		    "account", d->sandbox.user, d->cfg.control_group);
}

/* A hold without --flush keeps its users, their sessions included. */
static bool
held_without_flush(const char *ip, void *arg)
{
	const struct state_entry *e = state_find(arg, ip);

	return e != NULL && e->owner == OWNER_HOLD && !e->hold.flush;
}

/*
 * What routes users: a director's admin socket, or the Lua director's
 * tables (and the proxies whose sessions it kicks: by default the
 * machine's own Dovecot, when there is one).
 */
static void
setup_router(struct poolmond *d)
{
	static const char *const default_proxy[] = { DEFAULT_PROXY_CONF };
	const char *const *proxies = d->cfg.proxies;
	size_t nproxies = d->cfg.nproxies;
	char err[512];
	int r;

	if (d->cfg.lua_director == NULL) {
		if ((r = router_director_new(d->event, d->cfg.director_socket,
		    d->cfg.timeout_s * 1000, &d->router)) < 0)
			fatalx("director client: %s", strerror(-r));
		return;
	}
	if (nproxies == 0 && access(DEFAULT_PROXY_CONF, R_OK) == 0) {
		proxies = default_proxy;
		nproxies = 1;
	}
	if (luadir_new(d->event, d->cfg.lua_director, proxies, nproxies,
	    d->cfg.timeout_s * 1000, &d->router, err, sizeof(err)) < 0)
		fatalx("%s", err);
	luadir_set_dry_run(d->router, &d->cfg.dry_run);
	luadir_set_kept(d->router, held_without_flush, &d->state);
}

/*
 * The Lua director's database client library, its DSN as the library
 * reads it, and the proxies: checked on the terminal, before the daemon
 * forks, by making the router once on an event loop of its own.
 */
static void
check_router(const struct poolmond *d)
{
	struct router *r = NULL;
	sd_event *event = NULL;
	char err[512];
	size_t i;
	int e;

	if (d->cfg.lua_director == NULL)
		return;
	for (i = 0; i < d->cfg.nproxies; i++)
		if (access(d->cfg.proxies[i], R_OK) < 0)
			startup_error("--proxy %s: %s", d->cfg.proxies[i],
			    strerror(errno));
	if ((e = sd_event_new(&event)) < 0)
		startup_error("sd_event_new: %s", strerror(-e));
	if (luadir_new(event, d->cfg.lua_director, d->cfg.proxies,
	    d->cfg.nproxies, d->cfg.timeout_s * 1000, &r, err,
	    sizeof(err)) < 0)
		startup_error("%s", err);
	router_free(r);
	sd_event_unref(event);
}

/* The key is checked on the terminal, before the daemon forks. */
static void
check_fleet_key(const struct poolmond *d)
{
	uint8_t key[FLEET_KEY_MAX];
	size_t keylen;
	char err[512];

	if (d->cfg.fleet_listen == NULL)
		return;
	if (fleet_key_load(d->cfg.fleet_key, key, sizeof(key), &keylen, err,
	    sizeof(err)) < 0)
		startup_error("%s", err);
	explicit_bzero(key, sizeof(key));
}

/* A peer's verdicts came: the pool judged again, at once. */
static void
on_peer_verdicts(void *arg)
{
	struct poolmond *d = arg;

	scan_judge_soon(&d->scan);
}

/* A peer gone: its backends are judged now by their new actors. */
static void
on_peer_gone(void *arg)
{
	struct poolmond *d = arg;

	(void)scan_request(&d->scan, NULL, 0);
}

static void
setup_fleet(struct poolmond *d)
{
	const struct fleet_config fc = {
		.listen = d->cfg.fleet_listen, .peers = d->cfg.fleet_peers,
		.npeers = d->cfg.nfleet_peers, .ring = d->cfg.fleet_ring,
		.key_path = d->cfg.fleet_key, .quorum = d->cfg.fleet_quorum,
		.interval_s = d->cfg.interval_s,
		.timeout_s = d->cfg.timeout_s, .fall = d->cfg.fall,
		.rise = d->cfg.rise, .dry_run = &d->cfg.dry_run,
		.peer_gone = on_peer_gone, .judge = on_peer_verdicts, .arg = d,
	};
	char err[512];

	if (d->cfg.fleet_listen == NULL)
		return;
	if (fleet_new(d->event, &fc, &d->pool, &d->state, &d->fleet, err,
	    sizeof(err)) < 0)
		fatalx("fleet: %s", err);
}

#define POOLMOND_MMAP_THRESHOLD	(128 * 1024)

int
main(int argc, char **argv)
{
	struct poolmond d;
	struct control_ctx control_ctx;
	struct metrics_ctx metrics_ctx;
	char err[512];
	int r, ready_fd = -1;

	/*
	 * A fixed threshold: glibc otherwise raises it after the first large
	 * free, and then the tables of thousands of backends that each scan
	 * builds and frees stay in the heap instead of going back.
	 */
	mallopt(M_MMAP_THRESHOLD, POOLMOND_MMAP_THRESHOLD);
	/*
	 * Descriptors inherited above stderr are whoever started us's: a
	 * lock or a pipe held open for poolmond's lifetime blocks them.
	 */
	(void)close_range(3, ~0U, 0);
	memset(&d, 0, sizeof(d));
	d.pidfile_fd = -1;
	config_defaults(&d.cfg);
	switch (config_parse_args(&d.cfg, argc, argv, err, sizeof(err))) {
	case CONFIG_EXIT_OK:
		config_free(&d.cfg);
		return 0;
	case CONFIG_ERROR:
		fprintf(stderr, "poolmond: %s\nTry 'poolmond --help' for "
		    "more information.\n", err);
		config_free(&d.cfg);
		return 1;
	case CONFIG_OK:
		break;
	}
	/* Before the password is read: no core dump ever holds it. */
	if ((r = credentials_no_core_dumps()) < 0)
		startup_error("cannot disable core dumps: %s", strerror(-r));
	setup_check_env(&d);
	/* An address this machine does not have would fail every check. */
	if (d.cfg.source_address != NULL &&
	    (r = conn_source_usable(d.cfg.source_address)) < 0)
		startup_error("--source-address %s: cannot bind to it: %s",
		    d.cfg.source_address, strerror(-r));
	if ((r = log_init("poolmond", d.cfg.logfile, d.cfg.debug)) < 0)
		startup_error("log file %s: %s", d.cfg.logfile, strerror(-r));
	/* The check processes' user, looked up once here: never in a child. */
	if (sandbox_prepare(&d.sandbox, d.cfg.user, err, sizeof(err)) < 0)
		startup_error("%s", err);
	/* Said on the terminal, not at the first action. */
	if (d.cfg.on_change != NULL && access(d.cfg.on_change, X_OK) < 0)
		startup_error("--on-change %s: %s", d.cfg.on_change,
		    strerror(errno));
	check_fleet_key(&d);
	check_router(&d);
	check_hook_user(&d);
	acquire_pidfile(&d);
	setup_policy(&d);
	/* Before forking, so a socket in use is reported on the terminal. */
	if (control_open(&d.control, d.cfg.control_socket, d.cfg.control_group,
	    err, sizeof(err)) < 0)
		startup_error("%s", err);
	if (metrics_http_open(&d.metrics_http, d.cfg.metrics_listen, err,
	    sizeof(err)) < 0)
		startup_error("%s", err);
	if (!d.cfg.foreground)
		ready_fd = daemonize();
	if ((r = pidfile_write_pid(d.pidfile_fd, getpid())) < 0)
		fatalx("lock file %s: %s", d.cfg.lockfile, strerror(-r));
	if ((r = sd_event_default(&d.event)) < 0)
		fatalx("sd_event_default: %s", strerror(-r));
	setup_signals(&d);
	setup_router(&d);
	setup_resolver(&d);
	if ((r = hooks_new(d.event, d.cfg.on_change, &d.sandbox,
	    d.cfg.timeout_s * 1000, &d.hooks)) < 0)
		fatalx("change hooks: %s", strerror(-r));
	d.started = time(NULL);
	pool_init(&d.pool, d.cfg.nports);
	setup_fleet(&d);
	wire_engine(&d);
	if ((r = scan_init(&d.scan)) < 0)
		fatalx("scan engine: %s", strerror(-r));
	/* After the fleet: the control socket's context carries d.fleet. */
	wire_control_ctx(&d, reload, &control_ctx);
	if ((r = control_start(d.control, d.event, &control_ctx)) < 0)
		fatalx("control socket: %s", strerror(-r));
	wire_metrics_ctx(&d, &metrics_ctx);
	if ((r = metrics_http_start(d.metrics_http, d.event,
	    &metrics_ctx)) < 0)
		fatalx("metrics http server: %s", strerror(-r));
	if ((r = notify_watchdog_start(d.event)) < 0)
		fatalx("systemd watchdog: %s", strerror(-r));
	log_info("poolmond %s started as pid %ld: %zu ports, interval %d s, "
	    "timeout %d s, %s %s%s", POOLMON_VERSION, (long)getpid(),
	    d.cfg.nports, d.cfg.interval_s, d.cfg.timeout_s,
	    router_kind_str(router_kind(d.router)), d.router->target,
	    d.cfg.dry_run ? ", dry-run" : "");
	lean_after_startup();
	daemon_ready(&ready_fd);
	wire_notify_ready(&d);
	r = sd_event_loop(d.event);
	notify_stopping();
	metrics_http_close(d.metrics_http);
	control_close(d.control);
	fleet_free(d.fleet);
	router_free(d.router);
	actions_shutdown(&d.actions);
	hooks_free(d.hooks);
	scan_shutdown(&d.scan);
	pool_free(&d.pool);
	resolver_free(d.resolver);
	sd_event_unref(d.event);
	if (d.env.ssl_ctx != NULL)
		SSL_CTX_free(d.env.ssl_ctx);
	sandbox_free(&d.sandbox);
	credentials_clear(&d.env.creds);
	state_free(&d.state);
	pidfile_release(d.cfg.lockfile, d.pidfile_fd);
	log_info("stopped");
	log_close();
	config_free(&d.cfg);
	return r < 0 ? 1 : 0;
}
