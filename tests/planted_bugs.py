"""Wrong answers a learner might plausibly write, per exercise id. Every one must fail its
check (tests/test_checks.py); every exercise needs at least two."""

import torch

from course_lib import ddim, ddpm, guidance, projection, unet


def _b(sigma, x):
    return sigma.reshape(-1, *[1] * (x.dim() - 1))




PLANTED_BUGS = {}


# ------------------------------------------------------------------ notebooks 02-04

def _ab_prev(ab, t):
    return ab[t - 1] if t > 0 else torch.tensor(1.0)


def _post(x0, x_t, t, ab, swap=False, no_sqrt=False, prev_index=None):
    a_t = ab[t]
    a_prev = _ab_prev(ab, t) if prev_index is None else ab[prev_index(t)]
    alpha = a_t / a_prev
    c0 = a_prev.sqrt() * (1 - alpha) / (1 - a_t)
    ct = (alpha if no_sqrt else alpha.sqrt()) * (1 - a_prev) / (1 - a_t)
    return (ct * x0 + c0 * x_t) if swap else (c0 * x0 + ct * x_t)


def _ddpm_step(x, t, e, ab, z, var="tilde", sign=-1):
    a_t, a_prev = ab[t], _ab_prev(ab, t)
    x0_hat = (x + sign * (1 - a_t).sqrt() * e) / a_t.sqrt()
    mean = ddpm.posterior_mean(x0_hat, x, t, ab)
    beta = 1 - a_t / a_prev
    v = {"tilde": (1 - a_prev) / (1 - a_t) * beta, "beta": beta}[var]
    return mean if t == 0 else mean + v.sqrt() * z


def _ddpm_algorithm2(x, t, e, ab, z):
    """Ho et al.'s Algorithm 2 written literally: a correct alternative form."""
    a_t, a_prev = ab[t], _ab_prev(ab, t)
    alpha = a_t / a_prev
    mean = (x - (1 - alpha) / (1 - a_t).sqrt() * e) / alpha.sqrt()
    if t == 0:
        return mean
    return mean + ((1 - a_prev) / (1 - a_t) * (1 - alpha)).sqrt() * z


def _ddim(x, e, a_t, a_prev, eta, z, direction=True, minus_std=True, noise_scale=None):
    x0_hat = (x - (1 - a_t).sqrt() * e) / a_t.sqrt()
    s = ddim.ddim_noise_std(a_t, a_prev, eta)
    d = (1 - a_prev - (s**2 if minus_std else 0)).sqrt() * e if direction else 0
    return a_prev.sqrt() * x0_hat + d + (s if noise_scale is None else noise_scale) * z


def _ideal(x, sigma, K, two=2.0, dim=1, out="eps", power=1):
    sigma = torch.as_tensor(sigma, dtype=x.dtype).expand(x.shape[0])[:, None]
    d2 = ((x[:, None, :] - K[None]) ** 2).sum(-1)
    w = torch.softmax(-d2 / (two * sigma**2), dim=dim)
    x0_hat = w @ K
    return x0_hat if out == "x0" else (x - x0_hat) / sigma**power


def _sq(x, K):
    return ((x[:, None, :] - K[None]) ** 2).sum(-1)


