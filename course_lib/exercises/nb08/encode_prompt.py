"""Exercise `encode_prompt` (notebook 08): prompt and negative prompt -> text embeddings."""
from __future__ import annotations

import torch

from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.nb08.probes import PROMPTS, TOL, probe_pipeline


# <solution cell>
@torch.no_grad()
def encode_prompt(tokenizer, text_encoder, prompts: list, negative_prompts: list) -> torch.Tensor:
    """(2B, 77, D): negative prompts' embeddings, then the prompts'."""
    ### BEGIN SOLUTION
    def embed(texts):
        ids = tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length,
                        truncation=True, return_tensors="pt").input_ids
        return text_encoder(ids.to(text_encoder.device))[0]
    return torch.cat([embed(negative_prompts), embed(prompts)])
    ### END SOLUTION
# </solution cell>


def cases() -> dict[str, Case]:
    p = probe_pipeline()
    long = " ".join(["red"] * 100)
    return {"two": Case((p.tokenizer, p.text_encoder, PROMPTS, ["", "green"])),
            "long": Case((p.tokenizer, p.text_encoder, [long], [""]))}


PROPS = Props()


@PROPS("equals StableDiffusionPipeline.encode_prompt",
       "tokenizer(texts, padding='max_length', max_length=tokenizer.model_max_length, "
       "truncation=True, return_tensors='pt').input_ids; text_encoder(ids)[0] is the "
       "last hidden state")
def _pipeline(outs, refs):
    p = probe_pipeline()
    pos, neg = p.encode_prompt(PROMPTS, "cpu", 1, True, ["", "green"])
    diff = (outs["two"].value - torch.cat([neg, pos])).abs().max().item()
    return diff < TOL, (f"max |yours - pipe.encode_prompt's [negative, prompt]| = {diff:.1e} "
                        f"(allowed {TOL:.0e})")


@PROPS("negative prompts come first",
       "torch.cat([embed(negative_prompts), embed(prompts)]): the pipeline splits "
       "the U-Net's output as (uncond, text) in that order")
def _order(outs, refs):
    p = probe_pipeline()
    _, neg = p.encode_prompt(PROMPTS, "cpu", 1, True, ["", "green"])
    diff = (outs["two"].value[:2] - neg).abs().max().item()
    return diff < TOL, f"first half vs the negative prompts' embeddings: max diff {diff:.1e}"


def _embed(tok, enc, texts, padding="max_length"):
    ids = tok(texts, padding=padding, max_length=tok.model_max_length, truncation=True,
              return_tensors="pt").input_ids
    return enc(ids)[0]


BUGS = {
    "prompts first": lambda tok, enc, p, n: torch.cat([_embed(tok, enc, p),
                                                       _embed(tok, enc, n)]),
    "pads to the longest prompt": lambda tok, enc, p, n: torch.cat(
        [_embed(tok, enc, n, "longest"), _embed(tok, enc, p, "longest")]),
    "ignores the negative prompts": lambda tok, enc, p, n: torch.cat(
        [_embed(tok, enc, [""] * len(p)), _embed(tok, enc, p)]),
}

def _pipeline_encode() -> tuple:
    from diffusers import StableDiffusionPipeline

    return (StableDiffusionPipeline.encode_prompt, StableDiffusionPipeline._encode_prompt)


PROPS("a 100-word prompt is cut to 77 tokens",
      "truncation=True: CLIP reads at most 77 tokens",
      close("long"))

EXERCISE = exercise(
    globals(), points=2,
    summary="prompt and negative prompt -> text embeddings",
    proxies=_pipeline_encode)
