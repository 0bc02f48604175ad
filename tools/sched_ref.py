#!/usr/bin/env python3
"""Independent numpy re-implementation of the diffusers 0.25 schedulers (DDIM, DDPM, Euler, Euler
ancestral, DPM-Solver multistep, LCM), written from the published formulas and diffusers' documented
numerics: float32 where diffusers keeps torch float32 tensors (beta table, alphas_cumprod, sigmas, step
scalars), float64 where it uses numpy. Used to validate against the shared diffusers vectors and to
generate extra scheduler cases under tests/vectors/sched_*.

  sched_ref.py validate DIR...      run every scheduler case in DIRs, print max error per case
  sched_ref.py generate OUTDIR      write the extra cases (case.json, scheduler/, io.safetensors)
"""
import json, math, os, struct, sys
import numpy as np

f32 = np.float32


# ---------- safetensors ----------
def st_load(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == '__metadata__':
            continue
        dt = {'F32': np.float32, 'F64': np.float64, 'I64': np.int64}[v['dtype']]
        s, e = v['data_offsets']
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype=dt).reshape(v['shape'])
    return out


def st_save(path, tensors):
    hdr, blobs, off = {}, [], 0
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k])
        dt = {np.dtype(np.float32): 'F32', np.dtype(np.float64): 'F64', np.dtype(np.int64): 'I64'}[a.dtype]
        raw = a.tobytes()
        hdr[k] = {'dtype': dt, 'shape': list(a.shape), 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(hdr, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


# ---------- tables ----------
def torch_linspace_f32(a, b, n):
    a, b = f32(a), f32(b)
    step = f32((b - a) / f32(n - 1))
    i = np.arange(n)
    half = n // 2
    lo = a + step * i.astype(f32)
    hi = b - step * (n - 1 - i).astype(f32)
    return np.where(i < half, lo, hi).astype(f32)


def betas_table(cfg, kind):
    T = cfg.get('num_train_timesteps', 1000)
    lcm = kind == 'LCMScheduler'
    bs, be = cfg.get('beta_start', 0.00085 if lcm else 0.0001), cfg.get('beta_end', 0.012 if lcm else 0.02)
    sched = cfg.get('beta_schedule', 'scaled_linear' if lcm else 'linear')
    if cfg.get('trained_betas') is not None:
        return np.array(cfg['trained_betas'], dtype=f32)
    if sched == 'linear':
        return torch_linspace_f32(bs, be, T)
    if sched == 'scaled_linear':
        b = torch_linspace_f32(math.sqrt(bs), math.sqrt(be), T)
        return (b * b).astype(f32)
    if sched == 'squaredcos_cap_v2':
        ab = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
        return np.array([min(1 - ab((i + 1) / T) / ab(i / T), 0.999) for i in range(T)], dtype=f32)
    raise ValueError(sched)


def cumprod_f32(a):
    # torch's CPU cumprod accumulates float32 input in double
    return np.cumprod(a.astype(np.float64)).astype(f32)


def rescale_zero_snr(b):
    ab = np.sqrt(cumprod_f32((f32(1) - b).astype(f32))).astype(f32)
    a0, aT = ab[0], ab[-1]
    ab = ((ab - aT) * (a0 / (a0 - aT))).astype(f32)
    ab = (ab * ab).astype(f32)
    al = np.concatenate([ab[:1], ab[1:] / ab[:-1]]).astype(f32)
    return (f32(1) - al).astype(f32)


def alphas_cumprod(cfg, kind):
    b = betas_table(cfg, kind)
    if cfg.get('rescale_betas_zero_snr', False):
        b = rescale_zero_snr(b)
    ac = cumprod_f32((f32(1) - b).astype(f32))
    if cfg.get('rescale_betas_zero_snr', False) and kind in ('EulerDiscreteScheduler', 'EulerAncestralDiscreteScheduler'):
        ac[-1] = f32(2.0 ** -24)
    return ac


def np_round_int(x):
    return np.round(x).astype(np.int64)


def sigma_to_t(sigma, log_sigmas):
    ls = math.log(max(sigma, 1e-10))
    low = 0
    for i in range(len(log_sigmas)):
        if ls - float(log_sigmas[i]) >= 0:
            low = i
    low = min(low, len(log_sigmas) - 2)
    lo, hi = float(log_sigmas[low]), float(log_sigmas[low + 1])
    w = min(max((lo - ls) / (lo - hi), 0.0), 1.0)
    return (1 - w) * low + w * (low + 1)


def karras(smin, smax, n):
    ramp = np.linspace(0, 1, n)
    lo, hi = smin ** (1 / 7.0), smax ** (1 / 7.0)
    return (hi + ramp * (lo - hi)) ** 7.0


# ---------- schedulers ----------
class Ref:
    def __init__(self, cfg, kind, eta=0.0):
        self.cfg, self.kind, self.eta = cfg, kind, eta
        self.T = cfg.get('num_train_timesteps', 1000)
        self.ac = alphas_cumprod(cfg, kind)
        self.pred = cfg.get('prediction_type', 'epsilon')
        dflt = 'leading' if kind in ('DDIMScheduler', 'DDPMScheduler', 'LCMScheduler') else 'linspace'
        self.spacing = cfg.get('timestep_spacing', dflt)
        self.offset = cfg.get('steps_offset', 0)
        self.init_sigma = f32(1)
        self.hist = []
        self.lon = 0

    def table_sigmas(self):
        ac = self.ac
        return np.sqrt((f32(1) - ac) / ac).astype(f32)

    def set_timesteps(self, n):
        T, k = self.T, self.kind
        self.n_req = n
        if k in ('DDIMScheduler', 'DDPMScheduler', 'EulerDiscreteScheduler', 'EulerAncestralDiscreteScheduler'):
            if self.spacing == 'linspace':
                t = np.linspace(0, T - 1, n)
                t = t.round() if k in ('DDIMScheduler', 'DDPMScheduler') else t.astype(f32).astype(np.float64)
                t = t[::-1]
            elif self.spacing == 'leading':
                t = (np.arange(0, n) * (T // n)).round()[::-1].astype(np.float64) + self.offset
            else:
                t = np.round(np.arange(T, 0, -T / n)) - 1
            self.t = t.astype(np.float64)
            if k.startswith('Euler'):
                self.t = self.t.astype(f32).astype(np.float64)
                tab = self.table_sigmas()
                logtab = np.log(tab)
                sg = np.interp(self.t, np.arange(T), tab)
                if k == 'EulerDiscreteScheduler' and self.cfg.get('use_karras_sigmas', False):
                    smin = self.cfg.get('sigma_min') or float(sg[-1])
                    smax = self.cfg.get('sigma_max') or float(sg[0])
                    sg = karras(smin, smax, n)
                    self.t = np.array([sigma_to_t(s, logtab) for s in sg]).astype(f32).astype(np.float64)
                self.sig = np.concatenate([sg, [0.0]]).astype(f32)
                if self.cfg.get('timestep_type', 'discrete') == 'continuous' and self.pred == 'v_prediction':
                    self.t = (f32(0.25) * np.log(self.sig[:-1])).astype(f32).astype(np.float64)
                mx = self.sig.max()
                self.init_sigma = mx if self.spacing in ('linspace', 'trailing') else f32(np.sqrt(mx * mx + f32(1)))
        elif k == 'DPMSolverMultistepScheduler':
            lam = (np.log(np.sqrt(self.ac)) - np.log(np.sqrt(f32(1) - self.ac))).astype(f32)
            lmc = self.cfg.get('lambda_min_clipped', -math.inf)
            last = T - int(np.searchsorted(lam[::-1], lmc))
            if self.spacing == 'linspace':
                t = np.linspace(0, last - 1, n + 1).round()[::-1][:-1]
            elif self.spacing == 'leading':
                r = last // (n + 1)
                t = (np.arange(0, n + 1) * r).round()[::-1][:-1] + self.offset
            else:
                t = np.arange(last, 0, -T / n).round() - 1
            tab = self.table_sigmas()
            logtab = np.log(tab)
            if self.cfg.get('use_karras_sigmas', False):
                sg = karras(float(tab[0]), float(tab[-1]), n)
                t = np.array([sigma_to_t(s, logtab) for s in sg]).round()
                sg = np.concatenate([sg, sg[-1:]]).astype(f32)
            else:
                sg = np.interp(t, np.arange(T), tab)
                last_s = np.sqrt((f32(1) - self.ac[0]) / self.ac[0]).astype(f32)
                sg = np.concatenate([sg, [last_s]]).astype(f32)
            self.sig = sg
            self.t = np.asarray(t, dtype=np.float64)
        elif k == 'LCMScheduler':
            os_ = self.cfg.get('original_inference_steps', 50)
            kk = T // os_
            orig = (np.arange(1, os_ + 1) * kk - 1)[::-1]
            idx = np.floor(np.linspace(0, len(orig), num=n, endpoint=False)).astype(np.int64)
            self.t = orig[idx].astype(np.float64)
        self.hist, self.lon = [], 0
        return self.t

    def scale(self, i, x):
        if self.kind.startswith('Euler'):
            s = self.sig[i]
            return (x / np.sqrt(s * s + f32(1))).astype(f32)
        return x.copy()

    def x0_abar(self, a, m, x):
        sa, sb = np.sqrt(a).astype(f32), np.sqrt(f32(1) - a).astype(f32)
        if self.pred == 'epsilon':
            return (x - sb * m) / sa
        if self.pred == 'v_prediction':
            return sa * x - sb * m
        return m

    def clip(self, x0):
        if self.cfg.get('clip_sample', self.kind != 'LCMScheduler'):
            r = f32(self.cfg.get('clip_sample_range', 1.0))
            return np.clip(x0, -r, r)
        return x0

    def step(self, i, m, x, noise):
        k = self.kind
        if k == 'DDIMScheduler':
            t = int(self.t[i]); p = t - self.T // self.n_req
            fin = f32(1) if self.cfg.get('set_alpha_to_one', True) else self.ac[0]
            a, ap = self.ac[t], (self.ac[p] if p >= 0 else fin)
            b, bp = f32(1) - a, f32(1) - ap
            sa, sb = np.sqrt(a), np.sqrt(b)
            if self.pred == 'epsilon':
                x0, eps = (x - sb * m) / sa, m
            elif self.pred == 'v_prediction':
                x0, eps = sa * x - sb * m, sa * m + sb * x
            else:
                x0 = m; eps = (x - sa * x0) / sb
            x0 = self.clip(x0)
            var = (bp / b) * (f32(1) - a / ap)
            std = f32(self.eta) * np.sqrt(var)
            out = np.sqrt(ap) * x0 + np.sqrt(f32(1) - ap - std * std) * eps
            if self.eta > 0:
                out = out + std * noise
            return out.astype(f32)
        if k == 'DDPMScheduler':
            t = int(self.t[i]); p = t - self.T // self.n_req
            a, ap = self.ac[t], (self.ac[p] if p >= 0 else f32(1))
            b, bp = f32(1) - a, f32(1) - ap
            ca = a / ap; cb = f32(1) - ca
            x0 = self.clip(self.x0_abar(a, m, x))
            out = (np.sqrt(ap) * cb / b) * x0 + (np.sqrt(ca) * bp / b) * x
            if t > 0:
                var = max((f32(1) - ap) / (f32(1) - a) * cb, f32(1e-20))
                vt = self.cfg.get('variance_type', 'fixed_small')
                sd = {'fixed_small': np.sqrt(var), 'fixed_small_log': np.exp(f32(0.5) * np.log(var)),
                      'fixed_large': np.sqrt(cb)}[vt]
                out = out + sd * noise
            return out.astype(f32)
        if k == 'LCMScheduler':
            t = int(self.t[i]); p = int(self.t[i + 1]) if i + 1 < len(self.t) else t
            fin = f32(1) if self.cfg.get('set_alpha_to_one', True) else self.ac[0]
            a, ap = self.ac[t], (self.ac[p] if p >= 0 else fin)
            st = f32(t) * f32(self.cfg.get('timestep_scaling', 10.0))
            cs = f32(0.25) / (st * st + f32(0.25)); co = st / np.sqrt(st * st + f32(0.25))
            d = co * self.clip(self.x0_abar(a, m, x)) + cs * x
            if i != self.n_req - 1:
                return (np.sqrt(ap) * d + np.sqrt(f32(1) - ap) * noise).astype(f32)
            return d.astype(f32)
        if k.startswith('Euler'):
            s, nx = self.sig[i], self.sig[i + 1]
            if self.pred == 'epsilon':
                x0 = x - s * m
            elif self.pred == 'v_prediction':
                x0 = m * (-s / np.sqrt(s * s + f32(1))) + x / (s * s + f32(1))
            else:
                x0 = m
            if k == 'EulerAncestralDiscreteScheduler':
                up = np.sqrt(nx * nx * (s * s - nx * nx) / (s * s))
                down = np.sqrt(nx * nx - up * up)
                return (x + (x - x0) / s * (down - s) + noise * up).astype(f32)
            return (x + (x - x0) / s * (nx - s)).astype(f32)
        if k == 'DPMSolverMultistepScheduler':
            return self.dpm_step(i, m, x, noise)
        raise ValueError(k)


def _dpm_pt(sg):
    al = f32(1) / np.sqrt(sg * sg + f32(1))
    si = sg * al
    return al, si, np.log(al) - np.log(si)


def _dpm_step(self, i, m, x, noise):
    cfg = self.cfg
    algo = cfg.get('algorithm_type', 'dpmsolver++')
    order = cfg.get('solver_order', 2)
    heun = cfg.get('solver_type', 'midpoint') == 'heun'
    pp = algo in ('dpmsolver++', 'sde-dpmsolver++')
    a0, s0, l0 = _dpm_pt(self.sig[i])
    if pp:
        conv = {'epsilon': lambda: (x - s0 * m) / a0, 'v_prediction': lambda: a0 * x - s0 * m,
                'sample': lambda: m}[self.pred]()
    else:
        conv = {'epsilon': lambda: m, 'v_prediction': lambda: a0 * m + s0 * x,
                'sample': lambda: (x - a0 * m) / s0}[self.pred]()
    self.hist = (self.hist + [conv.astype(f32)])[-order:]
    n = len(self.t)
    lof = i == n - 1 and (cfg.get('euler_at_final', False) or (cfg.get('lower_order_final', True) and n < 15))
    los = i == n - 2 and cfg.get('lower_order_final', True) and n < 15
    at, st, lt = _dpm_pt(self.sig[i + 1])
    h = lt - l0
    one, E = f32(1), np.exp
    if order == 1 or self.lon < 1 or lof:
        D0 = self.hist[-1]
        if algo == 'dpmsolver++':
            out = (st / s0) * x - (at * (E(-h) - one)) * D0
        elif algo == 'dpmsolver':
            out = (at / a0) * x - (st * (E(h) - one)) * D0
        elif algo == 'sde-dpmsolver++':
            out = (st / s0 * E(-h)) * x + (at * (one - E(f32(-2.0) * h))) * D0 + st * np.sqrt(one - E(f32(-2) * h)) * noise
        else:
            out = (at / a0) * x - f32(2.0) * (st * (E(h) - one)) * D0 + st * np.sqrt(E(f32(2) * h) - one) * noise
    elif order == 2 or self.lon < 2 or los:
        _, _, l1 = _dpm_pt(self.sig[i - 1])
        m0, m1 = self.hist[-1], self.hist[-2]
        r0 = (l0 - l1) / h
        D0, D1 = m0, (one / r0) * (m0 - m1)
        if algo == 'dpmsolver++':
            c = -f32(0.5) * (at * (E(-h) - one)) if not heun else (at * ((E(-h) - one) / h + one))
            out = (st / s0) * x - (at * (E(-h) - one)) * D0 + c * D1
        elif algo == 'dpmsolver':
            c = -f32(0.5) * (st * (E(h) - one)) if not heun else -(st * ((E(h) - one) / h - one))
            out = (at / a0) * x - (st * (E(h) - one)) * D0 + c * D1
        elif algo == 'sde-dpmsolver++':
            c = f32(0.5) * (at * (one - E(f32(-2.0) * h))) if not heun else (at * ((one - E(f32(-2.0) * h)) / (f32(-2.0) * h) + one))
            out = (st / s0 * E(-h)) * x + (at * (one - E(f32(-2.0) * h))) * D0 + c * D1 + st * np.sqrt(one - E(f32(-2) * h)) * noise
        else:
            c = -(st * (E(h) - one)) if not heun else -f32(2.0) * (st * ((E(h) - one) / h - one))
            out = (at / a0) * x - f32(2.0) * (st * (E(h) - one)) * D0 + c * D1 + st * np.sqrt(E(f32(2) * h) - one) * noise
    else:
        _, _, l1 = _dpm_pt(self.sig[i - 1])
        _, _, l2 = _dpm_pt(self.sig[i - 2])
        m0, m1, m2 = self.hist[-1], self.hist[-2], self.hist[-3]
        r0, r1 = (l0 - l1) / h, (l1 - l2) / h
        D1_0, D1_1 = (one / r0) * (m0 - m1), (one / r1) * (m1 - m2)
        D1 = D1_0 + (r0 / (r0 + r1)) * (D1_0 - D1_1)
        D2 = (one / (r0 + r1)) * (D1_0 - D1_1)
        if algo == 'dpmsolver++':
            out = ((st / s0) * x - (at * (E(-h) - one)) * m0 + (at * ((E(-h) - one) / h + one)) * D1
                   - (at * ((E(-h) - one + h) / h ** 2 - f32(0.5))) * D2)
        else:
            out = ((at / a0) * x - (st * (E(h) - one)) * m0 - (st * ((E(h) - one) / h - one)) * D1
                   - (st * ((E(h) - one - h) / h ** 2 - f32(0.5))) * D2)
    self.lon = min(self.lon + 1, order)
    return out.astype(f32)


Ref.dpm_step = _dpm_step


def run_case(d, write=False, rng=None):
    case = json.load(open(os.path.join(d, 'case.json')))
    cfg = json.load(open(os.path.join(d, case['model'], 'scheduler_config.json')))
    if 'prediction_type' in case:
        cfg['prediction_type'] = case['prediction_type']
    r = Ref(cfg, case['class'], case.get('eta', 0.0))
    t = r.set_timesteps(case['num_inference_steps'])
    io = st_load(os.path.join(d, 'io.safetensors'))
    res = {'out.timesteps': t.astype(np.float64), 'out.init_noise_sigma': np.array([r.init_sigma], dtype=f32)}
    x = io['in.sample_0']
    for i in range(len(t)):
        res['out.scaled_input_%d' % i] = r.scale(i, x)
        nz = io.get('in.noise_%d' % i)
        x = r.step(i, io['in.model_output_%d' % i], x, nz)
        res['out.prev_sample_%d' % i] = x
    return io, res


def validate(dirs):
    bad = 0
    for root in dirs:
        for name in sorted(os.listdir(root)):
            d = os.path.join(root, name)
            if not os.path.isfile(os.path.join(d, 'case.json')):
                continue
            case = json.load(open(os.path.join(d, 'case.json')))
            if case.get('kind') != 'scheduler':
                continue
            io, res = run_case(d)
            worst, wname = 0.0, ''
            for k, v in res.items():
                e = io[k].astype(np.float64)
                err = np.abs(v.astype(np.float64).reshape(e.shape) - e).max() / max(1.0, np.abs(e).max())
                if err > worst:
                    worst, wname = err, k
            ok = worst <= case.get('tol', 1e-4)
            bad += not ok
            print('%-28s rel err %.3e (%s) %s' % (name, worst, wname, 'PASS' if ok else 'FAIL'))
    return bad


if __name__ == '__main__':
    if sys.argv[1] == 'validate':
        sys.exit(1 if validate(sys.argv[2:]) else 0)
    elif sys.argv[1] == 'generate':
        import sched_cases
        sched_cases.generate(sys.argv[2])
