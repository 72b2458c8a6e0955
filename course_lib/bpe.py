"""A CLIP tokenizer for the course's own captions: byte-pair encoding learned from them.

Used by notebook 08's model (sd_model): the hub's CLIP vocabulary cannot be downloaded here,
so the course learns a small BPE vocabulary and writes it in CLIP's file format (vocab.json,
merges.txt), which transformers' CLIPTokenizer reads as it reads SD 1.5's.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import torch
from transformers import CLIPTokenizer

MAX_LENGTH = 77        # CLIP's context; without it the pipeline's padding overflows


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's (and GPT-2's) base symbols: each of the 256 bytes as a printable character."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
            *range(ord("®"), ord("ÿ") + 1)]
    moved = [b for b in range(256) if b not in keep]
    return {**{b: chr(b) for b in keep}, **{b: chr(256 + i) for i, b in enumerate(moved)}}


def learn_bpe(captions: list[str], budget: int = 1000) -> tuple[dict[str, int], list[tuple]]:
    """(vocab, merges): merge the most frequent neighbouring symbol pair over the caption
    words, again and again, until every word is one token or `budget` merges are made."""
    byte_char = bytes_to_unicode()
    counts = Counter(w for c in captions for w in c.lower().split())
    words = {}
    for word, n in counts.items():
        symbols = [byte_char[b] for b in word.encode("utf-8")]
        words[(*symbols[:-1], symbols[-1] + "</w>")] = n        # "</w>" marks a word's end
    merges: list[tuple[str, str]] = []
    while len(merges) < budget:
        pairs = Counter()
        for word, n in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += n
        if not pairs:
            break                                               # every word is one token
        best = max(sorted(pairs), key=pairs.__getitem__)        # ties: first in sorted order
        merges.append(best)
        words = {_merge(word, best): n for word, n in words.items()}
    base = list(byte_char.values())
    tokens = base + [s + "</w>" for s in base] + ["".join(m) for m in merges]
    tokens = list(dict.fromkeys(tokens)) + ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges


def _merge(word: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    out, i = [], 0
    while i < len(word):
        if word[i:i + 2] == pair:
            out.append(word[i] + word[i + 1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def save_tokenizer(folder: str | Path, captions: list[str]) -> CLIPTokenizer:
    """Write vocab.json and merges.txt into `folder` and load them as SD's tokenizer does:
    77 tokens, padded with <|endoftext|>."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = learn_bpe(captions)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    lines = "".join(f"{a} {b}\n" for a, b in merges)
    (folder / "merges.txt").write_text("#version: 0.2\n" + lines, encoding="utf-8")
    # positional file names: CLIPTokenizer(vocab_file=...) silently builds a 2-token vocab
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"),
                         model_max_length=MAX_LENGTH, pad_token="<|endoftext|>")


def token_ids(tokenizer: CLIPTokenizer, prompts: list[str]) -> torch.Tensor:
    """(B, 77) ids exactly as the pipeline makes them: <bos> tokens <eos>, <eos> padding."""
    return tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length,
                     truncation=True, return_tensors="pt").input_ids
