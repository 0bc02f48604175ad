/* kinora train --stage S --init DIR --data DIR --out DIR [options]: see docs/training.md. */
#include "cli/cli.h"
#include <stdlib.h>
#include <string.h>
#include "train/train.h"

static void train_usage(FILE *f) {
    fprintf(f,
            "usage: kinora train --stage vae|image|motion|joint --init DIR --data DIR --out DIR [options]\n"
            "Trains a pipeline folder's models on a data set written by `kinora dataset`.\n"
            "  --init DIR         pipeline folder to start from: configs, plus the weights of earlier stages\n"
            "                     (a component without weights is initialised randomly from its config)\n"
            "  --out DIR          pipeline folder written at each checkpoint (with optimizer state);\n"
            "                     an existing checkpoint there is resumed unless --no-resume\n"
            "  --stage vae        the AutoencoderKL on single frames (MSE + --kl-weight KL)\n"
            "  --stage image      text encoder + UNet spatial layers on single frames (motion frozen)\n"
            "  --stage motion     only the motion modules, on clips of --frames frames\n"
            "  --stage joint      text encoder + the whole UNet on clips\n"
            "  --steps N (1000)   --batch B (4)   --frames F (8)   --threads N   --seed S (1)\n"
            "  --lr X (1e-4)   --weight-decay X (0.01)   --warmup N (100)   --min-lr-ratio X (0.1)\n"
            "  --max-grad-norm X (1)   --ema X (0.999, 0 off)   --kl-weight X (1e-4)   --min-snr G (5, 0 off)\n"
            "  --caption-dropout P (0.1)   --save-every N (200)   --log-every N (10)   --max-hours H\n"
            "  --motion-weight M (0)   clips only: weight each latent pixel by 1 + M * (its distance from\n"
            "                     the clip's temporal mean) / (the clip's mean distance), renormalised to mean 1\n"
            "  --timestep-shift S (1)  draw training timesteps at u' = S u / (1 + (S-1) u) of the schedule\n"
            "                     (S > 1: noisier steps, where layout and motion are decided, more often)\n"
            "  --reverse P (0)    clips only: with probability P play a clip backwards under its reversed\n"
            "                     caption (left <-> right, up <-> down, growing <-> shrinking; clips that\n"
            "                     bounce or fall are never reversed)\n"
            "  --oversample LIST --oversample-p P   clips only: with probability P draw a batch item from\n"
            "                     the clips showing one of the comma-separated motions (e.g. growing,shrinking)\n"
            "  --freeze LIST      comma-separated components (text_encoder, unet, vae) or tensor-name parts\n"
            "                     to keep fixed, e.g. --freeze text_encoder,conv_in\n"
            "  --quiet\n"
            "\nusage: kinora train --export TRAIN_DIR --out DIR [--dtype f16|bf16|f32] [--no-ema]\n"
            "Writes the pipeline folder the generator ships from a training output folder: the EMA weights\n"
            "(unless --no-ema) in f16 (default), configs, tokenizer and scheduler; no optimizer state.\n");
}

static int parse_u64(const char *opt, const char *val, uint64_t *out) {
    char *end;
    if (!val || !*val || (*out = strtoull(val, &end, 10), *end)) {
        fprintf(stderr, "kinora: %s needs a non-negative integer\n", opt);
        return -1;
    }
    return 0;
}

