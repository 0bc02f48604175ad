/* Minimal test harness: each test file defines tests with TEST(name) and lists them in main with
 * RUN(name). Prints "ok"/"not ok" per test and a closing "N passed, N failed" line. */
#ifndef KN_TEST_H
#define KN_TEST_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int passed, failed, cur_failed; const char *cur; } kn_test_state;

#define TEST(name) static void test_##name(kn_test_state *T_)
#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "  %s:%d: %s: check failed: %s\n", __FILE__, __LINE__, T_->cur, #cond); T_->cur_failed = 1; } } while (0)
#define CHECKF(cond, ...) do { if (!(cond)) { fprintf(stderr, "  %s:%d: %s: ", __FILE__, __LINE__, T_->cur); fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); T_->cur_failed = 1; } } while (0)
#define CHECK_NEAR(a, b, tol) do { double a_ = (a), b_ = (b); if (!(fabs(a_ - b_) <= (tol))) { fprintf(stderr, "  %s:%d: %s: %s = %g, expected %g (tol %g)\n", __FILE__, __LINE__, T_->cur, #a, a_, b_, (double)(tol)); T_->cur_failed = 1; } } while (0)
#define REQUIRE(cond) do { if (!(cond)) { fprintf(stderr, "  %s:%d: %s: required: %s\n", __FILE__, __LINE__, T_->cur, #cond); T_->cur_failed = 1; return; } } while (0)
#define RUN(name) do { kn_test_state *T_ = &state_; T_->cur = #name; T_->cur_failed = 0; test_##name(T_); \
    if (T_->cur_failed) { T_->failed++; printf("not ok - %s\n", #name); } else { T_->passed++; printf("ok - %s\n", #name); } fflush(stdout); } while (0)
#define TEST_MAIN_BEGIN int main(void) { kn_test_state state_ = {0, 0, 0, NULL};
#define TEST_MAIN_END printf("%d passed, %d failed\n", state_.passed, state_.failed); return state_.failed ? 1 : 0; }

/* Largest |a-b| over n floats. */
static inline double kn_test_maxdiff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) { double d = fabs((double)a[i] - b[i]); if (d > m || d != d) m = d != d ? INFINITY : d; }
    return m;
}
#endif
