/* Parity runner for kind "unet_motion": the UNet2DConditionModel folder plus the MotionAdapter folder
 * (as checkpoints are published) and, when case.json names one, the merged UNetMotionModel folder; both
 * must give out.sample for in.sample [B,C,F,H,W]. */
#include "check/check.h"
#include "models/models.h"

kn_status kn_check_unet_run(kn_check_case *c, const kn_unet *u, int video, kn_error *err);

static kn_status run_one(kn_check_case *c, const char *dir, const char *motion, kn_error *err) {
    kn_unet *u;
    kn_status st = kn_unet_open(dir, motion, &u, err);
    if (st) return st;
    if (!kn_unet_has_motion(u)) st = kn_fail(err, KN_EFORMAT, "%s: no motion modules", dir);
    if (!st) st = kn_check_unet_run(c, u, 1, err);
    kn_unet_close(u);
    return st;
}

kn_status kn_check_unet_motion(kn_check_case *c, kn_error *err) {
    char dir[2048], mdir[2048], merged[2048];
    kn_status st = kn_check_model_path(c, "model", dir, sizeof dir, err);
    if (!st) st = kn_check_model_path(c, "motion_adapter", mdir, sizeof mdir, err);
    if (st) return st;
    if ((st = run_one(c, dir, mdir, err))) return kn_wrap(err, "unet + motion_adapter");
    if (json_object_get(c->cfg, "merged_model")) {
        if ((st = kn_check_model_path(c, "merged_model", merged, sizeof merged, err))) return st;
        if ((st = run_one(c, merged, NULL, err))) return kn_wrap(err, "merged unet_motion");
    }
    return KN_OK;
}
