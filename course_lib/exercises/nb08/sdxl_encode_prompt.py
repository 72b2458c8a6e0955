"""Exercise `sdxl_encode_prompt` (notebook 08): SDXL's text conditioning from two encoders."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, exercise
from course_lib.exercises.common import draw, pick
from course_lib.exercises.nb08.probes import TOL, worst_case
from course_lib.exercises.nb08.probes_xl import probe_xl_text, xl_pipeline_embeds, xl_texts


# <solution cell>
@torch.no_grad()
def sdxl_encode_prompt(tokenizers, text_encoders, prompts: list, negative_prompts=None):
    """SDXL's text conditioning for B negative prompts, then B prompts: the token states c
    of section 10's first equation, (2B, 77, D1 + D2), and the pooled embedding p of the
    second text encoder, (2B, P). negative_prompts None: the unconditional half is all zeros
    (SDXL's force_zeros_for_empty_prompt). On the text encoders' device, in their dtype."""
    ### BEGIN SOLUTION
    def embed(texts):
        states = []
        for tokenizer, text_encoder in zip(tokenizers, text_encoders):
            ids = tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length,
                            truncation=True, return_tensors="pt").input_ids
            out = text_encoder(ids.to(text_encoder.device), output_hidden_states=True)
            states.append(out.hidden_states[-2])     # the penultimate layer's output
        return torch.cat(states, dim=-1), out.text_embeds

    states, pooled = embed(prompts)
    if negative_prompts is None:
        neg_states, neg_pooled = torch.zeros_like(states), torch.zeros_like(pooled)
    else:
        neg_states, neg_pooled = embed(negative_prompts)
    return torch.cat([neg_states, states]), torch.cat([neg_pooled, pooled])
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    tokenizers, encoders = probe_xl_text()
    out = {name: Case((tokenizers, encoders, list(p), None if n is None else list(n)))
           for name, (p, n) in xl_texts().items()}
    doubled = probe_xl_text()       # float64 text encoders: the dtype follows the encoders'
    encoders64 = tuple(e.double() for e in doubled[1])
    prompts, negatives = xl_texts()[pick(138, "two", "one", "three")]
    out["float64"] = Case((doubled[0], encoders64, list(prompts), list(negatives)))
    # zeros for the negative half in the encoders' dtype: torch.cat would promote float32
    # zeros to float64 without a trace, not to bfloat16
    halved = probe_xl_text()
    encoders16 = tuple(e.to(torch.bfloat16) for e in halved[1])
    out["bfloat16, no negative prompts"] = Case((halved[0], encoders16,
                                                 list(xl_texts()["no_negative"][0]), None))
    return out


def _pair(value) -> tuple[torch.Tensor, torch.Tensor]:
    """The answer's (embeds, pooled), or a TypeError that says what came back instead."""
    if not (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, torch.Tensor) for v in value)):
        raise TypeError("expected two tensors (embeds, pooled)")
    return value[0], value[1]


def _worst(outs, which: int) -> tuple[float, str]:
    """The largest difference from the pipeline's part `which` (0 states, 1 pooled) over the
    cases, and the case's name; a wrong shape counts as infinitely far."""
    want = {name: pair[which] for name, pair in xl_pipeline_embeds(draw()).items()}
    return worst_case(outs, want, lambda value: _pair(value)[which])


PROPS = Props()


@PROPS
def _form(outs, refs):
    """returns (embeds, pooled): (2B, 77, D1 + D2) and (2B, P) in the encoders' dtype

    two results: one vector per token with the two encoders' features side by side, and one
    pooled vector per text, the size of the second encoder's projection; both in the dtype of
    the text encoders (float16 on a GPU)

    code: return a tuple (embeds, pooled); pooled comes from the second encoder's output with
    the projection (text_embeds)"""
    for name, ref in refs.items():
        got = _pair(outs[name].value)
        for part, g, w in zip(("embeds", "pooled"), got, ref.value):
            if g.shape != w.shape or g.dtype != w.dtype:
                return False, (f"case '{name}': {part} is {tuple(g.shape)} {g.dtype}, expected "
                               f"{tuple(w.shape)} {w.dtype}")
    return True, "shapes and dtypes as expected"


