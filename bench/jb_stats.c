/*
 * jb_stats.c - jbench's measurements: the latency histogram, the
 * broker's CPU and RSS from /proc, and the generator's own CPU.
 *
 * The histogram is log-linear over nanoseconds: values below 128 have a
 * bucket each; above, each power of two [2^k, 2^(k+1)) is cut into 64
 * buckets of width 2^(k-6), so a bucket's midpoint is within 1/128
 * (0.8 %) of any value in it. Fixed size, no allocation, any uint64_t.
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench/jb.h"

#define JB_SUB (1u << JB_HIST_SUB_BITS)

static unsigned
jb_stats_bucket(uint64_t v)
{
	unsigned k;

	if (v < 2 * JB_SUB)
		return (unsigned)v;
	k = 63 - (unsigned)__builtin_clzll(v);
	return (k - JB_HIST_SUB_BITS + 1) * JB_SUB +
	    (unsigned)(v >> (k - JB_HIST_SUB_BITS)) - JB_SUB;
}

/* Midpoint of bucket i. */
static uint64_t
jb_stats_mid(unsigned i)
{
	unsigned k, shift;

	if (i < 2 * JB_SUB)
		return i;
	k = i / JB_SUB + JB_HIST_SUB_BITS - 1;
	shift = k - JB_HIST_SUB_BITS;
	return ((uint64_t)(i % JB_SUB + JB_SUB) << shift) +
	    ((uint64_t)1 << shift) / 2;
}

void
jb_stats_hist_add(struct jb_hist *h, uint64_t ns)
{
	h->count[jb_stats_bucket(ns)]++;
	h->n++;
	if (ns > h->max)
		h->max = ns;
}

uint64_t
jb_stats_hist_quantile(const struct jb_hist *h, double q)
{
	uint64_t rank = (uint64_t)(q * (double)h->n + 0.999999), seen = 0;

	if (h->n == 0)
		return 0;
	rank = MAX(rank, 1);
	for (unsigned i = 0; i < JB_HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen >= rank)
			return MIN(jb_stats_mid(i), h->max);
	}
	return h->max;
}

/* Read /proc/<pid>/<file> into buf (NUL-terminated); false if not. */
static bool
jb_stats_read_proc(int pid, const char *file, char *buf, size_t cap)
{
	char path[64];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
	f = fopen(path, "r");
	if (f == NULL)
		return false;
	n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	return n > 0;
}

double
jb_stats_cpu_s(int pid)
{
	char buf[1024];
	const char *p;
	unsigned long ut, st;

	if (!jb_stats_read_proc(pid, "stat", buf, sizeof(buf)))
		return -1;
	/* proc(5): the command name may hold anything; fields 14 and 15
	 * (utime, stime, in clock ticks) come after its closing ')'. */
	p = strrchr(buf, ')');
	if (p == NULL ||
	    sscanf(p + 1,
	        " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	        "%lu %lu",
	        &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

long
jb_stats_rss_kb(int pid)
{
	char buf[4096];
	const char *p;
	long kb;

	if (!jb_stats_read_proc(pid, "status", buf, sizeof(buf)))
		return -1;
	p = strstr(buf, "\nVmRSS:");
	if (p == NULL || sscanf(p + 7, "%ld", &kb) != 1)
		return -1;
	return kb;
}

double
jb_stats_self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}
