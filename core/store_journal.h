/*
 * store_journal.h - the journal engine under the on-disk store: an
 * append-only file of checksummed, typed, opaque records with crash
 * recovery, group commit on a helper thread, a disk cap and compaction by
 * rewrite.
 *
 * It knows nothing about MQTT, sessions or messages: a record is a type
 * byte (1..255, chosen by the caller) and a payload. core/store_disk.c
 * encodes broker records into journal records, replays them at startup
 * and produces a compacted rewrite from the broker's live state (like
 * Redis's AOF rewrite), so the journal keeps no index of live keys.
 *
 * Files, all in one directory (persistence_location):
 *   junction.db          the journal, always starting with a full header
 *   junction.db.tmp      a rewrite (or creation) in progress; the rename
 *                        over junction.db is the commit point, so a
 *                        leftover one is garbage and is deleted at open
 *   junction.db.bad[.N]  a journal that could not be read at all, moved
 *                        aside rather than deleted
 * The directory is flock()ed while open: one process per journal.
 *
 * Format, every integer little-endian:
 *   header  "JUNCTDB\0" | u32 version (1) | u32 flags (0)      16 bytes
 *   record  u32 len | u32 crc | u8 type | payload[len]     9 + len bytes
 * crc is CRC-32C (Castagnoli) over type and payload. A record with type
 * 0, a length above STORE_JOURNAL_MAX_PAYLOAD, a length that runs past
 * the end of the file or a crc mismatch ends the journal: everything from
 * it on is a torn tail and is truncated away at open.
 *
 * Durability: store_journal_durable_gen() only covers records written
 * under the sync policy (ALWAYS: fdatasync()ed; INTERVAL and NEVER:
 * written to the kernel, synced later or never). An adapter holds an ack
 * until durable_gen reaches the append_gen its records got.
 *
 * Threads: every function is called from one thread (the loop). The
 * module runs one helper thread of its own for store_journal_commit_async
 * and reads CLOCK_MONOTONIC itself (for the INTERVAL policy and the open
 * report): it is I/O code, not pure core. Errors come back as values
 * (-1 with errno, or a message in err); the module never logs.
 */
#ifndef JUNCTION_STORE_JOURNAL_H
#define JUNCTION_STORE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

#define STORE_JOURNAL_FILE "junction.db"
#define STORE_JOURNAL_HEADER_LEN 16
#define STORE_JOURNAL_RECORD_OVERHEAD 9
/* The largest MQTT packet is 256 MiB; room on top for the caller's own
 * fields (topic, properties, ids). Guards against garbage lengths. */
#define STORE_JOURNAL_MAX_PAYLOAD (256u * 1024 * 1024 + 1024 * 1024)
#define STORE_JOURNAL_PATH_MAX 4096

struct store_journal;

/* Same order as enum config_sync. */
enum store_journal_sync {
	STORE_JOURNAL_SYNC_ALWAYS = 0, /* fdatasync every commit */
	STORE_JOURNAL_SYNC_INTERVAL, /* fdatasync at most every interval */
	STORE_JOURNAL_SYNC_NEVER, /* leave it to the kernel */
};

struct store_journal_opts {
	const char
	    *dir; /* NULL or "" = current directory; created if missing */
	enum store_journal_sync sync;
	uint32_t sync_interval_ms; /* with SYNC_INTERVAL */
	uint64_t max_bytes; /* cap on the journal file; 0 = none */
	bool refuse_corrupt; /* fail open instead of moving a bad file aside */
};

/*
 * What open found. Log it: a corrupt store or a large truncation is news.
 * corrupt with records > 0 means a read error past the start: those
 * records were replayed but the fresh journal is empty, so write them
 * back at once with a rewrite from the replayed state.
 */
struct store_journal_report {
	uint64_t records; /* replayed */
	uint64_t bytes; /* journal size after recovery, header included */
	uint64_t truncated_bytes; /* torn tail cut off */
	uint64_t elapsed_ms;
	bool created; /* there was no journal: started empty */
	bool tmp_removed; /* a leftover junction.db.tmp was deleted */
	bool corrupt; /* unreadable journal moved to bad_path */
	char bad_path[STORE_JOURNAL_PATH_MAX];
	char detail[160]; /* why the tail was cut or the file moved aside */
};

/*
 * Called once per good record, in file order. payload is borrowed for the
 * call only. Return 0 to go on; anything else makes open fail, leaving
 * the journal untouched (nothing truncated or moved).
 */
typedef int store_journal_replay_fn(
    void *arg, uint8_t type, const uint8_t *payload, size_t len);

/*
 * Open the journal in o->dir, replaying it through fn (may be NULL).
 * Creates the directory and an empty journal if missing, deletes a
 * leftover .tmp, truncates a torn tail (ftruncate + fsync) so appends go
 * on after the last good record; what was replayed is fsynced before
 * open returns, so it is durable whatever the previous run's policy. A file whose header is garbage, or that
 * cannot be read (EIO), is renamed to junction.db.bad[.N] and an empty
 * journal is started, unless o->refuse_corrupt. A header of another
 * format version always fails: a newer file is not garbage.
 * On success *jp owns the journal and rep is filled. On failure returns
 * -1 with a message in err (errlen may be 0) and *jp = NULL.
 */
