#!/usr/bin/env python3
"""Extra scheduler parity cases for tests/vectors/, computed by tools/sched_ref.py (a numpy
re-implementation of diffusers 0.25's scheduler formulas) and NOT by diffusers itself: run
`tools/sched_ref.py validate /path/to/shared/testvectors` first, which checks the reference against the
diffusers-computed cases. Usage: sched_ref.py generate tests/vectors"""
import json, os
import numpy as np
import sched_ref as R

SD = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule='scaled_linear',
          trained_betas=None)

CASES = [
    # name, class, steps, shape, eta, config
    ('sched_ddim_eta_noise', 'DDIMScheduler', 6, [1, 4, 4, 4], 0.7,
     dict(SD, beta_schedule='linear', clip_sample=False, set_alpha_to_one=False, steps_offset=1,
          prediction_type='epsilon', timestep_spacing='leading')),
    ('sched_ddim_zsnr_trailing_v', 'DDIMScheduler', 6, [1, 4, 4, 4], 0.0,
     dict(SD, clip_sample=False, set_alpha_to_one=True, steps_offset=0, prediction_type='v_prediction',
          timestep_spacing='trailing', rescale_betas_zero_snr=True)),
    ('sched_ddim_sample_cos', 'DDIMScheduler', 5, [1, 4, 4, 4], 0.0,
     dict(SD, beta_schedule='squaredcos_cap_v2', clip_sample=True, clip_sample_range=1.5,
          set_alpha_to_one=True, prediction_type='sample', timestep_spacing='linspace')),
    ('sched_ddpm_eps_linspace', 'DDPMScheduler', 6, [1, 4, 4, 4], 0.0,
     dict(SD, variance_type='fixed_small_log', clip_sample=True, prediction_type='epsilon',
          timestep_spacing='linspace')),
    ('sched_euler_v_karras', 'EulerDiscreteScheduler', 7, [1, 4, 4, 4], 0.0,
     dict(SD, prediction_type='v_prediction', interpolation_type='linear', use_karras_sigmas=True,
          sigma_min=None, sigma_max=None, timestep_spacing='linspace', timestep_type='discrete', steps_offset=0)),
    ('sched_euler_trailing_cos', 'EulerDiscreteScheduler', 6, [1, 4, 4, 4], 0.0,
     dict(SD, beta_schedule='squaredcos_cap_v2', prediction_type='epsilon', interpolation_type='linear',
          use_karras_sigmas=False, timestep_spacing='trailing', steps_offset=0)),
    ('sched_euler_zsnr_trailing_v', 'EulerDiscreteScheduler', 6, [1, 4, 4, 4], 0.0,
     dict(SD, prediction_type='v_prediction', timestep_spacing='trailing', rescale_betas_zero_snr=True)),
    ('sched_euler_a_v_linspace', 'EulerAncestralDiscreteScheduler', 6, [1, 4, 4, 4], 0.0,
     dict(SD, prediction_type='v_prediction', timestep_spacing='linspace', steps_offset=0)),
    ('sched_dpmpp2m_v_trailing', 'DPMSolverMultistepScheduler', 8, [1, 4, 4, 4], 0.0,
     dict(SD, solver_order=2, prediction_type='v_prediction', algorithm_type='dpmsolver++',
          solver_type='midpoint', lower_order_final=True, use_karras_sigmas=False,
          timestep_spacing='trailing', steps_offset=0)),
    ('sched_dpmpp2m_heun_leading16', 'DPMSolverMultistepScheduler', 16, [1, 4, 2, 2], 0.0,
     dict(SD, beta_schedule='linear', solver_order=2, prediction_type='epsilon', algorithm_type='dpmsolver++',
          solver_type='heun', lower_order_final=True, use_karras_sigmas=False,
          timestep_spacing='leading', steps_offset=1)),
    ('sched_dpmpp2m_karras_v', 'DPMSolverMultistepScheduler', 7, [1, 4, 4, 4], 0.0,
     dict(SD, solver_order=2, prediction_type='v_prediction', algorithm_type='dpmsolver++',
          solver_type='midpoint', lower_order_final=True, use_karras_sigmas=True, timestep_spacing='linspace')),
    ('sched_lcm_eps', 'LCMScheduler', 4, [1, 4, 4, 4], 0.0,
     dict(SD, original_inference_steps=50, clip_sample=False, set_alpha_to_one=True, steps_offset=0,
          prediction_type='epsilon', timestep_spacing='leading', timestep_scaling=10.0)),
    ('sched_dpm3_plain_linear', 'DPMSolverMultistepScheduler', 8, [1, 4, 4, 4], 0.0,
     dict(SD, beta_schedule='linear', beta_start=0.0001, beta_end=0.02, solver_order=3, prediction_type='epsilon',
          algorithm_type='dpmsolver', solver_type='midpoint', lower_order_final=True, use_karras_sigmas=False,
          timestep_spacing='linspace')),
    ('sched_dpm3_pp_v_16', 'DPMSolverMultistepScheduler', 16, [1, 4, 2, 2], 0.0,
     dict(SD, solver_order=3, prediction_type='v_prediction', algorithm_type='dpmsolver++', solver_type='midpoint',
          lower_order_final=True, use_karras_sigmas=False, timestep_spacing='trailing')),
    ('sched_dpm_sde_pp_karras', 'DPMSolverMultistepScheduler', 6, [1, 4, 4, 4], 0.0,
     dict(SD, solver_order=2, prediction_type='epsilon', algorithm_type='sde-dpmsolver++', solver_type='midpoint',
          lower_order_final=True, use_karras_sigmas=True, timestep_spacing='linspace')),
    ('sched_ddpm_large_trained_v', 'DDPMScheduler', 5, [1, 4, 4, 4], 0.0,
     dict(num_train_timesteps=100, trained_betas=[round(0.0001 + i * (0.05 - 0.0001) / 99, 6) for i in range(100)],
          variance_type='fixed_large', clip_sample=False, prediction_type='v_prediction',
          timestep_spacing='trailing', steps_offset=0)),
    ('sched_euler_cont_v_leading', 'EulerDiscreteScheduler', 6, [1, 4, 4, 4], 0.0,
     dict(SD, prediction_type='v_prediction', timestep_type='continuous', timestep_spacing='leading',
          steps_offset=1)),
]

