"""Exercise `encode_prompt` (notebook 08): prompt and negative prompt -> text embeddings."""
from __future__ import annotations

import functools

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import draw, pick
from course_lib.exercises.nb08.probes import (
    PROMPTS,
    TOL,
    probe_negatives,
    probe_pipeline,
    probe_prompts,
    probe_text,
    worst_case,
)


# <solution cell>
@torch.no_grad()
def encode_prompt(tokenizer, text_encoder, prompts: list, negative_prompts: list) -> torch.Tensor:
    """The text encoder's embeddings (section 2) of B negative prompts, then of B prompts,
    tokenized as the pipeline does. Returns (2B, 77, D) on the text encoder's device."""
    ### BEGIN SOLUTION
    def embed(texts):
        ids = tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length,
                        truncation=True, return_tensors="pt").input_ids
        return text_encoder(ids.to(text_encoder.device))[0]
    return torch.cat([embed(negative_prompts), embed(prompts)])
    ### END SOLUTION
# </solution cell>


def _texts() -> dict[str, tuple[list, list]]:
    """(prompts, negative prompts) of each case: two prompts, a 100-word one, one prompt with a
    non-empty negative prompt, and an odd batch of three."""
    long = " ".join([pick(86, "red", "blue", "circle", "square")] * pick(87, 100, 90, 130))
    return {"two": (probe_prompts(84, 2, PROMPTS), probe_negatives(85, 2, ["", "green"])),
            "long": ([long], [""]),
            "one": (probe_prompts(88, 1), probe_negatives(89, 2)[1:]),
            "three": (probe_prompts(90, 3), probe_negatives(91, 3))}


def cases() -> dict[str, Case]:
    tokenizer, text_encoder = probe_text()
    return {name: Case((tokenizer, text_encoder, list(p), list(n)))
            for name, (p, n) in _texts().items()}


@functools.lru_cache(maxsize=4)
def _pipeline_embeds(probe_draw: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(negative, prompt) embeddings from StableDiffusionPipeline.encode_prompt, per case."""
    p = probe_pipeline()
    return {name: p.encode_prompt(pos, "cpu", 1, True, neg)[::-1]
            for name, (pos, neg) in _texts().items() if name != "long"}


PROPS = Props()


@PROPS
def _pipeline(outs, refs):
    """equals StableDiffusionPipeline.encode_prompt for 1, 2 and 3 prompts

    every text is padded to the tokenizer's full length (77 for CLIP) and longer ones cut, as
    the pipeline always does; the embedding is the text encoder's last hidden state, one vector
    per token. The detail names the worst case

    code: tokenizer(texts, padding='max_length', max_length=tokenizer.model_max_length,
    truncation=True, return_tensors='pt'); the text encoder's first output on the input_ids,
    with no attention_mask (the pipeline passes none)"""
    want = {name: torch.cat([neg, pos]) for name, (neg, pos) in _pipeline_embeds(draw()).items()}
    worst, where = worst_case(outs, want)
    return worst < TOL, (f"max |yours - pipe.encode_prompt's [negative, prompt]| = {worst:.1e} "
                         f"(allowed {TOL:.0e}, worst in case '{where}')")


@PROPS
def _order(outs, refs):
    """negative prompts come first, each with its own prompt

    guidance splits the U-Net's output as (unconditional, text), in that order: the negative
    prompts' embeddings come first, each for its own prompt, then the prompts'

    code: concatenate along the batch axis, the negative block first; embed the whole
    negative_prompts list, not its first entry repeated"""
    worst = 0.0
    for name, (neg, _) in _pipeline_embeds(draw()).items():
        worst = max(worst, (outs[name].value[:len(neg)] - neg).abs().max().item())
    return worst < TOL, f"first half vs the negative prompts' embeddings: max diff {worst:.1e}"


def _embed(tok, enc, texts, padding="max_length", mask=False):
    batch = tok(texts, padding=padding, max_length=tok.model_max_length, truncation=True,
                return_tensors="pt")
    return enc(batch.input_ids, attention_mask=batch.attention_mask if mask else None)[0]


BUGS = {
    "prompts first": lambda tok, enc, p, n: torch.cat([_embed(tok, enc, p),
                                                       _embed(tok, enc, n)]),
    "pads to the longest prompt": lambda tok, enc, p, n: torch.cat(
        [_embed(tok, enc, n, "longest"), _embed(tok, enc, p, "longest")]),
    "ignores the negative prompts": lambda tok, enc, p, n: torch.cat(
        [_embed(tok, enc, [""] * len(p)), _embed(tok, enc, p)]),
    "[held] the first negative prompt for every prompt": lambda tok, enc, p, n: torch.cat(
        [_embed(tok, enc, n[:1] * len(p)), _embed(tok, enc, p)]),
    "passes the attention mask (the pipeline does not)": lambda tok, enc, p, n: torch.cat(
        [_embed(tok, enc, n, mask=True), _embed(tok, enc, p, mask=True)]),
    "[dtype] casts the embeddings to float32": lambda tok, enc, p, n: torch.cat(
        [_embed(tok, enc, n), _embed(tok, enc, p)]).float(),
}
ALTERNATIVES = {
    "one tokenizer call for both lists": lambda tok, enc, p, n: _embed(tok, enc, n + p),
    "last_hidden_state, one text at a time": lambda tok, enc, p, n: torch.cat(
        [enc(tok(t, padding="max_length", max_length=tok.model_max_length, truncation=True,
                 return_tensors="pt").input_ids).last_hidden_state for t in n + p]),
}

PROPS("""a long prompt is cut to 77 tokens

      CLIP reads at most 77 tokens: a longer text is cut by the tokenizer, never passed on whole

      code: truncation=True and max_length=tokenizer.model_max_length in the tokenizer call""",
      close("long"))

EXERCISE = exercise(
    globals(), points=2,
    summary="prompt and negative prompt -> text embeddings",
    proxies=("diffusers.StableDiffusionPipeline.encode_prompt",
             "diffusers.StableDiffusionPipeline._encode_prompt"),
    reread="2. Tokens, the 77-token limit, and prompt embeddings")