@PROPS
def _states(outs, refs):
    """token states equal StableDiffusionXLPipeline.encode_prompt's (1, 2 and 3 prompts)

    each encoder reads the text tokenized by its own tokenizer (the second pads differently),
    and SDXL takes the output of each encoder's penultimate layer, not the last one; the two are
    laid side by side along the features, the first encoder's first. The detail names the worst
    case

    code: text_encoder(ids, output_hidden_states=True).hidden_states holds every layer's output,
    the last one last; torch.cat along the last axis, first encoder first"""
    worst, where = _worst(outs, 0)
    return worst < TOL, (f"max |yours - the pipeline's prompt_embeds| = {worst:.1e} (allowed "
                         f"{TOL:.0e}, worst in case '{where}')")


@PROPS
def _pooled(outs, refs):
    """pooled embeddings equal the pipeline's

    the pooled embedding is one vector per text from the second (larger) encoder only: its
    summary token after the encoder's projection layer, which is what the U-Net's added
    embedding reads

    code: CLIPTextModelWithProjection's output has text_embeds (after the projection); its
    text_model's pooler_output is before it, and the first encoder has no projection"""
    worst, where = _worst(outs, 1)
    return worst < TOL, (f"max |yours - the pipeline's pooled_prompt_embeds| = {worst:.1e} "
                         f"(allowed {TOL:.0e}, worst in case '{where}')")


@PROPS
def _unconditional(outs, refs):
    """the unconditional half: zeros without negative prompts, theirs with them

    SDXL's unconditional input is not the empty prompt's embedding: with no negative prompts
    both its token states and its pooled vector are all zeros; with negative prompts it is their
    embedding, each for its own prompt, and it comes first

    code: negative_prompts is None: torch.zeros_like of the prompts' states and pooled; else
    embed the negative prompts the same way; concatenate negative first"""
    worst = 0.0
    for name, (embeds, pooled) in xl_pipeline_embeds(draw()).items():
        half = len(embeds) // 2
        got = _pair(outs[name].value)
        if got[0].shape != embeds.shape or got[1].shape != pooled.shape:
            return False, f"case '{name}': not checked, wrong shapes"
        worst = max(worst, (got[0][:half] - embeds[:half]).abs().max().item(),
                    (got[1][:half] - pooled[:half]).abs().max().item())
    return worst < TOL, f"first half vs the pipeline's negative embeddings: max diff {worst:.1e}"


@PROPS
def _float64(outs, refs):
    """follows the text encoders' dtype (float64 encoders, float64 results)

    on a GPU the encoders run in float16 and the U-Net expects their dtype: the embeddings, the
    zeros included, must come out in the encoders' own dtype

    code: zeros_like keeps the dtype of its argument; no .float() on the results"""
    got, want = _pair(outs["float64"].value), refs["float64"].value
    if any(g.dtype != torch.float64 for g in got):
        return False, f"float64 encoders gave {got[0].dtype} and {got[1].dtype}"
    diff = max((g - w).abs().max().item() for g, w in zip(got, want))
    return diff < 1e-9, f"max |yours - reference| = {diff:.1e} in float64"


# --- planted bugs and correct alternatives ----------------------------------------------------
def _ids(tok, texts, padding="max_length"):
    return tok(texts, padding=padding, max_length=tok.model_max_length, truncation=True,
               return_tensors="pt").input_ids


def _pooled_of(encs, toks, texts, outs, order, pooled):
    """The pooled vector a bug takes: the right one, the first encoder's (no projection), or
    the second encoder's before its projection."""
    if pooled == "first":
        return outs[order.index(0)].pooler_output
    if pooled == "before projection":
        return encs[1].text_model(_ids(toks[1], texts)).pooler_output
    return outs[order.index(1)].text_embeds


