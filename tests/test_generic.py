"""The properties every check applies by kind (checking/generic.py GENERIC and generic_lines):
a result that is an input's memory, the global RNG, a cut graph, a module changed in place.
Each is shown with an answer whose values are right, so only that property can catch it."""
import torch
import torch.nn.functional as F

from course_lib.checking import evaluate
from course_lib.checking.registry import get_exercise
from course_lib.guidance import NULL


def _resblock(block, x, emb):  # a right answer of the learner's own
    h = block.conv1(F.silu(block.norm1(x))) + block.emb(emb)[:, :, None, None]
    return block.skip(x) + block.conv2(F.silu(block.norm2(h)))


def _failed(report) -> list[str]:
    return [line.name for line in report.lines if not line.ok]


def test_returning_an_input_is_caught_where_the_reference_returns_a_new_tensor():
    ex = get_exercise("ge_direction")  # the reference returns eps_hat itself on the first step

    def aliasing(e, p, g):  # right values; at gam = 1 it hands back the caller's tensor
        return e if p is None or g == 1 else g * e + (1 - g) * p
    report = evaluate(ex, aliasing)
    assert _failed(report) == ["returns a new tensor, not one of its inputs"], report.render()
    assert "case 'g1'" in report.render()
    right = evaluate(ex, lambda e, p, g: e if p is None else g * e + (1 - g) * p + 0)
    assert right.passed, right.render()


def test_the_global_rng_is_caught_and_the_learners_rng_is_restored():
    ex = get_exercise("drop_condition")
    report = evaluate(ex, ex.bugs["ignores the generator"])
    assert "leaves torch's global random state alone" in _failed(report), report.render()

    def reseeds(labels, p, generator=None):
        torch.manual_seed(0)
        drop = torch.rand(labels.shape, generator=generator) < p
        return torch.where(drop, torch.full_like(labels, NULL), labels)
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    report = evaluate(ex, reseeds)
    assert torch.equal(torch.rand(3), expected)  # the check put the learner's state back
    assert _failed(report) == ["leaves torch's global random state alone"], report.render()


def test_a_cut_graph_is_caught_wherever_the_reference_keeps_one():
    ex = get_exercise("resblock_forward")
    report = evaluate(ex, lambda block, x, emb: _resblock(block, x, emb).detach())
    assert _failed(report) == ["keeps the graph: gradients reach the inputs and parameters"]
    loss = get_exercise("denoising_loss")
    assert "keeps the graph" in " ".join(_failed(evaluate(loss, loss.bugs["detached"])))


def test_a_module_changed_in_place_is_caught():
    ex = get_exercise("resblock_forward")

    def scales_weights(block, x, emb):
        out = _resblock(block, x, emb)
        with torch.no_grad():
            block.conv1.weight.mul_(1.5)  # e.g. a learner "normalising" a weight in place
        return out
    assert _failed(evaluate(ex, scales_weights)) == ["leaves its inputs unchanged"]

    def functional(block, x, emb):  # the same block, called through torch.nn.functional
        h = F.conv2d(F.silu(block.norm1(x)), block.conv1.weight, block.conv1.bias, padding=1)
        h = h + block.emb(emb)[:, :, None, None]
        return block.skip(x) + block.conv2(F.silu(block.norm2(h)))
    assert evaluate(ex, functional).passed


def test_a_module_left_in_train_mode_is_caught():
    ex = get_exercise("resblock_forward")

    def trains(block, x, emb):  # right values (no dropout), but the caller's block changes mode
        block.train(not block.training)
        return _resblock(block, x, emb)
    report = evaluate(ex, trains)
    assert _failed(report) == ["leaves its inputs unchanged"], report.render()
    assert "changed an input (argument 1) in case" in report.render()


def test_a_scheduler_or_pipeline_changed_beyond_the_reference_is_caught():
    ex = get_exercise("guided_step")
    w5 = ex.cases()["w5"].args
    want = ex.reference(*w5)

    def resets(unet, scheduler, latents, t, embeds, w):  # right values on a DDIM step
        out = ex.reference(unet, scheduler, latents, t, embeds, w)
        scheduler.set_timesteps(len(scheduler.timesteps) + 1)  # "tidies up" the caller's run
        return out
    assert torch.allclose(resets(*ex.cases()["w5"].args), want)
    report = evaluate(ex, resets)
    assert "leaves its inputs unchanged" in _failed(report), report.render()
    # the reference advances a multistep scheduler, as documented: that is not a change
    assert evaluate(ex, ex.reference).passed
    gen_ex = get_exercise("generate_latents")

    def casts(pipe, *args, **kwargs):
        out = gen_ex.reference(pipe, *args, **kwargs)
        pipe.vae.to(torch.float64)  # e.g. "more precision" for decoding, on the caller's pipe
        return out
    report = evaluate(gen_ex, casts)
    assert "leaves its inputs unchanged" in _failed(report), report.render()