STOCHASTIC = {'DDPMScheduler', 'EulerAncestralDiscreteScheduler', 'LCMScheduler'}


def generate(outdir):
    rng = np.random.default_rng(20240125)
    for name, cls, steps, shape, eta, cfg in CASES:
        d = os.path.join(outdir, name)
        os.makedirs(os.path.join(d, 'scheduler'), exist_ok=True)
        cfg = dict(cfg, _class_name=cls)
        json.dump(cfg, open(os.path.join(d, 'scheduler', 'scheduler_config.json'), 'w'), indent=1)
        r = R.Ref(cfg, cls, eta)
        t = r.set_timesteps(steps)
        stoch = cls in STOCHASTIC or eta > 0 or 'sde' in cfg.get('algorithm_type', '')
        io = {'in.sample_0': (rng.standard_normal(shape) * float(r.init_sigma)).astype(np.float32)}
        res = {'out.timesteps': t.astype(np.float64), 'out.init_noise_sigma': np.array([r.init_sigma], np.float32)}
        x = io['in.sample_0']
        for i in range(len(t)):
            res['out.scaled_input_%d' % i] = r.scale(i, x)
            m = rng.standard_normal(shape).astype(np.float32)
            io['in.model_output_%d' % i] = m
            nz = None
            if stoch:
                nz = rng.standard_normal(shape).astype(np.float32)
                io['in.noise_%d' % i] = nz
            x = r.step(i, m, x, nz)
            res['out.prev_sample_%d' % i] = x
        io.update(res)
        R.st_save(os.path.join(d, 'io.safetensors'), io)
        case = {'kind': 'scheduler', 'model': 'scheduler', 'class': cls, 'num_inference_steps': steps,
                'prediction_type': cfg['prediction_type'], 'stochastic': stoch, 'tol': 1e-4,
                'note': 'for each step i: scaled = scale_model_input(sample_i, t_i); prev = step(in.model_output_i, '
                        't_i, sample_i[, in.noise_i]); sample_{i+1} = prev. Computed by tools/sched_ref.py, a numpy '
                        're-implementation of the diffusers 0.25 scheduler formulas (not diffusers itself); that '
                        'reference reproduces the five diffusers-computed shared cases sched_* to < 1e-6 relative.'}
        if eta > 0:
            case['eta'] = eta
        json.dump(case, open(os.path.join(d, 'case.json'), 'w'), indent=1)
        print(name, len(t), 'steps')