def _encode(toks, encs, prompts, neg, layer=-2, pooled="text_embeds", axis=-1, order=(0, 1),
            zeros=True, zeros_always=False, neg_first=True, same_tok=False, cast=None,
            zeros_like=True):
    def embed(texts):
        states, outs = [], []
        for i in order:
            tok = toks[0] if same_tok else toks[i]
            out = encs[i](_ids(tok, texts), output_hidden_states=True)
            states.append(out.last_hidden_state if layer == "last" else out.hidden_states[layer])
            outs.append(out)
        return torch.cat(states, dim=axis), _pooled_of(encs, toks, texts, outs, order, pooled)
    with torch.no_grad():
        s, p = embed(prompts)
        if zeros_always or (neg is None and zeros):
            ns, np_ = ((torch.zeros_like(s), torch.zeros_like(p)) if zeros_like
                       else (torch.zeros(s.shape), torch.zeros(p.shape)))
        else:
            ns, np_ = embed(neg if neg is not None else [""] * len(prompts))
        first, second = ((ns, np_), (s, p)) if neg_first else ((s, p), (ns, np_))
        out = torch.cat([first[0], second[0]]), torch.cat([first[1], second[1]])
    return out if cast is None else tuple(o.to(cast) for o in out)


BUGS = {
    "the last layer's output, not the penultimate": lambda *a: _encode(*a, layer=-1),
    "last_hidden_state (the last layer, after the final norm)":
        lambda *a: _encode(*a, layer="last"),
    "pooled from the first encoder": lambda *a: _encode(*a, pooled="first"),
    "pooled before the projection (text_model's pooler_output)":
        lambda *a: _encode(*a, pooled="before projection"),
    "concatenated along the tokens, not the features": lambda *a: _encode(*a, axis=1),
    "second encoder's states first": lambda *a: _encode(*a, order=(1, 0)),
    "the empty prompt's embedding instead of zeros": lambda *a: _encode(*a, zeros=False),
    "[held] zeros even when negative prompts are given":
        lambda *a: _encode(*a, zeros_always=True),
    "prompts first, negative prompts second": lambda *a: _encode(*a, neg_first=False),
    "[held] the first tokenizer for both encoders": lambda *a: _encode(*a, same_tok=True),
    "[dtype] casts the results to float32": lambda *a: _encode(*a, cast=torch.float32),
    "[dtype] the zeros made in float32 on the CPU, whatever the encoders' dtype":
        lambda *a: _encode(*a, zeros_like=False),
}


def _one_text_at_a_time(toks, encs, prompts, neg):
    rows = []
    for text in (neg or []) + prompts:
        s1 = encs[0](_ids(toks[0], [text]), output_hidden_states=True).hidden_states[-2]
        o2 = encs[1](_ids(toks[1], [text]), output_hidden_states=True)
        rows.append((torch.cat([s1, o2.hidden_states[-2]], dim=2), o2[0]))
    states, pooled = torch.cat([r[0] for r in rows]), torch.cat([r[1] for r in rows])
    if neg is None:
        states = torch.cat([states * 0, states])
        pooled = torch.cat([pooled * 0, pooled])
    return states, pooled


def _both_lists_at_once(toks, encs, prompts, neg):
    texts = (neg if neg is not None else [""] * len(prompts)) + prompts
    outs = [e(_ids(t, texts), output_hidden_states=True) for t, e in zip(toks, encs)]
    states = torch.cat([o.hidden_states[-2] for o in outs], dim=-1)
    pooled = outs[1].text_embeds
    if neg is None:
        keep = torch.arange(len(texts), device=states.device) >= len(prompts)
        states = states * keep[:, None, None].to(states.dtype)
        pooled = pooled * keep[:, None].to(pooled.dtype)
    return states, pooled


ALTERNATIVES = {
    "one text at a time, dim=2, out[0] for the pooled": _one_text_at_a_time,
    "both lists in one call, zeros by a mask": _both_lists_at_once,
}


EXERCISE = exercise(
    globals(), points=3,
    summary="SDXL's two text encoders: token states side by side and the pooled embedding",
    proxies=("diffusers.StableDiffusionXLPipeline.encode_prompt",), float64=False,
    reread="10. SDXL by hand: two text encoders, a pooled embedding, six numbers")
