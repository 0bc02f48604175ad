/* The service's SQLite store: schema, WAL + synchronous=FULL so a 202 means the job is on disk, and
 * crash recovery (jobs left "running" by a killed process are queued again). One connection shared
 * under a mutex: requests are short and the database is small. */
#include "serve/serve.h"
#include <stdio.h>
#include <stdlib.h>
#include "io/io.h"

static const char *SCHEMA =
    "CREATE TABLE IF NOT EXISTS keys(id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, prefix TEXT NOT NULL,"
    " salt TEXT NOT NULL, hash TEXT NOT NULL, created REAL NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS keys_prefix ON keys(prefix);"
    "CREATE TABLE IF NOT EXISTS jobs(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL,"
    " tenant TEXT NOT NULL, kind TEXT NOT NULL DEFAULT 'generate', parent TEXT, version INTEGER NOT NULL DEFAULT 1,"
    " state TEXT NOT NULL, stage TEXT, progress REAL NOT NULL DEFAULT 0, params TEXT NOT NULL,"
    " idem_key TEXT, body_hash TEXT, batch TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 0,"
    " created REAL NOT NULL, started REAL, finished REAL, has_image INTEGER NOT NULL DEFAULT 0,"
    " steps_done INTEGER NOT NULL DEFAULT 0, steps_total INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX IF NOT EXISTS jobs_idem ON jobs(tenant, idem_key) WHERE idem_key IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, seq);"
    "CREATE INDEX IF NOT EXISTS jobs_tenant ON jobs(tenant, seq);"
    "CREATE TABLE IF NOT EXISTS batches(id TEXT PRIMARY KEY, tenant TEXT NOT NULL, created REAL NOT NULL,"
    " idem_key TEXT, body_hash TEXT);"
    "CREATE UNIQUE INDEX IF NOT EXISTS batches_idem ON batches(tenant, idem_key) WHERE idem_key IS NOT NULL;";

kn_status kn_store_open(kn_store *s, const char *data_dir, int recover, kn_error *err) {
    memset(s, 0, sizeof *s);
    kn_status st = kn_mkdirs(data_dir, err);
    if (st) return st;
    char path[4096];
    snprintf(path, sizeof path, "%s/kinora.db", data_dir);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
        st = kn_fail(err, KN_EIO, "%s: cannot open: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sqlite3_close(s->db);
        s->db = NULL;
        return st;
    }
    sqlite3_busy_timeout(s->db, 10000);
    char *msg = NULL;
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", NULL, NULL, &msg) ||
        sqlite3_exec(s->db, SCHEMA, NULL, NULL, &msg) ||
        (recover && sqlite3_exec(s->db, "UPDATE jobs SET state='queued', stage=NULL, progress=0, steps_done=0"
                                        " WHERE state='running';", NULL, NULL, &msg))) {
        st = kn_fail(err, KN_EIO, "%s: %s", path, msg ? msg : "schema error");
        sqlite3_free(msg);
        sqlite3_close(s->db);
        s->db = NULL;
        return st;
    }
    pthread_mutex_init(&s->mu, NULL);
    return KN_OK;
}

void kn_store_close(kn_store *s) {
    if (!s->db) return;
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    s->db = NULL;
}
