/* API keys: "kn_" + 8 hex lookup prefix + 32 hex secret. The database keeps the prefix (to find the
 * row), a random salt and SHA-256(salt || key); verification recomputes and compares in constant time. */
#include "serve/serve.h"
#include <stdio.h>
#include <time.h>

static double wall_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static void salted(const char *salt, const char *key, char out[65]) {
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%s%s", salt, key);
    kn_sha256_hex(buf, n < 0 ? 0 : (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1, out);
}

kn_status kn_keys_create(kn_store *s, const char *tenant, char *key_out, kn_error *err) {
    if (!tenant || !*tenant || strlen(tenant) > 64)
        return kn_fail(err, KN_EINVAL, "keys: tenant must be 1 to 64 characters");
    char prefix[17], secret[33], salt[33], hash[65];
    kn_status st;
    if ((st = kn_random_hex(prefix, 4, err)) || (st = kn_random_hex(secret, 16, err)) || (st = kn_random_hex(salt, 16, err)))
        return st;
    snprintf(key_out, 64, "kn_%s%s", prefix, secret);
    salted(salt, key_out, hash);
    sqlite3_stmt *q = NULL;
    pthread_mutex_lock(&s->mu);
    int rc = sqlite3_prepare_v2(s->db, "INSERT INTO keys(tenant,prefix,salt,hash,created) VALUES(?,?,?,?,?)", -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(q, 1, tenant, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 2, prefix, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 3, salt, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 4, hash, -1, SQLITE_TRANSIENT);
        sqlite3_bind_double(q, 5, wall_now());
        rc = sqlite3_step(q) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    if (rc != SQLITE_OK) st = kn_fail(err, KN_EIO, "keys: cannot store the key: %s", sqlite3_errmsg(s->db));
    sqlite3_finalize(q);
    pthread_mutex_unlock(&s->mu);
    return st;
}

kn_status kn_keys_list(kn_store *s, json_t **out, kn_error *err) {
    json_t *a = json_array();
    sqlite3_stmt *q = NULL;
    pthread_mutex_lock(&s->mu);
    int rc = sqlite3_prepare_v2(s->db, "SELECT id,tenant,prefix,created,revoked FROM keys ORDER BY id", -1, &q, NULL);
    while (rc == SQLITE_OK && a && sqlite3_step(q) == SQLITE_ROW)
        json_array_append_new(a, json_pack("{sIsssssfsb}", "id", (json_int_t)sqlite3_column_int64(q, 0),
                                           "tenant", (const char *)sqlite3_column_text(q, 1),
                                           "prefix", (const char *)sqlite3_column_text(q, 2),
                                           "created", sqlite3_column_double(q, 3), "revoked", sqlite3_column_int(q, 4)));
    sqlite3_finalize(q);
    pthread_mutex_unlock(&s->mu);
    if (rc != SQLITE_OK || !a) { json_decref(a); return kn_fail(err, KN_EIO, "keys: cannot list"); }
    *out = a;
    return KN_OK;
}

kn_status kn_keys_revoke(kn_store *s, const char *id_or_prefix, int *found, kn_error *err) {
    const char *p = id_or_prefix;
    if (!strncmp(p, "kn_", 3)) p += 3;     /* a whole key or its prefix both name the row */
    char prefix[9];
    snprintf(prefix, sizeof prefix, "%s", p);
    sqlite3_stmt *q = NULL;
    pthread_mutex_lock(&s->mu);
    int rc = sqlite3_prepare_v2(s->db, "UPDATE keys SET revoked=1 WHERE id=?1 OR prefix=?2", -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, strtoll(id_or_prefix, NULL, 10));
        sqlite3_bind_text(q, 2, prefix, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(q) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    *found = rc == SQLITE_OK ? sqlite3_changes(s->db) : 0;
    sqlite3_finalize(q);
    pthread_mutex_unlock(&s->mu);
    return rc == SQLITE_OK ? KN_OK : kn_fail(err, KN_EIO, "keys: cannot revoke: %s", sqlite3_errmsg(s->db));
}

int kn_keys_verify(kn_store *s, const char *key, char *tenant, size_t cap, long long *key_id) {
    if (!key || strlen(key) != 43 || strncmp(key, "kn_", 3)) return 0;
    char prefix[9];
    memcpy(prefix, key + 3, 8);
    prefix[8] = 0;
    int ok = 0;
    sqlite3_stmt *q = NULL;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db, "SELECT id,tenant,salt,hash FROM keys WHERE prefix=? AND revoked=0", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, prefix, -1, SQLITE_TRANSIENT);
        while (!ok && sqlite3_step(q) == SQLITE_ROW) {
            char h[65];
            salted((const char *)sqlite3_column_text(q, 2), key, h);
            const char *want = (const char *)sqlite3_column_text(q, 3);
            unsigned diff = 0;
            for (int i = 0; i < 64; i++) diff |= (unsigned)(h[i] ^ want[i]);
            if (!diff) {
                ok = 1;
                snprintf(tenant, cap, "%s", (const char *)sqlite3_column_text(q, 1));
                *key_id = sqlite3_column_int64(q, 0);
            }
        }
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&s->mu);
    return ok;
}
