"""Exercise `tokenize` (notebook 07): caption -> fixed-length token ids."""
from __future__ import annotations

import functools

import torch

from course_lib import shapes, text
from course_lib.checking import Case, Props, close, exercise
from course_lib.exercises.common import draw, gen, pick


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
UNKNOWN = ("purple", "zebra", "hexagon", "tiny", "under")  # words of no course caption


@functools.lru_cache(maxsize=1)
def _words() -> tuple[str, ...]:
    return tuple(w for w in text.build_vocab(shapes.make_dataset(400, seed=0)[1])
                 if w not in text.SPECIALS)


def _vocab():
    return {w: i for i, w in enumerate(text.SPECIALS + list(_words()))}


def _shuffled_vocab(g: torch.Generator) -> dict:
    """The course's words and a few more, with other ids: not the notebook's vocabulary."""
    words = list(_words()) + ["purple", "hexagon"]
    ids = torch.randperm(len(words), generator=g).tolist()
    return {**{w: i for i, w in enumerate(text.SPECIALS)},
            **{w: len(text.SPECIALS) + i for w, i in zip(words, ids)}}


def _caption(g: torch.Generator, n: int, unknown: float = 0.0, mixed_case=False) -> str:
    """n random words: course words, a share `unknown` of words no caption has."""
    words = []
    for _ in range(n):
        pool = UNKNOWN if torch.rand((), generator=g) < unknown else _words()
        w = pool[int(torch.randint(len(pool), (), generator=g))]
        words.append(w.upper() if mixed_case and torch.rand((), generator=g) < 0.5 else w)
    return " ".join(words)


def _fresh(n: int, notebook: str, make) -> str:
    """The notebook's caption in its draw; under a grading draw, a new one: make(gen(n))."""
    return notebook if draw() == 0 else make(gen(n))


def cases() -> dict[str, Case]:
    v = _vocab()
    short_max = pick(80, 6, 5, 7, 8)
    h = gen(174)
    exact = pick(175, 7, 9, 5)
    return {"caption": Case((_fresh(74, "a small red circle at the top left",
                                    lambda g: _caption(g, 8)), v)),
            "upper": Case((_fresh(75, "A Large Green Square In The Center",
                                  lambda g: _caption(g, 7, mixed_case=True)), v)),
            "empty": Case((pick(76, "", " ", "\t ", "  \n"), v)),
            "unknown": Case((_fresh(77, "a purple circle", lambda g: _caption(g, 5, 0.4)), v)),
            "long": Case((_fresh(78, LONG, lambda g: _caption(g, 20)), v)),
            "short_max": Case((_fresh(79, "a red square", lambda g: _caption(g, 3)), v,
                               short_max)),
            # another vocabulary than the notebook's: the ids come from the one given
            "vocab": Case((_caption(h, 6, 0.2, mixed_case=True), _shuffled_vocab(h))),
            # max_len 2 (no room for words); exactly max_len - 2 words (no padding);
            # one word too many; runs of spaces, tabs and newlines between words
            "max_len2": Case((_caption(h, 2), v, 2)),
            "exact": Case((_caption(h, exact - 2), v, exact)),
            "one_over": Case((_caption(h, exact - 1), v, exact)),
            "spaces": Case(("  " + "  \t ".join(_caption(h, 4).split()) + " \n", v))}


PROPS = Props()


@PROPS(f"""<bos> words <eos> then <pad>

       a caption becomes the start token, one id per word, the end token, then padding up to
       max_len; the detail shows your ids for the caption

       code: text.BOS = {text.BOS}, text.EOS = {text.EOS}, text.PAD = {text.PAD}; build a list
       of ids and return it as a torch.long tensor""")
def _tok_frame(outs, refs):
    caption = cases()["caption"].args[0]
    n = len(caption.split())
    got = outs["caption"].value.tolist()
    ok = got[0] == text.BOS and got[n + 1] == text.EOS and got[n + 2:] == [text.PAD] * (10 - n)
    return ok, f"{caption!r} -> {got}"


