/*
 * main.c - the junction program: options, reading the config file, and
 * the event loop from start to a clean stop.
 *
 *   junction -c FILE       run
 *   junction -t -c FILE    check FILE and exit (0 when it is valid)
 *   junction -v / -h       version / usage
 *
 * Exit codes: 0 clean stop or valid config, 1 runtime or config error,
 * 2 usage error.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/config.h"
#include "core/broker.h"
#include "core/store.h"
#include "net/clock.h"
#include "net/listener.h"
#include "net/log.h"
#include "net/server.h"
#include "net/version.h"

/* A config file is a few KiB; refuse anything absurd before reading it. */
#define MAIN_CONF_MAX (16 * 1024 * 1024)

struct main_opts {
	const char *conf_file;
	bool check_only;
};

static void
main_usage(FILE *out)
{
	fprintf(out,
	    "usage: junction [-t] -c FILE\n"
	    "       junction -v | -h\n"
	    "  -c FILE  configuration file\n"
	    "  -t       check the configuration and exit\n"
	    "  -v       print the version and exit\n"
	    "  -h       show this help\n");
}

/* Parse argv into o; exits for -v, -h and usage errors. */
static void
main_options(int argc, char **argv, struct main_opts *o)
{
	int ch;

	while ((ch = getopt(argc, argv, "c:thv")) != -1) {
		switch (ch) {
		case 'c':
			o->conf_file = optarg;
			break;
		case 't':
			o->check_only = true;
			break;
		case 'v':
			printf("junction %s\n", JUNCTION_VERSION);
			exit(0);
		case 'h':
			main_usage(stdout);
			exit(0);
		default:
			main_usage(stderr);
			exit(2);
		}
	}
	if (o->conf_file == NULL || optind != argc) {
		main_usage(stderr);
		exit(2);
	}
}

/* The whole file, NUL-terminated; NULL with errno set on failure. */
static char *
main_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	size_t cap = 4096, n = 0;
	char *buf;
	int err = 0;

	if (f == NULL)
		return NULL;
	buf = xmalloc(cap);
	while ((n += fread(buf + n, 1, cap - n - 1, f)) == cap - 1) {
		if (cap > MAIN_CONF_MAX) {
			err = EFBIG;
			break;
		}
		cap *= 2;
		buf = xrealloc(buf, cap);
	}
	if (err == 0 && ferror(f))
		err = errno ? errno : EIO;
	fclose(f);
	if (err != 0) {
		free(buf);
		errno = err;
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Read and parse the config; on error print why and exit 1. */
static void
main_config(const char *fname, struct config *conf)
{
	char err[512];
	size_t len = 0;
	char *text = main_read_file(fname, &len);
	int rc;

	if (text == NULL) {
		fprintf(stderr, "%s: %s\n", fname, strerror(errno));
		exit(1);
	}
	config_defaults(conf);
	rc = config_parse(conf, text, len, fname, err, sizeof(err));
	free(text);
	if (rc == 0)
		rc = listener_check(conf, fname, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
}

/* Turn the loop until shutdown has closed every connection. */
static void
main_loop(struct server *srv)
{
	while (!server_is_done(srv)) {
		event_base_loop(srv->base, EVLOOP_ONCE);
		server_end_turn(srv);
	}
}

/* Every counter once, so each counted drop is visible to the operator. */
static void
main_log_stats(const struct broker *b)
{
#define MAIN_STAT(name) \
	log_notice("stat %s %llu", #name, (unsigned long long)b->stats.name);
	BROKER_STATS(MAIN_STAT)
#undef MAIN_STAT
}

static int
main_run(const struct config *conf, const char *fname)
{
	struct store *store;
	struct broker *b;
	struct server *srv;
	int rc = 0;

	if (conf->persistence)
		log_warn("persistence true: durable storage is not available "
		         "yet; running in memory");
	store = store_mem_new();
	b = broker_new(conf, store);
	srv = server_new(b, conf, fname);
	if (server_listen(srv) == 0)
		main_loop(srv);
	else
		rc = 1;
	server_free(srv);
	main_log_stats(b);
	broker_free(b); /* frees the store it owns */
	return rc;
}

int
main(int argc, char **argv)
{
	struct main_opts o = {0};
	struct config conf;
	int rc;

	main_options(argc, argv, &o);
	main_config(o.conf_file, &conf);
	if (o.check_only) {
		printf("%s: configuration OK\n", o.conf_file);
		return 0;
	}
	if (log_configure(&conf) != 0)
		fatal("%s: %s", conf.log_file, strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	log_notice("junction %s starting", JUNCTION_VERSION);
	rc = main_run(&conf, o.conf_file);
	log_notice(
	    "%s", rc == 0 ? "junction stopped" : "junction failed to start");
	log_close();
	return rc;
}
