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


def build_vocab(captions: list[str]) -> dict[str, int]:
    """word -> id for every word in the captions, after the four special tokens."""
    words = sorted({w for c in captions for w in c.lower().split()})
    return {w: i for i, w in enumerate(SPECIALS + words)}


def tokenize(caption: str, vocab: dict[str, int], max_len: int = MAX_LEN) -> torch.Tensor:
    """<bos> word ids <eos>, then <pad> up to max_len. Words are lower-cased; unknown words
    become <unk>; a caption too long keeps its first max_len - 2 words (and its <eos>, as
    CLIP's tokenizer does). Returns a (max_len,) int64 tensor."""
    words = [vocab.get(w, UNK) for w in caption.lower().split()][: max_len - 2]
    ids = [BOS] + words + [EOS]
    ids = ids + [PAD] * (max_len - len(ids))
    return torch.tensor(ids, dtype=torch.long)


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