def test_handing_the_work_to_the_reference_or_a_library_is_caught_however_it_is_reached():
    import importlib

    import course_lib.unet
    ex = get_exercise("attention")
    sdpa = evaluate(ex, lambda q, k, v, mask=None: F.scaled_dot_product_attention(
        q, k, v, attn_mask=None if mask is None else mask[:, None, :]))
    by_alias = evaluate(ex, lambda q, k, v, mask=None: course_lib.unet.attention(q, k, v, mask))
    by_name = evaluate(ex, lambda *a: getattr(importlib.import_module("course_lib.unet"),
                                                "att" + "ention")(*a))
    for report in (sdpa, by_alias, by_name):
        assert "does the work itself" in _failed(report), report.render()
    assert "scaled_dot_product_attention" in sdpa.render()
    assert "course_lib's attention" in by_alias.render()
    # its own reference is never flagged, nor an answer built on other exercises' references
    assert evaluate(ex, ex.reference).passed
    decode = get_exercise("decode")  # its reference calls vae.decode: not a proxy
    assert evaluate(decode, decode.reference).passed


def test_float64_inputs_must_give_float64_at_float64_precision():
    ex = get_exercise("add_noise")
    name = "follows the inputs' dtype (float64 in, float64 out)"

    def widen(s, x):
        return s.reshape(-1, *[1] * (x.dim() - 1))
    inside_float32 = evaluate(ex, lambda x0, s, e: (x0.float() + widen(s, x0).float() * e.float())
                              .to(x0.dtype))
    assert name in _failed(inside_float32), inside_float32.render()
    assert "float32 precision" in inside_float32.render()
    always_float32 = evaluate(ex, lambda x0, s, e: (x0 + widen(s, x0) * e).float())
    assert name in _failed(always_float32), always_float32.render()
    assert name in [line.name for line in evaluate(ex, ex.reference).lines]
    # no float inputs (sigma_schedule takes numbers): the line does not apply
    schedule = get_exercise("sigma_schedule")
    assert name not in [line.name for line in evaluate(schedule, schedule.reference).lines]


DEVICE = "stays on the inputs' device (a GPU, say)"


