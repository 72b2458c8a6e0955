"""Notebook 12's diffusion transformer: its parts (patches, positions, adaLN-Zero) do what
the notebook says, it trains through the one loop with the learner's flow loss, and diffusers'
FlowMatchEulerDiscreteScheduler driving it agrees with the course's Euler sampler."""
import pytest
import torch

from course_lib import dit, flow, shapes, text
from course_lib.runtime import DATA_DIR

CAPTIONS = shapes.make_dataset(40, seed=3)[1]
VOCAB = text.build_vocab(CAPTIONS)


def _model(seed: int = 0, depth: int = 2, dim: int = 32, warm: bool = True) -> dit.DiT:
    """A small DiT; warm: every zero-initialised layer given random weights, so that the
    blocks and the output are not the identity and zero."""
    torch.manual_seed(seed)
    model = dit.DiT(len(VOCAB), dim=dim, depth=depth, heads=2, text_dim=16)
    if warm:
        with torch.no_grad():
            for p in model.parameters():
                if not p.abs().sum():
                    p.normal_(0, 0.05)
    return model.eval()


def _cond(n: int, offset: int = 0):
    return text.tokenize_batch(CAPTIONS[offset:offset + n], VOCAB)


def test_patchify_and_unpatchify_invert_each_other_and_positions_differ():
    z = torch.randn(3, 4, 8, 6)
    for p in (1, 2):
        tokens = dit.patchify(z, p)
        assert tokens.shape == (3, 48 // p**2, 4 * p * p)
        assert torch.equal(dit.unpatchify(tokens, p, 8, 6), z)
    pos = dit.positions_2d(4, 4, 32)
    assert pos.shape == (16, 32) and torch.cdist(pos, pos).fill_diagonal_(1).min() > 0.1


def test_a_fresh_dit_is_the_identity_in_every_block_and_outputs_zero():
    model = _model(warm=False)
    ids, mask = _cond(3)
    h, c = torch.randn(3, 20, 32), torch.randn(3, 32)
    for block in model.blocks:
        assert torch.equal(block(h, c), h)
    assert torch.equal(model(torch.randn(3, 4, 8, 8), 0.4, (ids, mask)), torch.zeros(3, 4, 8, 8))


def test_the_caption_and_the_time_reach_the_output_and_padding_does_not():
    model = _model()
    z = torch.randn(2, 4, 8, 8)
    ids, mask = _cond(2)
    with torch.no_grad():
        base = model(z, 0.5, (ids, mask))
        assert not torch.allclose(base, model(z, 0.5, _cond(2, offset=5)))
        assert not torch.allclose(base, model(z, 0.2, (ids, mask)))
        # what sits on padded positions is never attended to
        noisy = torch.where(mask, ids, torch.randint(4, len(VOCAB), ids.shape))
        assert torch.allclose(base, model(z, 0.5, (noisy, mask)), atol=1e-6)
        # one sample's result does not depend on the rest of its batch
        assert torch.allclose(base[:1], model(z[:1], 0.5, (ids[:1], mask[:1])), atol=1e-5)


def test_training_runs_the_learners_flow_loss_through_fit(monkeypatch):
    calls = []
    real = dit.flow_loss
    monkeypatch.setattr(dit, "flow_loss", lambda *a: calls.append(a[3].shape) or real(*a))
    model = _model(warm=False)
    z = torch.randn(16, 4, 8, 8) * 0.1 + torch.randn(1, 4, 8, 8)
    losses = dit.train_dit(model, z, CAPTIONS[:16], VOCAB, 30, batch_size=8, lr=3e-3,
                           progress=False)
    assert len(losses) == 30 == len(calls) and calls[0] == (8, 4, 8, 8)
    assert sum(losses[-5:]) < sum(losses[:5])


def test_time_shift_and_logit_normal():
    t = torch.linspace(0, 1, 11)
    assert torch.allclose(dit.shift_times(t, 1.0), t)
    shifted = dit.shift_times(t, 3.0)
    assert shifted[0] == 0 and shifted[-1] == 1 and (shifted[1:-1] > t[1:-1]).all()
    # in the sigma view the shift multiplies sigma
    mid = t[1:-1]
    assert torch.allclose(flow.t_to_sigma(dit.shift_times(mid, 3.0)), 3 * flow.t_to_sigma(mid),
                          rtol=1e-5)
    draws = dit.logit_normal(20_000, generator=torch.Generator().manual_seed(0))
    assert 0 < draws.min() and draws.max() < 1 and abs(draws.median() - 0.5) < 0.02


@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_diffusers_flow_match_euler_scheduler_agrees_with_the_learners_euler(shift):
    """diffusers' FlowMatchEulerDiscreteScheduler (SD3's) driving the course's DiT, with the
    timestep t * 1000 that SD3's transformer reads, against euler_flow_samples on the
    scheduler's own sigmas: every state equal to float32 rounding."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    model = _model(seed=1)
    cond = _cond(4)
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)
    scheduler.set_timesteps(12)
    x = torch.randn(4, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    ours = list(flow.euler_flow_samples(lambda z, t: model(z, t, cond), scheduler.sigmas, x))
    theirs, z = [], x
    with torch.no_grad():
        for timestep in scheduler.timesteps:
            v = model(z, timestep / 1000, cond)
            z = scheduler.step(v, timestep, z).prev_sample
            theirs.append(z)
    assert len(ours) == len(theirs) == 12
    gap = max((a - b).abs().max().item() for a, b in zip(ours, theirs))
    assert gap < 1e-5, gap
    # its times: an even grid from 1 down to the shifted 1/1000, shifted, then 0
    end = float(dit.shift_times(torch.tensor(1e-3, dtype=torch.float64), shift))
    want = dit.shift_times(torch.linspace(1.0, end, 12, dtype=torch.float64), shift)
    assert torch.allclose(scheduler.sigmas[:-1].double(), want, atol=1e-6)
    assert scheduler.sigmas[-1] == 0


@pytest.mark.skipif(not (DATA_DIR / "dit_shapes.pt").exists(), reason="no shipped DiT")
def test_shipped_dit_loads_and_matches_its_prompts():
    from course_lib import artefacts
    from course_lib.judge import match_rate

    model, config, losses = dit.load()
    assert isinstance(config, dit.DiTConfig) and len(losses) == config.steps
    autoencoder, vae_config, _ = artefacts.load("vae")
    judge = artefacts.load("judge").model
    attrs = shapes.all_attributes()[::6]
    images = dit.generate(model, autoencoder, vae_config.scale, config.vocab,
                          [a.caption for a in attrs], steps=20, seed=0)
    assert images.shape == (len(attrs), 3, 32, 32)
    assert match_rate(judge, images, attrs)["all"] >= 0.6
