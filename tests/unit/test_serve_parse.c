/* Service building blocks: SHA-256 against FIPS 180-4 vectors, base64, multipart, request
 * validation (defaults, limits naming the field), the cross-fade rebuild. */
#include "test.h"
#include "serve/serve.h"

TEST(sha256_vectors) {
    char h[65];
    kn_sha256_hex("", 0, h);
    CHECK(!strcmp(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    kn_sha256_hex("abc", 3, h);
    CHECK(!strcmp(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    kn_sha256_hex(m, strlen(m), h);
    CHECK(!strcmp(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    /* one million 'a' fed in uneven pieces exercises the block buffering */
    kn_sha256 s;
    uint8_t d[32], buf[997];
    memset(buf, 'a', sizeof buf);
    kn_sha256_init(&s);
    size_t left = 1000000;
    while (left) { size_t k = left < sizeof buf ? left : sizeof buf; kn_sha256_update(&s, buf, k); left -= k; }
    kn_sha256_final(&s, d);
    static const uint8_t want[4] = {0xcd, 0xc7, 0x6e, 0x5c};
    CHECK(!memcmp(d, want, 4));
}

TEST(base64) {
    size_t n;
    uint8_t *p = kn_base64_decode("aGVsbG8gd29ybGQ=", &n);
    REQUIRE(p);
    CHECK(n == 11 && !memcmp(p, "hello world", 11));
    free(p);
    p = kn_base64_decode("data:image/png;base64,aGk", &n);
    REQUIRE(p);
    CHECK(n == 2 && !memcmp(p, "hi", 2));
    free(p);
    CHECK(kn_base64_decode("not*base64", &n) == NULL);
}

TEST(multipart) {
    const char *body = "--XyZ\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na cat\r\n"
                       "--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n"
                       "\x89PNG\r\n\x1a\n--XyZ-\r\n--XyZ--\r\n";
    kn_part parts[4];
    int n = kn_multipart_parse("multipart/form-data; boundary=XyZ", (const uint8_t *)body, strlen(body), parts, 4);
    REQUIRE(n == 2);
    CHECK(!strcmp(parts[0].name, "prompt") && parts[0].n == 5 && !memcmp(parts[0].data, "a cat", 5));
    CHECK(!strcmp(parts[1].name, "image") && !strcmp(parts[1].filename, "a.png") && !strcmp(parts[1].ctype, "image/png"));
    CHECK(parts[1].n == 14 && kn_is_image(parts[1].data, parts[1].n));   /* "--XyZ-" inside data is not a delimiter */
    CHECK(kn_multipart_parse("multipart/form-data", (const uint8_t *)body, strlen(body), parts, 4) == -1);
    CHECK(kn_multipart_parse("multipart/form-data; boundary=XyZ", (const uint8_t *)"--XyZ\r\nbroken", 13, parts, 4) == -1);
}

static json_t *params(const char *req, kn_field_error *fe) {
    kn_serve_limits l;
    kn_serve_limits_default(&l);
    l.max_prompt = 10;
    l.max_steps = 30;
    l.max_frames = 40;
    l.max_pixels = 128 * 128;
    json_t *r = json_loads(req, 0, NULL);
    json_t *p = kn_job_params(r, &l, "m", fe);
    json_decref(r);
    return p;
}

TEST(params_defaults) {
    kn_field_error fe;
    json_t *p = params("{\"prompt\": \"cat\", \"seed\": 5, \"fps\": 8, \"seconds\": 2, \"size\": \"64x32\"}", &fe);
    REQUIRE(p);
    CHECK(json_integer_value(json_object_get(p, "frames")) == 16);
    CHECK(json_integer_value(json_object_get(p, "seed")) == 5);
    CHECK(json_integer_value(json_object_get(p, "width")) == 64 && json_integer_value(json_object_get(p, "height")) == 32);
    CHECK(json_integer_value(json_object_get(p, "steps")) == 20);
    CHECK(!strcmp(json_string_value(json_object_get(p, "model")), "m"));
    /* absent guidance settings stay absent: the worker takes the model's generation_defaults.json */
    CHECK(!json_object_get(p, "guidance") && !json_object_get(p, "motion_guidance"));
    json_decref(p);
    p = params("{\"prompt\": \"cat\", \"guidance\": 3, \"motion_guidance\": 0}", &fe);
    REQUIRE(p);
    CHECK(json_number_value(json_object_get(p, "guidance")) == 3 && json_is_number(json_object_get(p, "motion_guidance")) &&
          json_number_value(json_object_get(p, "motion_guidance")) == 0);
    json_decref(p);
}

TEST(params_limits_name_the_field) {
    static const struct { const char *req, *field; int status; } cases[] = {
        {"{}", "prompt", 422}, {"{\"prompt\": \"01234567890\"}", "prompt", 413},
        {"{\"prompt\": \"a\", \"steps\": 31}", "steps", 422}, {"{\"prompt\": \"a\", \"steps\": 2.5}", "steps", 422},
        {"{\"prompt\": \"a\", \"frames\": 41}", "frames", 422}, {"{\"prompt\": \"a\", \"keyframes\": 8, \"frames\": 4}", "frames", 422},
        {"{\"prompt\": \"a\", \"size\": \"256x256\"}", "size", 422}, {"{\"prompt\": \"a\", \"size\": \"64\"}", "size", 422},
        {"{\"prompt\": \"a\", \"sampler\": \"x\"}", "sampler", 422}, {"{\"prompt\": \"a\", \"model\": \"n\"}", "model", 422},
        {"{\"prompt\": \"a\", \"typo\": 1}", "typo", 422}, {"{\"prompt\": 3}", "prompt", 422},
        {"{\"prompt\": \"a\", \"guidance\": \"high\"}", "guidance", 422},
        {"{\"prompt\": \"a\", \"motion_guidance\": -1}", "motion_guidance", 422}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kn_field_error fe;
        json_t *p = params(cases[i].req, &fe);
        CHECKF(!p && fe.status == cases[i].status && !strcmp(fe.field, cases[i].field), "%s -> %d %s", cases[i].req, fe.status, fe.field);
        json_decref(p);
    }
}

TEST(crossfade) {
    uint8_t rgb[2 * 2 * 1 * 3] = {0, 0, 0, 0, 0, 0, 200, 100, 50, 200, 100, 50};
    kn_video kf = {2, 1, 2, 8.f, rgb, 0, NULL}, v;
    kn_error err;
    REQUIRE(kn_crossfade(&kf, 5, 8.f, &v, &err) == KN_OK);
    CHECK(v.nframes == 5 && v.keyframe_index[0] == 0 && v.keyframe_index[1] == 4);
    CHECK(v.rgb[0] == 0 && v.rgb[2 * 6] == 100 && v.rgb[2 * 6 + 1] == 50 && v.rgb[4 * 6] == 200);
    kn_video_free(&v);
    CHECK(kn_crossfade(&kf, 1, 8.f, &v, &err) == KN_EINVAL);
}

TEST_MAIN_BEGIN
    RUN(sha256_vectors);
    RUN(base64);
    RUN(multipart);
    RUN(params_defaults);
    RUN(params_limits_name_the_field);
    RUN(crossfade);
TEST_MAIN_END
