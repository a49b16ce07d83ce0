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

/* What opening the journal found: loud when a store was set aside. */
static void
main_log_open(const struct config *conf, const struct store_journal_report *j)
{
	const char *dir =
	    conf->persistence_location[0] ? conf->persistence_location : ".";

	if (j->corrupt)
		log_error("STORE CORRUPT: %s/%s could not be read (%s); moved "
		          "aside to %s, starting with an EMPTY store",
		    dir, STORE_JOURNAL_FILE, j->detail, j->bad_path);
	if (j->truncated_bytes)
		log_warn("store: cut a torn tail of %llu bytes (%s)",
		    (unsigned long long)j->truncated_bytes, j->detail);
	if (j->tmp_removed)
		log_info("store: removed an unfinished compaction file");
	if (j->created)
		log_notice("store: created %s/%s", dir, STORE_JOURNAL_FILE);
}

static void
main_log_load(const struct store_disk_report *r)
{
	log_notice("store: recovered %llu sessions, %llu subscriptions, "
	           "%llu retained, %llu messages, %llu deliveries, %llu "
	           "inbound QoS 2 ids, %llu queue entries from %llu records "
	           "(%llu skipped) in %llu ms; compacted to %llu bytes",
	    (unsigned long long)r->sessions, (unsigned long long)r->subs,
	    (unsigned long long)r->retained, (unsigned long long)r->messages,
	    (unsigned long long)r->deliveries, (unsigned long long)r->inq2,
	    (unsigned long long)r->entries,
	    (unsigned long long)r->journal.records,
	    (unsigned long long)r->skipped,
	    (unsigned long long)(r->journal.elapsed_ms + r->load_ms),
	    (unsigned long long)r->live_bytes);
}

/* The configured store, opened; NULL after logging why. */
static struct store *
main_store_open(const struct config *conf, struct store_disk_report *rep)
{
	struct store_journal_opts o = {
	    .dir = conf->persistence_location,
	    .sync = (enum store_journal_sync)conf->persistence_sync,
	    .sync_interval_ms = conf->persistence_sync_interval,
	    .max_bytes = conf->persistence_max_bytes,
	    .refuse_corrupt =
	        conf->persistence_corrupt == CONFIG_CORRUPT_REFUSE,
	};
	char err[512];
	struct store *st;

	if (!conf->persistence)
		return store_mem_new();
	st = store_disk_open(&o, rep, err, sizeof(err));
	if (st == NULL)
		log_error("store: %s", err);
	else
		main_log_open(conf, &rep->journal);
	return st;
}

/* Recover the broker from its store; -1 after logging why. */
static int
main_store_load(
    const struct config *conf, struct broker *b, struct store_disk_report *rep)
{
	char err[512];

	if (!conf->persistence)
		return 0;
	if (store_disk_load(
	        b->store, b, clock_now_ms(), rep, err, sizeof(err)) != 0) {
		log_error("store: %s", err);
		return -1;
	}
	main_log_load(rep);
	return 0;
}

static int
main_run(const struct config *conf, const char *fname)
{
	struct store_disk_report rep;
	struct store *store;
	struct broker *b;
	struct server *srv;
	int rc = 0;

	store = main_store_open(conf, &rep);
	if (store == NULL)
		return 1;
	b = broker_new(conf, store);
	if (main_store_load(conf, b, &rep) != 0) {
		broker_free(b);
		return 1;
	}
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