@PROPS
def _tok_empty(outs, refs):
    """the empty prompt is <bos> <eos>

    an empty caption, or one of only whitespace, has no words: the start and end tokens, then
    padding

    code: str.split() without an argument returns no words for a blank caption; split(' ') returns
    empty strings"""
    caption = cases()["empty"].args[0]
    got = outs["empty"].value.tolist()
    return got == [text.BOS, text.EOS] + [text.PAD] * 10, f"{caption!r} -> {got}"


@PROPS
def _tok_long(outs, refs):
    """a long caption keeps its first max_len - 2 words, then <eos>

    only max_len minus two words fit between the start and end tokens: keep the first ones, drop
    the rest, and still end with <eos>

    code: slice the list of word ids to its first max_len - 2 entries before framing it, not the
    framed sequence after"""
    got, want = outs["long"].value.tolist(), refs["long"].value.tolist()
    return got == want, f"a 20-word caption -> {got}, expected {want} (its first 10 words)"


def _tok(caption, vocab, max_len=12, bos=True, pad=0, lower=True, sep=None, cut="words",
         dtype=torch.long):
    words = caption.lower().split(sep) if lower else caption.split(sep)
    ids = [vocab.get(w, 3) for w in words]
    if cut == "words":
        ids = ids[: max_len - 2]
    ids = ([1] if bos else []) + ids + [2]
    return torch.tensor((ids + [pad] * (max_len - len(ids)))[:max_len], dtype=dtype)


def _last_words(c, v, n=12):
    return torch.tensor(([1] + [v.get(w, 3) for w in c.lower().split()][-(n - 2):] + [2]
                         + [0] * max(0, n - 2 - len(c.split())))[:n], dtype=torch.long)


def _courses_vocab(c, v, n=12):  # as an answer that reads the notebook's `vocab`
    return _tok(c, _vocab(), n)


def _filled(caption, vocab, max_len=text.MAX_LEN):
    out = torch.full((max_len,), text.PAD, dtype=torch.long)
    words = caption.lower().split()[: max_len - 2]
    out[0] = text.BOS
    for i, w in enumerate(words, start=1):
        out[i] = vocab[w] if w in vocab else text.UNK
    out[len(words) + 1] = text.EOS
    return out


BUGS = {
    "no <bos>": lambda c, v, n=12: _tok(c, v, n, bos=False),
    "pads with <eos>": lambda c, v, n=12: _tok(c, v, n, pad=2),
    "case sensitive": lambda c, v, n=12: _tok(c, v, n, lower=False),
    "keeps the last words": _last_words,
    "cuts the whole sequence to max_len (a long caption loses <eos>)":
        lambda c, v, n=12: _tok(c, v, n, cut="sequence"),
    "[held] ignores max_len (always 12)": lambda c, v, n=12: _tok(c, v),
    "[held] splits on single spaces": lambda c, v, n=12: _tok(c, v, n, sep=" "),
    "[held] ignores the vocabulary it is given (the course's own)": _courses_vocab,
    "[dtype] int32 ids": lambda c, v, n=12: _tok(c, v, n, dtype=torch.int32),
}
ALTERNATIVES = {"filled into torch.full": _filled}

PROPS("""matches the reference (upper case, unknown words, max_len 6)

      words are looked up in lower case, a word the vocabulary lacks becomes the unknown token, and
      max_len is the one given

      code: caption.lower(); vocab.get(word, text.UNK)""",
      close("upper", "unknown", "short_max"))

PROPS("""uses the vocabulary it is given, whatever its ids

      the ids come from the vocabulary passed in, which may differ from the notebook's

      code: look words up in the vocab parameter, not in the notebook's global vocab""",
      close("vocab"))

PROPS("""max_len edge cases: 2, exactly max_len - 2 words, one word too many; runs of whitespace

      at most max_len minus two words fit between <bos> and <eos> (none for max_len 2, and no
      padding when exactly that many); words are separated by any run of whitespace

      code: caption.lower().split() with no argument splits on spaces, tabs and newlines""",
      close("max_len2", "exact", "one_over", "spaces"))

EXERCISE = exercise(globals(), points=2, summary="caption -> fixed-length token ids",
                    reread="3. Text: tokens and a text encoder")