WUR int store_journal_open(struct store_journal **jp,
    const struct store_journal_opts *o, store_journal_replay_fn *fn, void *arg,
    struct store_journal_report *rep, char *err, size_t errlen);

/*
 * Flush everything buffered, fdatasync it whatever the policy, stop the
 * helper thread, close and free. An unfinished rewrite is aborted.
 * Returns 0, or -1 with errno when the final flush failed (the buffered
 * records may be lost; the file stays recoverable). j may be NULL.
 */
WUR int store_journal_close(struct store_journal *j);

/*
 * Copy a record into the write buffer: no syscall. type is 1..255.
 * Returns 0 and bumps append_gen, or -1 with errno: ENOSPC when the file
 * plus everything buffered would pass max_bytes (refuse the message:
 * back-pressure, never a silent drop), EMSGSIZE above
 * STORE_JOURNAL_MAX_PAYLOAD, or the journal's error once it failed.
 */
WUR int store_journal_append(
    struct store_journal *j, uint8_t type, const void *payload, size_t len);

/*
 * Synchronous commit: wait for any batch in flight, write the buffer in
 * one pwrite() and sync it under the policy (INTERVAL: only if
 * sync_interval_ms passed since the last sync; a commit with nothing
 * buffered still does that due sync, so call it from a timer). Returns
 * 0 with durable_gen == append_gen, or -1 with errno: the journal has
 * failed for good (store_journal_error), every later call fails and the
 * caller must stop acking; reopening recovers what reached the disk.
 * During a rewrite it does nothing (see store_journal_rewrite_begin).
 */
WUR int store_journal_commit(struct store_journal *j);

/*
 * Group commit: hand the buffer to the helper thread, which writes and
 * syncs it while the loop appends into a fresh buffer. With a batch
 * already in flight it does nothing: the new records ride in the next
 * batch, which store_journal_poll starts, so batches grow with load.
 * Returns 0, or -1 with errno once the journal has failed. During a
 * rewrite it does nothing.
 */
WUR int store_journal_commit_async(struct store_journal *j);

/*
 * Readable when a batch finished. Add it to the event loop and call
 * store_journal_poll when it fires. Owned by the journal.
 */
int store_journal_fd(const struct store_journal *j);

/*
 * Non-blocking: collect a finished batch (and start the next one if
 * records are waiting). Returns durable_gen; a failed batch does not
 * advance it and sets store_journal_error, so held acks stay held.
 */
uint64_t store_journal_poll(struct store_journal *j);

/* Generation of the last record appended; 0 before the first. */
uint64_t store_journal_append_gen(const struct store_journal *j);

/* Every record appended at or below this generation is durable. */
uint64_t store_journal_durable_gen(const struct store_journal *j);

/* Bytes appended and not yet handed to a commit. */
size_t store_journal_pending(const struct store_journal *j);

/* Size of the journal file as written by commits (not the buffer). */
uint64_t store_journal_file_bytes(const struct store_journal *j);

/* 0 while healthy, else the errno that failed the journal for good. */
int store_journal_error(const struct store_journal *j);

/*
 * Compaction. begin() waits for the batch in flight, then starts
 * junction.db.tmp with a fresh header. The caller writes every live
 * record with rewrite_append (buffered, written in 1 MiB chunks; not
 * subject to max_bytes, since compaction is how space comes back), then
 * calls end() or abort(). Returns 0, or -1 with errno.
 *
 * Records appended with store_journal_append between begin and end are
 * changes made after (or while) the caller took its snapshot: they stay
 * in memory, commits are deferred, and end() writes them after the
 * rewritten records. So a rewrite should finish within one loop turn, or
 * it delays every ack until it ends; replaying a record that the
 * snapshot already reflects must be harmless (puts and deletes are
 * idempotent).
 */
WUR int store_journal_rewrite_begin(struct store_journal *j);

/* One live record into the rewrite; errors as store_journal_append. */
WUR int store_journal_rewrite_append(
    struct store_journal *j, uint8_t type, const void *payload, size_t len);

/*
 * Write the rest and the pending appends to the .tmp, fsync it (whatever
 * the policy: the rename must never expose a partial file), rename it
 * over junction.db, fsync the directory and carry on in the new file;
 * durable_gen then covers every append. Returns 0, or -1 with errno: if
 * the rename did not happen the old journal is intact, the .tmp is gone
 * and the appends are still buffered; if syncing the directory after
 * the rename failed, the journal has failed.
 */
WUR int store_journal_rewrite_end(struct store_journal *j);

/* Drop the rewrite and delete the .tmp. No-op without a rewrite. */
void store_journal_rewrite_abort(struct store_journal *j);

/* CRC-32C, chainable: start with crc 0. */
uint32_t store_journal_crc32c(uint32_t crc, const void *p, size_t len);

#endif
