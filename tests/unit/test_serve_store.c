/* Service store: keys are verified by salted hash and revocable; a job left 'running' by a killed
 * process is queued again when the store reopens with recovery. */
#include <stdlib.h>
#include <unistd.h>
#include "test.h"
#include "serve/serve.h"

static void tmpdir(char *buf, size_t cap) {
    snprintf(buf, cap, "/tmp/kn_serve_store_XXXXXX");
    if (!mkdtemp(buf)) buf[0] = 0;
}

static void rmdb(const char *dir) {
    char p[256];
    const char *ext[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) { snprintf(p, sizeof p, "%s/kinora.db%s", dir, ext[i]); unlink(p); }
    rmdir(dir);
}

TEST(keys) {
    char dir[64], key[64], tenant[80];
    tmpdir(dir, sizeof dir);
    REQUIRE(dir[0]);
    kn_store s;
    kn_error err;
    REQUIRE(kn_store_open(&s, dir, 1, &err) == KN_OK);
    REQUIRE(kn_keys_create(&s, "acme", key, &err) == KN_OK);
    long long id = 0;
    CHECK(kn_keys_verify(&s, key, tenant, sizeof tenant, &id) && !strcmp(tenant, "acme") && id > 0);
    char wrong[64];
    snprintf(wrong, sizeof wrong, "%s", key);
    wrong[20] = wrong[20] == 'a' ? 'b' : 'a';
    CHECK(!kn_keys_verify(&s, wrong, tenant, sizeof tenant, &id));
    CHECK(!kn_keys_verify(&s, "kn_short", tenant, sizeof tenant, &id));
    CHECK(kn_keys_create(&s, "", key + 0, &err) == KN_EINVAL);
    int found = 0;
    REQUIRE(kn_keys_revoke(&s, key, &found, &err) == KN_OK);
    CHECK(found == 1 && !kn_keys_verify(&s, key, tenant, sizeof tenant, &id));
    kn_store_close(&s);
    rmdb(dir);
}

static const char *state_of(kn_store *s, const char *id) {
    static char st[32];
    char sql[128];
    sqlite3_stmt *q = NULL;
    st[0] = 0;
    snprintf(sql, sizeof sql, "SELECT state FROM jobs WHERE id='%s'", id);
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        snprintf(st, sizeof st, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    return st;
}

TEST(recovery_requeues_running) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    REQUIRE(dir[0]);
    kn_store s;
    kn_error err;
    REQUIRE(kn_store_open(&s, dir, 1, &err) == KN_OK);
    CHECK(sqlite3_exec(s.db, "INSERT INTO jobs(id,tenant,state,params,created,attempts) VALUES"
                             "('a','t','running','{}',0,1),('b','t','succeeded','{}',0,1),('c','t','queued','{}',0,0)",
                       NULL, NULL, NULL) == SQLITE_OK);
    kn_store_close(&s);
    REQUIRE(kn_store_open(&s, dir, 0, &err) == KN_OK);   /* `kinora keys` opens without recovery */
    CHECK(!strcmp(state_of(&s, "a"), "running"));
    kn_store_close(&s);
    REQUIRE(kn_store_open(&s, dir, 1, &err) == KN_OK);
    CHECK(!strcmp(state_of(&s, "a"), "queued"));
    CHECK(!strcmp(state_of(&s, "b"), "succeeded"));
    CHECK(!strcmp(state_of(&s, "c"), "queued"));
    kn_store_close(&s);
    rmdb(dir);
}

TEST_MAIN_BEGIN
    RUN(keys);
    RUN(recovery_requeues_running);
TEST_MAIN_END
