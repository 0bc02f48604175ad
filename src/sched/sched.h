/* src/sched: noise schedulers behind one interface, configured from scheduler_config.json with
 * diffusers' semantics (DDIM, DDPM, Euler, Euler ancestral, DPM++ 2M (+Karras), LCM).
 * Contract: kn_sched_set_timesteps fills timesteps; then for i in 0..n-1: scaled input =
 * kn_sched_scale_input(sample, i); model output from the network; kn_sched_step(..., noise) where
 * `noise` is a caller-supplied standard normal tensor for stochastic samplers (NULL otherwise), so
 * randomness is reproducible and owned by the caller. No hidden global state: all state is in the
 * kn_sched struct. */
#ifndef KN_SCHED_H
#define KN_SCHED_H
#include "core/core.h"

typedef struct kn_sched kn_sched;
/* Reads scheduler_config.json in dir (or the file itself if path ends in .json). `override_class`
 * (may be NULL) picks another sampler by CLI name: ddim, ddpm, euler, euler_a, dpmpp_2m,
 * dpmpp_2m_karras, lcm, reusing the betas of the config. */
kn_status kn_sched_open(const char *path, const char *override_class, kn_sched **out, kn_error *err);
void kn_sched_close(kn_sched *s);
const char *kn_sched_name(const kn_sched *s);
kn_status kn_sched_set_timesteps(kn_sched *s, int num_inference_steps, kn_error *err);
int kn_sched_num_steps(const kn_sched *s);
float kn_sched_timestep(const kn_sched *s, int i);    /* t_i fed to the UNet */
float kn_sched_init_noise_sigma(const kn_sched *s);
int kn_sched_is_stochastic(const kn_sched *s);
void kn_sched_scale_input(const kn_sched *s, int i, const float *sample, size_t n, float *out);
/* prev_sample = step(model_output, t_i, sample); `noise` [n] standard normal for stochastic samplers. */
kn_status kn_sched_step(kn_sched *s, int i, const float *model_output, const float *sample, const float *noise,
                        size_t n, float *prev_sample, kn_error *err);
/* Forward diffusion to step i's noise level: out = sqrt(abar) x0 + sqrt(1-abar) noise (or the sigma
 * form for sigma-space samplers), for image-to-video and keyframe harmonisation. */
void kn_sched_add_noise(const kn_sched *s, int i, const float *x0, const float *noise, size_t n, float *out);

/* What a trainer needs from the same config: the training noise schedule (alphas_cumprod, one per
 * training timestep, borrowed) and the prediction type (0 epsilon, 1 v_prediction, 2 sample). */
int kn_sched_num_train_timesteps(const kn_sched *s);
const float *kn_sched_alphas_cumprod(const kn_sched *s);
int kn_sched_prediction_type(const kn_sched *s);

/* ---- additions: entry points that take an already parsed config ---- */
#include <jansson.h>
/* Loads a scheduler_config.json. Python's json writes -Infinity/Infinity/NaN (lambda_min_clipped), which
 * strict JSON rejects: outside strings those bare words become the strings "-Infinity", "Infinity",
 * "NaN", which the number fields accept. */
kn_status kn_sched_load_json(const char *path, json_t **out, kn_error *err);
/* The same from a buffer (used by the fuzzer). `name` labels errors. */
kn_status kn_sched_parse_json(const char *buf, size_t n, const char *name, json_t **out, kn_error *err);
/* Builds a scheduler from a parsed config; `name` labels errors; override_class as in kn_sched_open, or
 * a diffusers class name. Every known field is validated; unknown keys are ignored as diffusers does. */
kn_status kn_sched_from_json(const json_t *cfg, const char *name, const char *override_class, kn_sched **out,
                             kn_error *err);
/* DDIM's eta (a step argument in diffusers, 0 by default): eta > 0 makes DDIM stochastic. */
kn_status kn_sched_set_eta(kn_sched *s, double eta, kn_error *err);
/* Noise level of step i in sigma units (sigma-space samplers; sqrt((1-abar)/abar) for the others). */
float kn_sched_sigma(const kn_sched *s, int i);
/* Whether step i consumes `noise` (DDPM's last step and LCM's last step do not). */
int kn_sched_step_needs_noise(const kn_sched *s, int i);

#endif
