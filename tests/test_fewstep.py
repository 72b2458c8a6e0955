"""Notebook 11's DPM-Solver++(2M) by hand: the first-order step is DDIM, the multistep loop is
second order, and it equals diffusers' DPMSolverMultistepScheduler (algorithm_type="dpmsolver++",
solver_order=2, solver_type="midpoint", lower_order_final=True, final_sigmas_type="zero") state
by state: on the spiral model (wrapped as a diffusers-style model(x_t, t)) at the integer
timesteps of every spacing diffusers offers, and on data/sd_course's guided U-Net."""
import math

import pytest
import torch

from course_lib import artefacts, bridge, diffusion, fewstep, metrics2d, spiral
from course_lib.exercises.nb11.probes import gaussian_ode, log_levels
from course_lib.exercises.toy_models import gaussian


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def spiral_model():
    return artefacts.load("spiral").model


def _states_gap(theirs: torch.Tensor, ours: torch.Tensor) -> float:
    """Largest difference over all states, relative to the largest state (at least 1)."""
    return ((theirs - ours).abs().max() / max(1.0, ours.abs().max().item())).item()


def test_first_order_step_is_ddim_and_ends_on_the_data_guess():
    x, x0 = torch.randn(5, 3, generator=_gen(1)), torch.randn(5, 3, generator=_gen(2))
    sigma, sigma_next = torch.tensor(2.5), torch.tensor(0.4)
    ddim = x0 + sigma_next * (x - x0) / sigma
    assert torch.allclose(fewstep.dpm_first_order_step(x, x0, sigma, sigma_next), ddim, atol=1e-6)
    assert torch.equal(fewstep.dpm_first_order_step(x, x0, sigma, torch.tensor(0.0)), x0)
    # the 2M update with an unchanged guess is the first-order step
    same = fewstep.dpm_2m_step(x, x0, x0, torch.tensor(6.0), sigma, sigma_next)
    assert torch.allclose(same, ddim, atol=1e-6)
    assert fewstep.half_log_snr(torch.tensor(0.0)) == math.inf


def test_two_steps_of_dpm_solver_are_ddim(spiral_model):
    """A first-order warm-up and a first-order last step: nothing is left to extrapolate."""
    sigmas = diffusion.COURSE.levels(2)
    x = sigmas[0] * torch.randn(200, 2, generator=_gen(3))
    dpm = fewstep.run("DPM-Solver++(2M)", spiral_model, sigmas, x, trajectory=True)
    ddim = fewstep.run("DDIM", spiral_model, sigmas, x, trajectory=True)
    assert dpm.shape == (2, 200, 2) and torch.allclose(dpm, ddim, atol=1e-5)  # float32 rounding
    five = diffusion.COURSE.levels(5)  # from 5 steps on, 3 of them are second order
    y = five[0] * torch.randn(20, 2, generator=_gen(9))
    assert not torch.allclose(fewstep.run("DPM-Solver++(2M)", spiral_model, five, y),
                              fewstep.run("DDIM", spiral_model, five, y), atol=1e-3)


def test_the_loop_is_second_order_and_ddim_first_order():
    """Gaussian data: the ODE's exact solution is known; doubling the steps divides
    DPM-Solver++(2M)'s error by about 4, DDIM's by about 2."""
    s, x = 0.5, 10 * torch.randn(32, 2, generator=_gen(4), dtype=torch.float64)
    exact = gaussian_ode(s, x, 10.0, 0.05)

    def error(name, n):
        out = fewstep.run(name, gaussian(s), log_levels(n, 10.0, 0.05, False, torch.float64), x)
        return (out - exact).norm(dim=1).mean().item()

    dpm = [error("DPM-Solver++(2M)", n) for n in (16, 32, 64)]
    ddim = [error("DDIM", n) for n in (16, 32, 64)]
    assert 3.4 < dpm[0] / dpm[1] < 4.5 and 3.6 < dpm[1] / dpm[2] < 4.4, dpm
    assert 1.8 < ddim[0] / ddim[1] < 2.2 and 1.8 < ddim[1] / ddim[2] < 2.2, ddim
    assert dpm[0] < ddim[2] / 3  # 16 second-order steps beat 64 first-order ones


@pytest.mark.parametrize("spacing", ["linspace", "leading", "trailing"])
@pytest.mark.parametrize("steps", [2, 3, 7, 20])
def test_spiral_equals_diffusers_state_by_state(spiral_model, spacing, steps):
    """The spiral model as a diffusers model(x_t, t) in diffusers' loop, against the course's
    loop on bridge.levels of the same scheduler: the sigmas of its integer timesteps, then 0."""
    scheduler = fewstep.diffusers_dpm(timestep_spacing=spacing, steps_offset=1)
    sigmas = bridge.levels(scheduler, steps)
    x = sigmas[0] * torch.randn(300, 2, generator=_gen(5))
    theirs = torch.stack(list(fewstep.diffusers_states(
        scheduler, fewstep.as_timestep_model(spiral_model, scheduler), x, steps)))
    ours = torch.stack(list(fewstep.dpm_solver_samples(spiral_model, sigmas, x)))
    assert theirs.shape == ours.shape == (steps, 300, 2)
    assert _states_gap(theirs, ours) < 2e-5
    assert scheduler.sigmas[-1] == 0 and sigmas[-1] == 0