def test_a_tensor_made_on_the_cpu_is_caught_on_another_device():
    # the meta device stands in for a GPU: right values, but the frequencies land on the CPU
    ex = get_exercise("sigma_embedding")

    def cpu_frequencies(sigma, dim):
        omega = 2.0 ** torch.linspace(-2, 3, dim // 2, dtype=sigma.dtype)
        angle = sigma.log()[:, None] * omega
        return torch.cat([angle.sin(), angle.cos()], dim=1)
    report = evaluate(ex, cpu_frequencies)
    assert _failed(report) == [DEVICE], report.render()
    assert "not on the expected device" in report.render()


def test_a_result_moved_to_the_cpu_is_caught_and_item_is_not_judged():
    ex = get_exercise("add_noise")
    moved = evaluate(ex, lambda x0, sigma, eps: (x0 + sigma[:, None] * eps).cpu()
                     if x0.dim() == 2 else x0 + sigma.reshape(-1, 1, 1, 1) * eps)
    shape = evaluate(ex, lambda x0, sigma, eps: x0 + sigma.reshape(-1, *[1] * (x0.dim() - 1)) *
                     eps)
    assert shape.passed and DEVICE in [line.name for line in shape.lines], shape.render()
    # .cpu() on a meta tensor cannot copy: such an answer is not judged on the device line
    line = next(line for line in moved.lines if line.name == DEVICE)
    assert line.ok and line.detail.startswith("not checked"), moved.render()

    def to_numpy_and_back(x0, sigma, eps):  # wrong on a GPU: .numpy() needs a CPU tensor
        out = x0.numpy() + sigma.reshape(-1, *[1] * (x0.dim() - 1)).numpy() * eps.numpy()
        return torch.from_numpy(out)
    assert DEVICE in _failed(evaluate(ex, to_numpy_and_back))


def test_lines_that_only_follow_from_the_global_rng_say_so_instead_of_their_own_hints():
    # a learner's randn_like in a training step: the RNG line names the cause; the value
    # lines that fail with it point back to it rather than at the loss or the optimiser
    from course_lib.checking.generic import CONSEQUENCE
    from course_lib.exercises.nb05.drop_condition import drop_condition

    ex = get_exercise("cond_train_step")

    def own_noise(model, x0, labels, optimizer, p, schedule, generator=None):
        cond = drop_condition(labels, p, generator)
        sigma = schedule.sample(len(x0), generator)
        eps = torch.randn_like(x0)
        loss = ((model(x0 + sigma[:, None] * eps, sigma, cond) - eps) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()
    report = evaluate(ex, own_noise)
    failed = [line for line in report.lines if not line.ok]
    assert failed[0].name == "leaves torch's global random state alone", report.render()
    later = [line for line in failed[1:] if not line.detail.startswith("not checked")]
    assert later and all(line.hint == CONSEQUENCE and not line.code for line in later)


def test_a_crash_is_not_blamed_on_dtype_or_device():
    """An answer that crashes on the first case crashes on its float64 and meta copies too:
    those two lines say they were not checked, without hints about dtypes or devices."""
    ex = get_exercise("add_noise")
    report = evaluate(ex, lambda x0, s, e: x0 + s * e)  # breaks on a (B,) sigma with (B, 2) x0
    lines = {line.name: line for line in report.lines}
    first = next(iter(ex.cases()))
    for name in ("follows the inputs' dtype (float64 in, float64 out)",
                 "stays on the inputs' device (a GPU, say)"):
        assert not lines[name].ok and lines[name].detail == \
            f"not checked: case '{first}' failed above", report.render()
        assert "dtype" not in lines[name].render(tier=2).split(":", 2)[-1]
    runs = next(line for line in report.lines if line.name.startswith("runs on all"))
    assert "code hint:" in runs.render(tier=2)  # the crash itself: a hint to find it


def test_every_watched_library_function_is_found_by_its_name():
    from course_lib.checking.registry import EXERCISES

    for ex in EXERCISES.values():
        watched = ex.watch()
        assert len(watched) == 1 + len(ex.proxies), ex.id
        assert all(callable(f) for f in watched.values()), ex.id


def _line(report, start: str):
    return next(line for line in report.lines if line.name.startswith(start))


def test_a_crash_gets_the_hint_of_its_kind():
    from course_lib.checking.generic import CRASHES, crash_hints

    kinds = {
        "RuntimeError: mat1 and mat2 must have the same dtype": "dtypes",
        "RuntimeError: expected scalar type Double but found Float": "dtypes",
        "RuntimeError: a leaf Variable that requires grad is being used in an in-place "
        "operation.": "in place",
        "TypeError: f() takes 2 positional arguments but 3 were given": "signature",
        "IndexError: index 7 is out of bounds for dimension 0 with size 5": "index",
        "RuntimeError: The size of tensor a (3) must match the size of tensor b (2)": "shapes",
    }
    for error, kind in kinds.items():
        hint, code = crash_hints(error)
        assert {"dtypes": "dtype", "in place": "in place", "signature": "signature",
                "index": "index", "shapes": "shapes"}[kind] in hint, (error, hint)
        assert code
    assert crash_hints("anything else") == CRASHES[-1][1:]


def test_a_loop_that_yields_one_tensor_changed_in_place_is_told_so():
    from course_lib.exercises.nb05.cfg_denoise import cfg_denoise

    def same(denoiser, sigmas, x, cond, w):  # every yielded state is the very same tensor
        x = x.clone()
        for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
            x -= (sigma - sigma_next) * cfg_denoise(denoiser, x, sigma, cond, w)
            yield x
    report = evaluate(get_exercise("guided_samples"), same)
    runs = _line(report, "runs on all")
    assert not runs.ok and "the same tensor at several steps" in runs.detail, report.render()
    assert "handed back must not change" in runs.hint


def _guided(sign: float = 1.0, sigma_dtype=None):
    def answer(model, x, sigma, cond, w):
        sigma = torch.as_tensor(sigma, dtype=sigma_dtype or x.dtype).to(x.dtype)
        sigma = sigma.expand(x.shape[0])
        both = model(torch.cat([x, x]), torch.cat([sigma, sigma]),
                     torch.cat([torch.full_like(cond, NULL), cond]))
        u, c = both.chunk(2)
        return u + sign * w * (c - u)
    return answer


def test_a_float64_case_far_off_is_not_blamed_on_the_dtype():
    ex = get_exercise("cfg_denoise")
    assert evaluate(ex, _guided()).passed
    f64 = _line(evaluate(ex, _guided(sign=-1.0)), "keeps float64")  # a formula slip
    assert not f64.ok and "far more than rounding" in f64.detail
    assert "not the cause" in f64.hint and not f64.code
    f64 = _line(evaluate(ex, _guided(sigma_dtype=torch.float32)), "keeps float64")  # precision
    assert not f64.ok and "far more" not in f64.detail
    assert f64.hint == next(p.hint for p in ex.props if p.name.startswith("keeps float64"))


def test_an_unchecked_line_is_not_ticked():
    from course_lib.checking import Line

    assert Line(True, "stays on the inputs' device", "not checked: reads values back"
                ).render().startswith("  – ")
    assert Line(True, "holds", "").render().startswith("  ✓ ")


def test_the_fresh_noise_line_catches_noise_drawn_once():
    ex = get_exercise("lcm_samples")
    line = _line(evaluate(ex, ex.bugs["the same noise at every step"]), "fresh noise")
    assert not line.ok and "add the same noise" in line.detail


def test_the_cond_line_fails_only_when_cond_is_lost():
    ex = get_exercise("dpm_solver_samples")
    name = "cond reaches the denoiser"
    assert not _line(evaluate(ex, ex.bugs["cond never reaches the denoiser"]), name).ok
    assert _line(evaluate(ex, ex.bugs["[held] sigma_prev stays sigmas[0]"]), name).ok