PLANTED_BUGS.update({
    "alpha_bars": {
        "cumprod of beta": lambda b: torch.cumprod(b, 0),
        "cumsum": lambda b: 1 - torch.cumsum(b, 0),
        "shifted by one": lambda b: torch.cat([torch.ones(1), torch.cumprod(1 - b, 0)[:-1]]),
        "no product": lambda b: 1 - b,
    },
    "q_sample": {
        "no square roots": lambda x0, t, e, ab: _b(ab[t], x0) * x0 + (1 - _b(ab[t], x0)) * e,
        "swapped weights": lambda x0, t, e, ab: (1 - _b(ab[t], x0)).sqrt() * x0
        + _b(ab[t], x0).sqrt() * e,
        "index t - 1": lambda x0, t, e, ab: ddpm.q_sample(x0, (t - 1).clamp(min=0), e, ab),
        "2-d broadcast only": lambda x0, t, e, ab: ab[t][:, None].sqrt() * x0
        + (1 - ab[t][:, None]).sqrt() * e,
    },
    "alpha_bar_to_sigma": {
        "sqrt(1 - alpha_bar)": lambda ab: (1 - ab).sqrt(),
        "no square root": lambda ab: 1 / ab - 1,
        "sqrt(1 / alpha_bar)": lambda ab: (1 / ab).sqrt(),
    },
    "posterior_mean": {
        "swapped weights": lambda x0, xt, t, ab: _post(x0, xt, t, ab, swap=True),
        "alpha_t without sqrt": lambda x0, xt, t, ab: _post(x0, xt, t, ab, no_sqrt=True),
        "alpha_bar_t used as alpha_bar_(t-1)": lambda x0, xt, t, ab: _post(
            x0, xt, t, ab, prev_index=lambda t: t),
    },
    "ddpm_step": {
        "x0_hat without square roots": lambda x, t, e, ab, z: ddpm.posterior_mean(
            (x - (1 - ab[t]) * e) / ab[t], x, t, ab) + (ddpm.ddpm_step(x, t, e, ab, z)
                                                        - ddpm.ddpm_step(x, t, e, ab, 0 * z)),
        "variance beta (not beta_tilde)": lambda x, t, e, ab, z: _ddpm_step(x, t, e, ab, z,
                                                                             var="beta"),
        "sign of eps_hat": lambda x, t, e, ab, z: _ddpm_step(x, t, e, ab, z, sign=1),
        "no noise at all": lambda x, t, e, ab, z: _ddpm_step(x, 0, e, ab, z) if t == 0
        else ddpm.posterior_mean((x - (1 - ab[t]).sqrt() * e) / ab[t].sqrt(), x, t, ab),
    },
    "ddim_timesteps": {
        "ascending": lambda T, n: torch.arange(n) * (T // n),
        "linspace (trailing-like)": lambda T, n: torch.linspace(T - 1, 0, n).round().long(),
        "one too many": lambda T, n: (torch.arange(n + 1) * (T // n)).flip(0),
    },
    "ddim_noise_std": {
        "missing outer sqrt": lambda a, p, eta: eta * (1 - p) / (1 - a) * (1 - a / p),
        "ratio upside down": lambda a, p, eta: eta * ((1 - p) / (1 - a) * (1 - p / a)).abs().sqrt(),
        "ignores eta": lambda a, p, eta: ((1 - p) / (1 - a) * (1 - a / p)).sqrt(),
    },
    "ddim_step": {
        "no direction term": lambda *c: _ddim(*c, direction=False),
        "direction ignores the std": lambda *c: _ddim(*c, minus_std=False),
        "noise not scaled by std": lambda *c: _ddim(*c, noise_scale=1.0),
        "x0_hat without square roots": lambda x, e, a, p, eta, z: p.sqrt() * (x - (1 - a) * e) / a
        + (1 - p - ddim.ddim_noise_std(a, p, eta) ** 2).sqrt() * e
        + ddim.ddim_noise_std(a, p, eta) * z,
    },
    "ddim_sigmas": {
        "no final zero": lambda ab, ts: ddpm.alpha_bar_to_sigma(ab[ts]),
        "sqrt(1 - alpha_bar)": lambda ab, ts: torch.cat([(1 - ab[ts]).sqrt(), torch.zeros(1)]),
        "ascending": lambda ab, ts: torch.cat([ddpm.alpha_bar_to_sigma(ab[ts]),
                                               torch.zeros(1)]).flip(0),
    },
    "dist_K": {
        "squared distance": lambda x, K: _sq(x, K).min(1).values,
        "mean instead of min": lambda x, K: _sq(x, K).sqrt().mean(1),
        "max instead of min": lambda x, K: _sq(x, K).sqrt().max(1).values,
    },
    "proj_K": {
        "argmax": lambda x, K: K[_sq(x, K).argmax(1)],
        "soft average": lambda x, K: torch.softmax(-_sq(x, K), 1) @ K,
        "returns x": lambda x, K: x,
    },
    "ideal_eps": {
        "missing the 1/2": lambda x, s, K: _ideal(x, s, K, two=1.0),
        "softmax over the batch": lambda x, s, K: _ideal(x, s, K, dim=0),
        "returns x0_hat": lambda x, s, K: _ideal(x, s, K, out="x0"),
        "divides by sigma^2": lambda x, s, K: _ideal(x, s, K, power=2),
    },
    "gd_step": {
        "ascent": lambda x, K, st: x + st * (x - projection.proj_K(x, K)),
        "steps towards the mean": lambda x, K, st: x - st * (x - K.mean(0)),
        "scales the point": lambda x, K, st: x - st * projection.proj_K(x, K),
    },
    "ge_direction": {
        "roles swapped": lambda e, p, g: e if p is None else g * p + (1 - g) * e,
        "no first-step case": lambda e, p, g: g * e + (1 - g) * p,
        "average": lambda e, p, g: e if p is None else (e + p) / 2,
    },
})

NULL = guidance.NULL


def _drop(labels, p, generator=None, null=NULL, flip=False):
    keep = torch.rand(labels.shape, generator=generator) < p
    if flip:
        keep = ~keep
    return torch.where(keep, torch.full_like(labels, null), labels)


def _both(f, x, sigma, cond, uncond):
    sigma = torch.as_tensor(sigma).expand(x.shape[0])
    return f(x, sigma, uncond), f(x, sigma, cond)


def _nearest_labels(s, data, labels):
    return labels[torch.cdist(s, data).argmin(1)]


PLANTED_BUGS.update({
    "drop_condition": {
        "drops to label 0": lambda lab, p, g=None: _drop(lab, p, g, null=0),
        "keeps with probability p": lambda lab, p, g=None: _drop(lab, p, g, flip=True),
        "in place": lambda lab, p, g=None: lab.masked_fill_(
            torch.rand(lab.shape, generator=g) < p, NULL),
    },
    "cfg_eps": {
        "1 + w convention": lambda u, c, w: u + (1 + w) * (c - u),
        "difference reversed": lambda u, c, w: u + w * (u - c),
        "scales the conditional only": lambda u, c, w: w * c,
    },
    "cfg_denoise": {
        "label 0 as unconditional": lambda f, x, s, c, w: guidance.cfg_eps(
            *_both(f, x, s, c, torch.zeros_like(c)), w),
        "no guidance": lambda f, x, s, c, w: f(x, torch.as_tensor(s).expand(x.shape[0]), c),
        "1 + w convention": lambda f, x, s, c, w: guidance.cfg_denoise(f, x, s, c, 1 + w),
    },
    "adherence": {
        "labels by sample index": lambda s, t, d, lab: (lab[: len(s)] == t).float().mean().item(),
        "count instead of fraction":
            lambda s, t, d, lab: float((_nearest_labels(s, d, lab) == t).sum()),
        "farthest point":
            lambda s, t, d, lab: (lab[torch.cdist(s, d).argmax(1)] == t).float().mean().item(),
    },
})

# Correct answers written differently from the reference: each must pass its check.
ALTERNATIVES = {
    "cfg_denoise": {"two calls, None for unconditional": lambda f, x, s, c, w: guidance.cfg_eps(
        f(x, torch.as_tensor(s).expand(x.shape[0]), None),
        f(x, torch.as_tensor(s).expand(x.shape[0]), c), w)},
    "ddpm_step": {"Algorithm 2 literally": _ddpm_algorithm2},
    "ideal_eps": {"logsumexp weights": lambda x, s, K: (
        x - torch.exp(-_sq(x, K) / (2 * torch.as_tensor(s).expand(x.shape[0])[:, None] ** 2)
                      - torch.logsumexp(-_sq(x, K) / (2 * torch.as_tensor(s).expand(
                          x.shape[0])[:, None] ** 2), 1, keepdim=True)) @ K)
        / torch.as_tensor(s).expand(x.shape[0])[:, None]},
}


# ------------------------------------------------------------------ notebook 06

def _gn(x, groups, eps=1e-5, axis="group", unbiased=False, eps_outside=False):
    B = x.shape[0]
    g = x.reshape(B, groups, -1) if axis == "group" else x.reshape(B, x.shape[1], -1)
    if axis == "all":
        g = x.reshape(B, 1, -1)
    var = g.var(-1, unbiased=unbiased, keepdim=True)
    den = var.sqrt() + eps if eps_outside else (var + eps).sqrt()
    return ((g - g.mean(-1, keepdim=True)) / den).reshape(x.shape)


def _attn(q, k, v, mask=None, scale="sqrt", dim=-1, use_mask=True):
    d = q.shape[-1]
    s = q @ k.transpose(-2, -1) / {"sqrt": d ** 0.5, "d": d, "none": 1}[scale]
    if mask is not None and use_mask:
        s = s.masked_fill(~mask[:, None, None, :], float("-inf"))
    return torch.softmax(s, dim=dim) @ v


def _res(block, x, emb, where="after_conv1", skip=True, act_first=False):
    nl = torch.nn.functional.silu
    h = block.conv1(block.norm1(nl(x)) if act_first else nl(block.norm1(x)))
    if where == "after_conv1":
        h = h + block.emb(emb)[:, :, None, None]
    h = block.conv2(nl(block.norm2(h)))
    if where == "after_conv2":
        h = h + block.emb(emb)[:, :, None, None]
    return block.skip(x) + h if skip else h


def _a2d(block, x, context=None, mask=None, residual=True, transpose=True, heads=True):
    B, C, H, W = x.shape
    t = block.norm(x).reshape(B, C, H * W)
    t = t.transpose(1, 2) if transpose else t.reshape(B, H * W, C)
    src = t if context is None else context
    q, k, v = block.to_q(t), block.to_k(src), block.to_v(src)
    n = block.heads if heads else 1

    def split(z):
        return z.reshape(B, z.shape[1], n, -1).transpose(1, 2)

    o = unet.attention(split(q), split(k), split(v), mask)
    o = block.proj(o.transpose(1, 2).reshape(B, H * W, C))
    o = o.transpose(1, 2).reshape(B, C, H, W)
    return x + o if residual else o


PLANTED_BUGS.update({
    "group_norm": {
        "layer norm (all channels)": lambda x, g, eps=1e-5: _gn(x, g, eps, axis="all"),
        "instance norm (per channel)": lambda x, g, eps=1e-5: _gn(x, g, eps, axis="channel"),
        "unbiased variance": lambda x, g, eps=1e-5: _gn(x, g, eps, unbiased=True),
    },
    "attention": {
        "no scaling": lambda q, k, v, m=None: _attn(q, k, v, m, scale="none"),
        "divides by d": lambda q, k, v, m=None: _attn(q, k, v, m, scale="d"),
        "softmax over the queries": lambda q, k, v, m=None: _attn(q, k, v, m, dim=-2),
        "ignores the mask": lambda q, k, v, m=None: _attn(q, k, v, m, use_mask=False),
    },
    "resblock_forward": {
        "embedding after conv2": lambda b, x, e: _res(b, x, e, where="after_conv2"),
        "no skip": lambda b, x, e: _res(b, x, e, skip=False),
        "SiLU before the norm": lambda b, x, e: _res(b, x, e, act_first=True),
        "ignores the embedding": lambda b, x, e: _res(b, x, e, where="nowhere"),
    },
    "attention_2d": {
        "no residual": lambda b, x, c=None, m=None: _a2d(b, x, c, m, residual=False),
        "reshape instead of transpose":
            lambda b, x, c=None, m=None: _a2d(b, x, c, m, transpose=False),
        "one head": lambda b, x, c=None, m=None: _a2d(b, x, c, m, heads=False),
    },
})


# ------------------------------------------------------------------ notebook 07

def _tok(caption, vocab, max_len=12, bos=True, pad=0, lower=True):
    words = caption.lower().split() if lower else caption.split()
    ids = ([1] if bos else []) + [vocab.get(w, 3) for w in words][: max_len - 2] + [2]
    return torch.tensor(ids + [pad] * (max_len - len(ids)), dtype=torch.long)


def _kl(m, lv, half=True, reduce="sum", var="exp"):
    v = lv.exp() if var == "exp" else (0.5 * lv).exp()
    per = (0.5 if half else 1.0) * (m**2 + v - 1 - lv)
    return per.flatten(1).sum(1).mean() if reduce == "sum" else per.mean()


PLANTED_BUGS.update({
    "reparameterize": {
        "exp(logvar) as std": lambda m, lv, e: m + lv.exp() * e,
        "logvar as std": lambda m, lv, e: m + lv * e,
        "returns the mean": lambda m, lv, e: m,
    },
    "kl_divergence": {
        "missing the 1/2": lambda m, lv: _kl(m, lv, half=False),
        "mean over values, not sum": lambda m, lv: _kl(m, lv, reduce="mean"),
        "std in place of variance": lambda m, lv: _kl(m, lv, var="std"),
    },
    "tokenize": {
        "no <bos>": lambda c, v, n=12: _tok(c, v, n, bos=False),
        "pads with <eos>": lambda c, v, n=12: _tok(c, v, n, pad=2),
        "case sensitive": lambda c, v, n=12: _tok(c, v, n, lower=False),
    },
    "decode_latents": {
        "multiplies by the scale": lambda d, z, s: d(z * s).clamp(-1, 1),
        "no clamp": lambda d, z, s: d(z / s),
        "ignores the scale": lambda d, z, s: d(z).clamp(-1, 1),
    },
})


PLANTED_BUGS["group_norm"]["eps outside the square root"] = (
    lambda x, g, eps=1e-5: _gn(x, g, eps, eps_outside=True))
PLANTED_BUGS["tokenize"]["keeps the last words"] = lambda c, v, n=12: torch.tensor(
    ([1] + [v.get(w, 3) for w in c.lower().split()][-(n - 2):] + [2]
     + [0] * max(0, n - 2 - len(c.split())))[:n], dtype=torch.long)
PLANTED_BUGS["drop_condition"]["ignores the generator"] = lambda lab, p, g=None: _drop(lab, p)


# ------------------------------------------------------------------ notebook 08

def _embed(tok, enc, texts, padding="max_length"):
    ids = tok(texts, padding=padding, max_length=tok.model_max_length, truncation=True,
              return_tensors="pt").input_ids
    return enc(ids)[0]


def _step(unet, sch, lat, t, emb, w, swap=False, scale_cond_only=False):
    eps_u, eps_c = unet(sch.scale_model_input(torch.cat([lat] * 2), t), t,
                        encoder_hidden_states=emb).sample.chunk(2)
    if swap:
        eps_u, eps_c = eps_c, eps_u
    eps = w * eps_c if scale_cond_only else eps_u + w * (eps_c - eps_u)
    return sch.step(eps, t, lat).prev_sample


def _loop(pipe, prompts, neg, steps, w, gen, use_neg=True, use_gen=True, w_shift=0.0):
    from course_lib import sd_loop
    neg = (neg if use_neg else None) or [""] * len(prompts)
    emb = sd_loop.encode_prompt(pipe.tokenizer, pipe.text_encoder, prompts, neg)
    pipe.scheduler.set_timesteps(steps)
    lat = torch.randn((len(prompts), 4, 8, 8), generator=gen if use_gen else None)
    lat = lat * pipe.scheduler.init_noise_sigma
    for t in pipe.scheduler.timesteps:
        lat = sd_loop.guided_step(pipe.unet, pipe.scheduler, lat, t, emb, w + w_shift)
    return lat


PLANTED_BUGS.update({
    "encode_prompt": {
        "prompts first": lambda tok, enc, p, n: torch.cat([_embed(tok, enc, p),
                                                           _embed(tok, enc, n)]),
        "pads to the longest prompt": lambda tok, enc, p, n: torch.cat(
            [_embed(tok, enc, n, "longest"), _embed(tok, enc, p, "longest")]),
        "ignores the negative prompts": lambda tok, enc, p, n: torch.cat(
            [_embed(tok, enc, [""] * len(p)), _embed(tok, enc, p)]),
    },
    "guided_step": {
        "chunks swapped": lambda *a: _step(*a, swap=True),
        "scales the conditional only": lambda *a: _step(*a, scale_cond_only=True),
        "returns eps, not latents": lambda unet, sch, lat, t, emb, w: unet(
            torch.cat([lat] * 2), t, encoder_hidden_states=emb).sample.chunk(2)[1],
    },
    "generate_latents": {
        "ignores the negative prompt": lambda *a: _loop(*a, use_neg=False),
        "noise not from the generator": lambda *a: _loop(*a, use_gen=False),
        "guidance off by one": lambda *a: _loop(*a, w_shift=1.0),
    },
    "decode": {
        "multiplies by the scaling factor": lambda vae, z: (
            vae.decode(z * vae.config.scaling_factor).sample / 2 + 0.5).clamp(0, 1),
        "stays in [-1, 1]": lambda vae, z: vae.decode(z / vae.config.scaling_factor).sample,
        "no clamp": lambda vae, z: vae.decode(z / vae.config.scaling_factor).sample / 2 + 0.5,
    },
})


# ------------------------------------------------------------------ notebook 09

def _fd(mu_a, cov_a, mu_b, cov_b, cross="ref", two=2.0, root=False):
    from course_lib import metrics
    if cross == "ref":
        s = metrics.sqrtm_psd(cov_a)
        tr = torch.linalg.eigvalsh(s @ cov_b @ s).clamp(min=0).sqrt().sum()
    elif cross == "no clamp":
        s = metrics.sqrtm_psd(cov_a)
        tr = torch.linalg.eigvalsh(s @ cov_b @ s).sqrt().sum()
    elif cross == "elementwise":
        tr = (cov_a * cov_b).clamp(min=0).sqrt().trace()
    elif cross == "product of roots":
        tr = (metrics.sqrtm_psd(cov_a) @ metrics.sqrtm_psd(cov_b)).trace()
    else:  # eigh on the non-symmetric product reads only its lower triangle
        tr = torch.linalg.eigvalsh(cov_a @ cov_b).clamp(min=0).sqrt().sum()
    d2 = ((mu_a - mu_b) ** 2).sum() + cov_a.trace() + cov_b.trace() - two * tr
    return d2.clamp(min=0).sqrt() if root else d2


def _fid(a, b, correction=1, mean_dim=0, cov_t=True, root=False):
    stats = [(f.mean(mean_dim), torch.cov(f.T if cov_t else f, correction=correction))
             for f in (a.double(), b.double())]
    d2 = _fd(*stats[0], *stats[1])
    return d2.clamp(min=0).sqrt() if root else d2


def _mmd(x, y, diag=False, d_scale=True, degree=3, cross=2.0, square_norm=False):
    def k(p, q):
        return (p @ q.T / (p.shape[1] if d_scale else 1) + 1) ** degree
    m, n = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    if diag:
        within = kxx.mean() + kyy.mean()
    else:
        den_x, den_y = (m * m, n * n) if square_norm else (m * (m - 1), n * (n - 1))
        within = ((kxx.sum() - kxx.diagonal().sum()) / den_x
                  + (kyy.sum() - kyy.diagonal().sum()) / den_y)
    return within - cross * k(x, y).mean()


def _clip_loss(u, v, log_scale, directions=2, normalise=True, exp=True, mean=True):
    F = torch.nn.functional
    if normalise:
        u, v = F.normalize(u, dim=-1), F.normalize(v, dim=-1)
    logits = (log_scale.exp() if exp else log_scale) * u @ v.T
    t = torch.arange(len(u))
    if directions == 1:
        return F.cross_entropy(logits, t)
    both = F.cross_entropy(logits, t) + F.cross_entropy(logits.T, t)
    return both / 2 if mean else both


def _cos(u, v):
    return torch.nn.functional.cosine_similarity(u, v, dim=-1)


PLANTED_BUGS.update({
    "frechet_distance": {
        "element-wise square root of C_a * C_b": lambda *a: _fd(*a, cross="elementwise"),
        "C_a^(1/2) C_b^(1/2) instead of (C_a C_b)^(1/2)":
            lambda *a: _fd(*a, cross="product of roots"),
        "eigh on the non-symmetric C_a C_b": lambda *a: _fd(*a, cross="eigh of product"),
        "no clamp before the square root": lambda *a: _fd(*a, cross="no clamp"),
        "forgot the 2": lambda *a: _fd(*a, two=1.0),
        "returns the distance, not its square": lambda *a: _fd(*a, root=True),
    },
    "fid": {
        "covariance divides by N": lambda a, b: _fid(a, b, correction=0),
        "covariance of the samples, not the features": lambda a, b: _fid(a, b, cov_t=False),
        "mean over the features": lambda a, b: _fid(a, b, mean_dim=1),
        "square root of FID": lambda a, b: _fid(a, b, root=True),
    },
    "mmd2_unbiased": {
        "biased: keeps k(x_i, x_i)": lambda x, y: _mmd(x, y, diag=True),
        "drops the diagonal but divides by m^2": lambda x, y: _mmd(x, y, square_norm=True),
        "kernel without / d": lambda x, y: _mmd(x, y, d_scale=False),
        "kernel squared, not cubed": lambda x, y: _mmd(x, y, degree=2),
        "cross term not doubled": lambda x, y: _mmd(x, y, cross=1.0),
    },
    "clip_loss": {
        "image-to-text direction only": lambda u, v, s: _clip_loss(u, v, s, directions=1),
        "embeddings not normalised": lambda u, v, s: _clip_loss(u, v, s, normalise=False),
        "log_scale used as the scale": lambda u, v, s: _clip_loss(u, v, s, exp=False),
        "sum of the two directions": lambda u, v, s: _clip_loss(u, v, s, mean=False),
    },
    "clip_score": {
        "the B x B matrix": lambda u, v: 100 * (torch.nn.functional.normalize(u, dim=-1) @
                                                torch.nn.functional.normalize(v, dim=-1).T
                                                ).clamp(min=0),
        "dot product, not cosine": lambda u, v: 100 * (u * v).sum(-1).clamp(min=0),
        "no clamp at 0": lambda u, v: 100 * _cos(u, v),
        "no factor 100": lambda u, v: _cos(u, v).clamp(min=0),
        "mean over the batch": lambda u, v: 100 * _cos(u, v).clamp(min=0).mean(),
    },
})


def _fd_scipy(mu_a, cov_a, mu_b, cov_b):
    import scipy.linalg
    root = scipy.linalg.sqrtm((cov_a @ cov_b).numpy())     # as pytorch-fid does
    return (((mu_a - mu_b) ** 2).sum() + cov_a.trace() + cov_b.trace()
            - 2 * torch.from_numpy(root.real).trace())


ALTERNATIVES.update({
    "frechet_distance": {
        "eigenvalues of C_a C_b": lambda mu_a, cov_a, mu_b, cov_b: (
            ((mu_a - mu_b) ** 2).sum() + cov_a.trace() + cov_b.trace()
            - 2 * torch.linalg.eigvals(cov_a @ cov_b).sqrt().real.sum()),
        "scipy.linalg.sqrtm": _fd_scipy,
    },
    "fid": {"centred features by hand": lambda a, b: _fd(
        a.mean(0), (a - a.mean(0)).T @ (a - a.mean(0)) / (len(a) - 1),
        b.mean(0), (b - b.mean(0)).T @ (b - b.mean(0)) / (len(b) - 1))},
    "mmd2_unbiased": {"masks for i != j": lambda x, y: (
        ((x @ x.T / x.shape[1] + 1) ** 3)[~torch.eye(len(x), dtype=torch.bool)].mean()
        + ((y @ y.T / y.shape[1] + 1) ** 3)[~torch.eye(len(y), dtype=torch.bool)].mean()
        - 2 * ((x @ y.T / x.shape[1] + 1) ** 3).mean())},
    "clip_loss": {"logits.T written as text @ image.T": lambda u, v, s: (
        torch.nn.functional.cross_entropy(
            s.exp() * torch.nn.functional.normalize(u, dim=-1)
            @ torch.nn.functional.normalize(v, dim=-1).T, torch.arange(len(u)))
        + torch.nn.functional.cross_entropy(
            s.exp() * torch.nn.functional.normalize(v, dim=-1)
            @ torch.nn.functional.normalize(u, dim=-1).T, torch.arange(len(u)))) / 2},
})


# ------------------------------------------------------------------ notebook 10

def _lora(x, base, A, B, alpha, scale=None, bias=True, base_term=True):
    update = x @ A.T @ B.T
    out = update * (alpha / A.shape[0] if scale is None else scale(alpha, A.shape[0]))
    if base_term:
        out = out + (base(x) if bias else x @ base.weight.T)
    return out


def _merge_inplace(W, A, B, alpha):
    return W.add_(alpha / A.shape[0] * B @ A)


def _prior(eh, e, p, w, how="right"):
    sq = ((eh - e) ** 2).flatten(1).mean(1)
    if how == "one mse":
        return sq.mean()
    if how == "weight on new":
        return w * sq[~p].mean() + (sq[p].mean() if p.any() else 0)
    if how == "always prior":
        return sq[~p].mean() + w * sq[p].mean()
    if how == "batch size":
        return ((sq * ~p).sum() + w * (sq * p).sum()) / len(sq)
    return ((eh - e) ** 2)[~p].sum() + w * ((eh - e) ** 2)[p].sum()   # "sum"


def _ctrl(unet, cn, lat, t, txt, ctrl, s, mid=True, scale_down=True, scale_mid=True,
          use=True):
    down, m = cn(lat, t, encoder_hidden_states=txt, controlnet_cond=ctrl, return_dict=False)
    if not use:
        return unet(lat, t, encoder_hidden_states=txt).sample
    down = [d * s for d in down] if scale_down else down
    m = m * s if scale_mid else m
    return unet(lat, t, encoder_hidden_states=txt, down_block_additional_residuals=down,
                mid_block_additional_residual=m if mid else None).sample


def _wm(images, signs, high=True, norm=True, absolute=False, batch=False):
    from course_lib import safety
    X = torch.nn.functional.avg_pool2d(safety.highpass(images) if high else images, 2)
    if batch:
        return (signs * X).sum() / X.norm()
    z = (signs * X).flatten(1).sum(1)
    z = z / X.flatten(1).norm(dim=1) if norm else z / X[0].numel()
    return z.abs() if absolute else z


PLANTED_BUGS.update({
    "lora_forward": {
        "no alpha / r scale": lambda *a: _lora(*a, scale=lambda al, r: 1.0),
        "alpha, not alpha / r": lambda *a: _lora(*a, scale=lambda al, r: al),
        "r / alpha": lambda *a: _lora(*a, scale=lambda al, r: r / al),
        "base without its bias": lambda *a: _lora(*a, bias=False),
        "the update alone": lambda *a: _lora(*a, base_term=False),
    },
    "merge_lora": {
        "no alpha / r scale": lambda W, A, B, al: W + B @ A,
        "transposed update": lambda W, A, B, al: W + al / A.shape[0] * (A.T @ B.T),
        "alpha, not alpha / r": lambda W, A, B, al: W + al * B @ A,
        "merges into W in place": _merge_inplace,
    },
    "prior_preservation_loss": {
        "one MSE over the whole batch": lambda *a: _prior(*a, how="one mse"),
        "weight on the new concept's term": lambda *a: _prior(*a, how="weight on new"),
        "NaN without prior examples": lambda *a: _prior(*a, how="always prior"),
        "each group divided by the batch size": lambda *a: _prior(*a, how="batch size"),
        "sums instead of means": lambda *a: _prior(*a, how="sum"),
    },
    "controlled_unet": {
        "forgets the mid-block residual": lambda *a: _ctrl(*a, mid=False),
        "scale not applied": lambda *a: _ctrl(*a, scale_down=False, scale_mid=False),
        "scales only the mid residual": lambda *a: _ctrl(*a, scale_down=False),
        "ignores the ControlNet": lambda *a: _ctrl(*a, use=False),
    },
    "watermark_score": {
        "no high-pass": lambda im, s: _wm(im, s, high=False),
        "divided by the number of blocks": lambda im, s: _wm(im, s, norm=False),
        "absolute value": lambda im, s: _wm(im, s, absolute=True),
        "one score for the whole batch": lambda im, s: _wm(im, s, batch=True),
        "pixel-level correlation, no high-pass": lambda im, s: (
            s.repeat_interleave(2, -2).repeat_interleave(2, -1) * im).flatten(1).sum(1)
        / im.flatten(1).norm(dim=1),
    },
})


def _wm_block_sums(images, signs):
    from course_lib import safety
    hp = safety.highpass(images)
    b, c, h, w = hp.shape
    X = hp.reshape(b, c, h // 2, 2, w // 2, 2).sum(dim=(3, 5))
    return (signs * X).sum(dim=(1, 2, 3)) / X.pow(2).sum(dim=(1, 2, 3)).sqrt()


ALTERNATIVES.update({
    "lora_forward": {
        "merged weight through F.linear": lambda x, base, A, B, al: torch.nn.functional.linear(
            x, base.weight + al / A.shape[0] * B @ A, base.bias),
        "F.linear twice": lambda x, base, A, B, al: base(x) + al / A.shape[0] * (
            torch.nn.functional.linear(torch.nn.functional.linear(x, A), B)),
    },
    "merge_lora": {"einsum": lambda W, A, B, al: W + torch.einsum("or,ri->oi", B, A)
                   * al / A.shape[0]},
    "prior_preservation_loss": {"F.mse_loss on each group": lambda eh, e, p, w: (
        torch.nn.functional.mse_loss(eh[~p], e[~p])
        + (w * torch.nn.functional.mse_loss(eh[p], e[p]) if p.any() else 0))},
    "controlled_unet": {"conditioning_scale argument": lambda unet, cn, lat, t, txt, c, s: unet(
        lat, t, encoder_hidden_states=txt, **dict(zip(
            ("down_block_additional_residuals", "mid_block_additional_residual"),
            cn(lat, t, encoder_hidden_states=txt, controlnet_cond=c, conditioning_scale=s,
               return_dict=False)))).sample},
    "watermark_score": {"sums over 2x2 blocks, not means": _wm_block_sums},
})
