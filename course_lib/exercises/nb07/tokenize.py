"""Exercise `tokenize` (notebook 07): caption -> fixed-length token ids."""
from __future__ import annotations

import torch

from course_lib import shapes, text
from course_lib.checking import Case, Props, close, exercise


# <solution cell>
def tokenize(caption: str, vocab: dict, max_len: int = text.MAX_LEN) -> torch.Tensor:
    """<bos> ids <eos> <pad>... as a (max_len,) int64 tensor."""
    ### BEGIN SOLUTION
    words = [vocab.get(w, text.UNK) for w in caption.lower().split()][: max_len - 2]
    ids = [text.BOS] + words + [text.EOS]
    return torch.tensor(ids + [text.PAD] * (max_len - len(ids)), dtype=torch.long)
    ### END SOLUTION
# </solution cell>


LONG = ("a small red circle at the top left and a large blue square in the center "
        "and a yellow triangle")  # 20 distinct-ish words: the first ten must be kept


def _vocab():
    return text.build_vocab(shapes.make_dataset(400, seed=0)[1])


def cases() -> dict[str, Case]:
    v = _vocab()
    return {"caption": Case(("a small red circle at the top left", v)),
            "upper": Case(("A Large Green Square In The Center", v)),
            "empty": Case(("", v)), "unknown": Case(("a purple circle", v)),
            "long": Case((LONG, v)), "short_max": Case(("a red square", v, 6))}


PROPS = Props()


@PROPS("<bos> words <eos> then <pad>",
       f"start with BOS = {text.BOS}, end the words with EOS = {text.EOS}, pad with "
       f"PAD = {text.PAD} up to max_len")
def _tok_frame(outs, refs):
    got = outs["caption"].value.tolist()
    ok = got[0] == text.BOS and got[9] == text.EOS and got[10:] == [text.PAD] * 2
    return ok, f"'a small red circle at the top left' -> {got}"


@PROPS("the empty prompt is <bos> <eos>",
       "an empty caption has no words: ''.split() is []")
def _tok_empty(outs, refs):
    got = outs["empty"].value.tolist()
    return got == [text.BOS, text.EOS] + [text.PAD] * 10, f"'' -> {got}"


@PROPS("a long caption keeps its first max_len - 2 words, then <eos>",
       "keep the first max_len - 2 words, then add <eos>")
def _tok_long(outs, refs):
    got, want = outs["long"].value.tolist(), refs["long"].value.tolist()
    return got == want, f"a 20-word caption -> {got}, expected {want} (its first 10 words)"


def _tok(caption, vocab, max_len=12, bos=True, pad=0, lower=True):
    words = caption.lower().split() if lower else caption.split()
    ids = ([1] if bos else []) + [vocab.get(w, 3) for w in words][: max_len - 2] + [2]
    return torch.tensor(ids + [pad] * (max_len - len(ids)), dtype=torch.long)


def _last_words(c, v, n=12):
    return torch.tensor(([1] + [v.get(w, 3) for w in c.lower().split()][-(n - 2):] + [2]
                         + [0] * max(0, n - 2 - len(c.split())))[:n], dtype=torch.long)


BUGS = {
    "no <bos>": lambda c, v, n=12: _tok(c, v, n, bos=False),
    "pads with <eos>": lambda c, v, n=12: _tok(c, v, n, pad=2),
    "case sensitive": lambda c, v, n=12: _tok(c, v, n, lower=False),
    "keeps the last words": _last_words,
}

PROPS("matches the reference (upper case, unknown words, max_len 6)",
      "lower-case the words; vocab.get(word, UNK) for unknown ones",
      close("upper", "unknown", "short_max"))

EXERCISE = exercise(globals(), points=2, summary="caption -> fixed-length token ids")
