/* src/sched internals: the parsed configuration (sched_config.c) and the scheduler state (sched.c).
 * Contract: kn_sched_cfg holds every field of scheduler_config.json that changes the numbers, already
 * validated; sched.c only computes. Arithmetic follows diffusers 0.25: tables that diffusers keeps as
 * float32 torch tensors are float here, numpy float64 steps are double here. */
#ifndef KN_SCHED_IMPL_H
#define KN_SCHED_IMPL_H
#include "sched/sched.h"

typedef enum { KN_SK_DDIM, KN_SK_DDPM, KN_SK_EULER, KN_SK_EULER_A, KN_SK_DPM, KN_SK_LCM } kn_sched_kind;
typedef enum { KN_PRED_EPS, KN_PRED_V, KN_PRED_SAMPLE } kn_pred;
typedef enum { KN_SP_LINSPACE, KN_SP_LEADING, KN_SP_TRAILING } kn_spacing;
typedef enum { KN_BS_LINEAR, KN_BS_SCALED_LINEAR, KN_BS_COS, KN_BS_SIGMOID } kn_beta_sched;
typedef enum { KN_VAR_FIXED_SMALL, KN_VAR_FIXED_SMALL_LOG, KN_VAR_FIXED_LARGE } kn_var_type;
typedef enum { KN_DPM_PP, KN_DPM_PLAIN, KN_DPM_SDE_PP, KN_DPM_SDE } kn_dpm_algo;

#define KN_SCHED_MAX_TRAIN 100000

typedef struct kn_sched_cfg {
    kn_sched_kind kind;
    int num_train;                 /* num_train_timesteps */
    double beta_start, beta_end;
    kn_beta_sched beta_schedule;
    double *trained_betas;         /* num_train entries or NULL (owned) */
    kn_pred pred;
    kn_spacing spacing;
    long long steps_offset;
    int rescale_zero_snr;
    int clip_sample;               /* DDIM, DDPM, LCM */
    double clip_range;
    int set_alpha_to_one;          /* DDIM, LCM */
    kn_var_type var_type;          /* DDPM */
    int karras;                    /* Euler, DPM */
    double sigma_min, sigma_max;   /* Euler Karras range; NAN = from the table */
    int continuous_t;              /* Euler timestep_type "continuous" */
    int order;                     /* DPM solver_order */
    kn_dpm_algo algo;
    int heun;                      /* DPM solver_type */
    int lower_order_final, euler_at_final, lu_lambdas, final_zero;
    double lambda_min_clipped;
    int orig_steps;                /* LCM original_inference_steps */
    double timestep_scaling;       /* LCM */
} kn_sched_cfg;

struct kn_sched {
    kn_sched_cfg c;
    char name[40];
    double eta;                    /* DDIM */
    float *ac;                     /* alphas_cumprod [num_train] */
    float final_ac;                /* DDIM/LCM final_alpha_cumprod */
    int n_req;                     /* num_inference_steps as asked */
    int n;                         /* steps actually scheduled */
    double *t;                     /* [n] timesteps */
    float *sig;                    /* [n+1] sigmas (Euler, Euler a, DPM) */
    float init_sigma;
    /* DPM multistep history */
    float *hist[3];
    size_t hist_len;
    int lower_order_nums;
};

kn_status kn_sched_cfg_parse(const json_t *j, const char *name, const char *override_class, kn_sched_cfg *c,
                             char *cls_name, size_t cls_cap, kn_error *err);
void kn_sched_cfg_free(kn_sched_cfg *c);

#endif