int kn_cmd_train(int argc, char **argv) {
    kn_train_opts o;
    kn_train_defaults(&o);
    const char *export_dir = NULL, *dtype = "f16";
    int ema = 1;
    o.threads = kn_default_threads();
    o.resume = 1;
    long v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        double *dopt = NULL;
        double lo = 0, hi = 1e9;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { train_usage(stdout); return 0; }
        else if (!strcmp(a, "--quiet")) { o.quiet = 1; continue; }
        else if (!strcmp(a, "--no-resume")) { o.resume = 0; continue; }
        else if (!strcmp(a, "--no-ema")) { ema = 0; continue; }
        else if (!strcmp(a, "--export") && val) { export_dir = val; i++; continue; }
        else if (!strcmp(a, "--dtype") && val) { dtype = val; i++; continue; }
        else if (!strcmp(a, "--stage") && val) { o.stage = val; i++; continue; }
        else if (!strcmp(a, "--init") && val) { o.init_dir = val; i++; continue; }
        else if (!strcmp(a, "--data") && val) { o.data_dir = val; i++; continue; }
        else if (!strcmp(a, "--out") && val) { o.out_dir = val; i++; continue; }
        else if (!strcmp(a, "--freeze") && val) { o.freeze = val; i++; continue; }
        else if (!strcmp(a, "--oversample") && val) { o.oversample = val; i++; continue; }
        else if (!strcmp(a, "--seed")) { if (parse_u64(a, val, &o.seed)) return 2; i++; continue; }
        else if (!strcmp(a, "--steps")) { if (kn_arg_int(a, val, 1, 100000000, &v)) return 2; o.steps = (int)v; i++; continue; }
        else if (!strcmp(a, "--batch")) { if (kn_arg_int(a, val, 1, 64, &v)) return 2; o.batch = (int)v; i++; continue; }
        else if (!strcmp(a, "--frames")) { if (kn_arg_int(a, val, 1, 256, &v)) return 2; o.frames = (int)v; i++; continue; }
        else if (!strcmp(a, "--threads")) { if (kn_arg_int(a, val, 1, 256, &v)) return 2; o.threads = (int)v; i++; continue; }
        else if (!strcmp(a, "--save-every")) { if (kn_arg_int(a, val, 1, 100000000, &v)) return 2; o.save_every = (int)v; i++; continue; }
        else if (!strcmp(a, "--log-every")) { if (kn_arg_int(a, val, 1, 100000000, &v)) return 2; o.log_every = (int)v; i++; continue; }
        else if (!strcmp(a, "--lr")) { dopt = &o.lr; lo = 1e-12; hi = 10; }
        else if (!strcmp(a, "--weight-decay")) dopt = &o.weight_decay;
        else if (!strcmp(a, "--warmup")) dopt = &o.warmup;
        else if (!strcmp(a, "--min-lr-ratio")) { dopt = &o.min_lr_ratio; hi = 1; }
        else if (!strcmp(a, "--max-grad-norm")) dopt = &o.max_grad_norm;
        else if (!strcmp(a, "--ema")) { dopt = &o.ema_decay; hi = 0.999999; }
        else if (!strcmp(a, "--kl-weight")) dopt = &o.kl_weight;
        else if (!strcmp(a, "--min-snr")) dopt = &o.min_snr;
        else if (!strcmp(a, "--motion-weight")) { dopt = &o.motion_weight; hi = 1000; }
        else if (!strcmp(a, "--timestep-shift")) { dopt = &o.timestep_shift; lo = 1; hi = 1000; }
        else if (!strcmp(a, "--reverse")) { dopt = &o.reverse; hi = 1; }
        else if (!strcmp(a, "--oversample-p")) { dopt = &o.oversample_p; hi = 1; }
        else if (!strcmp(a, "--caption-dropout")) { dopt = &o.caption_dropout; hi = 1; }
        else if (!strcmp(a, "--max-hours")) dopt = &o.max_hours;
        else { fprintf(stderr, "kinora train: unknown option or missing value '%s'\n", a); train_usage(stderr); return 2; }
        if (kn_arg_float(a, val, lo, hi, dopt)) return 2;
        i++;
    }
    kn_error err = {0};
    if (export_dir) {
        kn_dtype dt = !strcmp(dtype, "f16") ? KN_F16 : !strcmp(dtype, "bf16") ? KN_BF16 : !strcmp(dtype, "f32") ? KN_F32 : KN_U8;
        if (dt == KN_U8) { fprintf(stderr, "kinora train: --dtype %s (f16, bf16 or f32)\n", dtype); return 2; }
        if (!o.out_dir) { train_usage(stderr); return 2; }
        if (kn_train_export(export_dir, o.out_dir, dt, ema, &err)) { fprintf(stderr, "kinora train: %s\n", err.msg); return 1; }
        return 0;
    }
    if (!o.init_dir || !o.data_dir || !o.out_dir) { train_usage(stderr); return 2; }
    kn_interrupt stop;   /* before the trainer's threads: Ctrl-C ends the run after a checkpoint */
    if (kn_interrupt_start(&stop)) { fprintf(stderr, "kinora train: cannot set up the signal watcher\n"); return 1; }
    o.stop = &stop.raised;
    int rc = 0;
    if (kn_train_run(&o, &err)) { fprintf(stderr, "kinora train: %s\n", err.msg); rc = 1; }
    int sig = kn_interrupt_stop(&stop);
    if (sig && rc == 0) {
        fprintf(stderr, "kinora train: stopped by %s after a checkpoint; the same command resumes from it\n",
                kn_signal_name(sig));
        rc = 128 + sig;
    }
    return rc;
}
