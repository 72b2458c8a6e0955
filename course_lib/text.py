"""Text for the text-to-image model: a word tokenizer over the captions and a small
transformer text encoder. Introduced in notebook 07.

Token ids: 0 = <pad>, 1 = <bos>, 2 = <eos>, 3 = <unk>, then the caption words in sorted order.
The empty prompt "" is <bos> <eos>: the model learns it as "no condition" (10% of training
captions are emptied), which is what classifier-free guidance subtracts.
"""
from __future__ import annotations

import torch
from torch import nn

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
MAX_LEN = 12

# The notebook's exercise: its reference lives once, in its exercise file. Imported after the
# token ids and MAX_LEN, which that file reads (course_lib/exercises/nb07/ loads this module
# first).
from course_lib.exercises.nb07.tokenize import tokenize  # noqa: E402

__all__ = ["BOS", "EOS", "MAX_LEN", "PAD", "SPECIALS", "UNK", "TextEncoder", "build_vocab",
           "tokenize", "tokenize_batch"]


def build_vocab(captions: list[str]) -> dict[str, int]:
    """word -> id for every word in the captions, after the four special tokens."""
    words = sorted({w for c in captions for w in c.lower().split()})
    return {w: i for i, w in enumerate(SPECIALS + words)}


def tokenize_batch(captions: list[str], vocab: dict[str, int],
                   max_len: int = MAX_LEN) -> tuple[torch.Tensor, torch.Tensor]:
    """ids (B, max_len) and mask (B, max_len), True on real tokens (not padding)."""
    ids = torch.stack([tokenize(c, vocab, max_len) for c in captions])
    return ids, ids != PAD


class TextEncoder(nn.Module):
    """Token + position embeddings through a small transformer: (B, L) ids -> (B, L, dim)."""

    def __init__(self, vocab_size: int, dim: int = 64, layers: int = 2, heads: int = 4,
                 max_len: int = MAX_LEN):
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, dim)
        self.positions = nn.Parameter(torch.zeros(max_len, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.tokens(ids) + self.positions[: ids.shape[1]]
        return self.norm(self.transformer(h, src_key_padding_mask=~mask))
