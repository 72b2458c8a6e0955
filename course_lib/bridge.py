"""A diffusers U-Net as the course's denoiser(x, sigma, cond): the one sigma <-> timestep bridge.

Introduced in notebook 08 and used wherever the course's samplers drive a diffusers
UNet2DConditionModel (notebooks 08-10), as smalldiffusion and k-diffusion wrap one. A U-Net
at timestep t sees DDPM's x_t = x_sigma / sqrt(1 + sigma^2) with sigma = sqrt(1/alpha_bar_t - 1)
(notebook 02); one trained for v (SD 2, the course model) is turned into eps here.
"""
from __future__ import annotations

import torch

from course_lib.diffusion import add_noise, append_dims, batch_sigma
from course_lib.exercises.nb02.alpha_bar_to_sigma import alpha_bar_to_sigma


class UNetDenoiser:
    """denoiser(x_sigma, sigma, cond) -> eps_hat for a diffusers U-Net trained with scheduler's
    noise schedule; cond is the text encoder's output (B, L, D)."""

    def __init__(self, unet, scheduler):
        self.unet = unet
        self.sigmas = alpha_bar_to_sigma(scheduler.alphas_cumprod.double())  # (T,), rising in t
        self.prediction = scheduler.config.prediction_type

    def sigma_to_t(self, sigma: torch.Tensor) -> torch.Tensor:
        """The training timestep whose sigma is nearest (in log sigma) to each given sigma."""
        gap = (self.sigmas.log()[None, :] - sigma.double().log()[:, None]).abs()
        return gap.argmin(dim=1)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, sigma, cond: torch.Tensor) -> torch.Tensor:
        sigma = batch_sigma(sigma, x)                                    # (B,)
        scale = append_dims(torch.sqrt(1 + sigma**2), x.dim())
        x_t = x / scale                                                  # DDPM's x_t
        out = self.unet(x_t.to(self.unet.device, self.unet.dtype),
                        self.sigma_to_t(sigma).to(self.unet.device),
                        encoder_hidden_states=cond).sample.to(x)  # samplers run in float32
        if self.prediction == "v_prediction":
            out = (out + sigma.reshape(scale.shape) * x_t) / scale      # eps from v
        return out


def training_pair(scheduler, z: torch.Tensor, noise: torch.Tensor, t: torch.Tensor):
    """What a diffusers U-Net is trained on at integer timesteps t (B,), in the sigma view:
    (its input, its target). Its input is z noised to sigma_t = sqrt(1/alpha_bar_t - 1) with
    add_noise (notebook 01), seen as DDPM's x_t = x_sigma / sqrt(1 + sigma^2) as in
    UNetDenoiser; its target is the noise, or v = (noise - sigma z) / sqrt(1 + sigma^2) for a
    model trained for v (the scheduler's prediction_type). The same numbers as diffusers'
    scheduler.add_noise and get_velocity (tests/test_sd_model.py)."""
    sigma = alpha_bar_to_sigma(scheduler.alphas_cumprod.double())[t.cpu()].to(z)     # (B,)
    scale = append_dims(torch.sqrt(1 + sigma**2), z.dim())
    x_t = add_noise(z, sigma, noise) / scale
    if scheduler.config.prediction_type == "v_prediction":
        return x_t, (noise - append_dims(sigma, z.dim()) * z) / scale
    return x_t, noise


def levels(scheduler, steps: int) -> torch.Tensor:
    """The sigmas a scheduler (with its own timestep spacing) visits in `steps` steps, then 0:
    the list the course's samplers walk to match it step for step. scheduler is not changed."""
    twin = type(scheduler).from_config(scheduler.config)
    twin.set_timesteps(steps)
    sigmas = alpha_bar_to_sigma(twin.alphas_cumprod[twin.timesteps.long()])
    return torch.cat([sigmas.float(), torch.zeros(1)])
