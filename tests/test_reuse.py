"""A later answer may call the learner's earlier answers: their own when it passes its check,
the course's reference while it does not (so one mistake costs one exercise, never two)."""
from course_lib.checking import evaluate
from course_lib.checking.registry import EXERCISES

SETUP = "import math\nimport torch\n"
WRONG_ADD_NOISE = ("def add_noise(x0, sigma, eps):\n"
                   "    return x0 + sigma.reshape(-1, *[1] * (x0.dim() - 1)) ** 2 * eps\n")
RIGHT_ADD_NOISE = ("def add_noise(x0, sigma, eps):\n"
                   "    return x0 + sigma.reshape(-1, *[1] * (x0.dim() - 1)) * eps\n")
PREDICT_X0 = "def predict_x0(x, sigma, eps_hat):\n    return add_noise(x, -sigma, eps_hat)\n"


def _notebook(*cells: str) -> dict:
    ns = {"__name__": "__main__"}
    for cell in (SETUP, *cells):
        exec(cell, ns)
    return ns


def test_a_right_earlier_answer_is_used_as_it_is():
    ns = _notebook(RIGHT_ADD_NOISE, PREDICT_X0)
    report = evaluate(EXERCISES["predict_x0"], ns["predict_x0"])
    assert report.passed and report.notes == []


def test_a_wrong_earlier_answer_is_replaced_and_said_so():
    ns = _notebook(WRONG_ADD_NOISE, PREDICT_X0)
    assert not evaluate(EXERCISES["add_noise"], ns["add_noise"]).passed
    report = evaluate(EXERCISES["predict_x0"], ns["predict_x0"])
    assert report.passed, report.render()
    assert "your add_noise does not pass its check yet" in report.render()
    assert ns["add_noise"].__code__.co_filename == "<string>"  # the learner's own, restored


def test_a_wrong_later_answer_still_fails_with_a_right_earlier_one():
    ns = _notebook(RIGHT_ADD_NOISE, "def predict_x0(x, sigma, eps_hat):\n"
                                    "    return add_noise(x, sigma, eps_hat)\n")
    assert not evaluate(EXERCISES["predict_x0"], ns["predict_x0"]).passed


def test_names_of_other_notebooks_and_non_functions_are_left_alone():
    ns = _notebook("mse = 3\n", RIGHT_ADD_NOISE,
                   "def predict_x0(x, sigma, eps_hat):\n"
                   "    assert mse == 3\n    return add_noise(x, -sigma, eps_hat)\n")
    assert evaluate(EXERCISES["predict_x0"], ns["predict_x0"]).passed


def test_a_wrong_answer_two_calls_away_is_replaced_too():
    """train_loop calls denoising_loss, which calls add_noise: a wrong add_noise costs only
    add_noise, in the notebook as in the class grader (where it is the reference from then on)."""
    loss = ("def denoising_loss(denoiser, x0, sigma, eps):\n"
            "    return ((denoiser(add_noise(x0, sigma, eps), sigma) - eps) ** 2).mean()\n")
    loop = ("def train_loop(model, data, steps, batch_size, lr, schedule, generator=None):\n"
            "    opt, losses = torch.optim.Adam(model.parameters(), lr=lr), []\n"
            "    for _ in range(steps):\n"
            "        x0 = data[torch.randint(len(data), (batch_size,), generator=generator)]\n"
            "        sigma = schedule.sample(batch_size, generator)\n"
            "        eps = torch.randn(x0.shape, generator=generator)\n"
            "        loss = denoising_loss(model, x0, sigma, eps)\n"
            "        opt.zero_grad()\n        loss.backward()\n        opt.step()\n"
            "        losses.append(loss.item())\n"
            "    return losses\n")
    ns = _notebook(WRONG_ADD_NOISE, loss, loop)
    assert evaluate(EXERCISES["denoising_loss"], ns["denoising_loss"]).passed
    report = evaluate(EXERCISES["train_loop"], ns["train_loop"])
    assert report.passed, report.render()
    assert "your add_noise does not pass its check yet" in report.render()