def test_a_last_step_to_sigma_min_is_second_order_in_both(spiral_model):
    """final_sigmas_type="sigma_min" ends at the smallest training level instead of 0: without
    lower_order_final the last step is the 2M update in diffusers and in the course's loop (whose
    rule is: first order only where sigma_next is 0). With diffusers' lower_order_final (and
    fewer than 15 steps) diffusers steps first order there and the two part."""
    for lower_final, same in [(False, True), (True, False)]:
        scheduler = fewstep.diffusers_dpm(final_sigmas_type="sigma_min",
                                          lower_order_final=lower_final)
        scheduler.set_timesteps(6)
        sigmas = torch.cat([bridge.levels(scheduler, 6)[:-1], scheduler.sigmas[-1:]])
        x = sigmas[0] * torch.randn(300, 2, generator=_gen(6))
        theirs = torch.stack(list(fewstep.diffusers_states(
            scheduler, fewstep.as_timestep_model(spiral_model, scheduler), x, 6)))
        ours = torch.stack(list(fewstep.dpm_solver_samples(spiral_model, sigmas, x)))
        assert (_states_gap(theirs, ours) < 2e-5) == same
        assert _states_gap(theirs[:-1], ours[:-1]) < 2e-5


def test_as_timestep_model_reads_the_level_of_the_timestep(spiral_model):
    scheduler = fewstep.diffusers_dpm()
    model = fewstep.as_timestep_model(spiral_model, scheduler)
    t = torch.tensor(700)
    sigma = (1 / scheduler.alphas_cumprod[700].double() - 1).sqrt().float()
    x_t = torch.randn(4, 2, generator=_gen(7))
    with torch.no_grad():
        want = spiral_model(x_t * (1 + sigma**2).sqrt(), sigma)
        assert torch.allclose(model(x_t, t), want, atol=1e-6)


def test_dpm_solver_reaches_the_ode_solution_in_fewer_steps(spiral_model):
    x = 10 * torch.randn(500, 2, generator=_gen(8))
    exact = fewstep.sample(spiral_model, diffusion.COURSE.levels(200), x=x)
    dpm10 = fewstep.final_gap(fewstep.sample(spiral_model, diffusion.COURSE.levels(10), x=x),
                              exact)
    ddim40 = fewstep.final_gap(fewstep.run("DDIM", spiral_model, diffusion.COURSE.levels(40), x),
                               exact)
    assert dpm10 < ddim40, (dpm10, ddim40)
    curve = spiral.make_spiral(4000)
    assert metrics2d.dist_to_data(exact, curve) < 0.02
    traj = fewstep.sample(spiral_model, diffusion.COURSE.levels(4), n=7, seed=1, trajectory=True)
    assert traj.shape == (5, 7, 2)
    assert torch.equal(traj[0], 10 * torch.randn(7, 2, generator=_gen(1)))


@pytest.fixture(scope="module")
def course_pipe():
    from course_lib import sd_model

    pipe = sd_model.load_course_pipeline("cpu")
    pipe.set_progress_bar_config(disable=True)
    return pipe


PROMPTS = ["a large red circle at the top left", "a small blue square in the middle"]


@pytest.mark.parametrize("spacing,steps", [("trailing", 3), ("trailing", 6), ("leading", 5)])
def test_sd_course_unet_equals_diffusers_state_by_state(course_pipe, spacing, steps):
    """data/sd_course's U-Net (v-prediction, guided with w = 3) on 8x8x4 latents: diffusers'
    scheduler stepped by notebook 08's guided_step against the course's loop through
    bridge.UNetDenoiser, from the same noise, on the same timesteps."""
    theirs, ours = fewstep.pipeline_states(course_pipe, PROMPTS, steps, w=3.0, seed=2,
                                           spacing=spacing)
    assert theirs.shape == ours.shape == (steps, 2, 4, 8, 8)
    assert _states_gap(theirs, ours) < 2e-5
    assert course_pipe.scheduler.config.timestep_spacing == "leading"  # the pipeline's own kept


def test_course_latents_share_the_noise(course_pipe):
    ddim = fewstep.course_latents(course_pipe, PROMPTS, "DDIM", 2, seed=3)
    dpm = fewstep.course_latents(course_pipe, PROMPTS, "DPM-Solver++(2M)", 2, seed=3)
    ge = fewstep.course_latents(course_pipe, PROMPTS, "GE (gam=2)", 2, seed=3)
    assert ddim.shape == (2, 4, 8, 8) and torch.allclose(ddim, dpm, atol=1e-5)
    assert not torch.allclose(ddim, ge, atol=1e-3)
    with pytest.raises(ValueError, match="unknown sampler"):
        fewstep.run("Euler", None, torch.ones(2), torch.zeros(1))
