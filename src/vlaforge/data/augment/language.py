"""Instruction text: paraphrases (synonyms and wrappers), the left/right swap a mirror needs, and color words.

The synonym table is plain English written for this module, not taken from the tabletop suite's
held-out templates, so held-out-wording evaluation still measures wording the policy never saw.
(Its container nouns were widened after a grounding module trained with only "basket" missed the
goal under held-out wording; the words added are none of the held-out templates' words.)
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import Any, Sequence

import torch

from vlaforge.data.augment.base import Augmentation, AugBatch, register

MIRROR_WORDS = {
    "left": "right", "right": "left", "leftmost": "rightmost", "rightmost": "leftmost",
    "leftward": "rightward", "rightward": "leftward", "leftwards": "rightwards", "rightwards": "leftwards",
    "clockwise": "counterclockwise", "counterclockwise": "clockwise", "anticlockwise": "clockwise",
    "counter-clockwise": "clockwise",
}
_MIRROR_RE = re.compile(r"\b(" + "|".join(sorted(map(re.escape, MIRROR_WORDS), key=len, reverse=True)) + r")\b", re.IGNORECASE)

COLOR_WORDS = ("red", "green", "blue", "yellow", "white", "black", "orange", "purple", "pink", "gray", "grey", "brown", "cyan", "magenta")
_COLOR_RE = re.compile(r"\b(" + "|".join(COLOR_WORDS) + r")\b", re.IGNORECASE)

SYNONYMS: dict[str, tuple[str, ...]] = {
    "pick up": ("lift", "take"),
    "put": ("place", "set"),
    "place": ("put", "set"),
    "move": ("bring", "carry"),
    "push": ("slide",),
    "drop": ("release",),
    "stack": ("pile",),
    "on top of": ("onto", "atop"),
    "block": ("cube",),
    "bin": ("basket", "tray", "crate", "bucket", "tub"),
    "objects": ("items", "things"),
    "object": ("item", "thing"),
    "every": ("each",),
    "target": ("goal",),
}
WRAPPERS = ("please {}", "{}, please", "can you {}?", "robot, {}", "now {}", "i want you to {}")


def _match_case(word: str, like: str) -> str:
    if like.isupper() and len(like) > 1:
        return word.upper()
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


def swap_left_right(text: str) -> str:
    """Mirror the directions in `text`: left ↔ right, leftmost ↔ rightmost, clockwise ↔ counterclockwise."""
    return _MIRROR_RE.sub(lambda m: _match_case(MIRROR_WORDS[m.group(0).lower()], m.group(0)), text)


def color_words(tasks: Sequence[str]) -> list[str]:
    """The color words the instructions use (sorted, lower case)."""
    return sorted({m.group(0).lower() for t in tasks for m in _COLOR_RE.finditer(t)})


def paraphrase(text: str, u: list[float], synonym_p: float, wrapper_p: float, synonyms: dict[str, tuple[str, ...]]) -> str:
    """Rephrase `text` using uniform draws `u` (consumed in order; 2 per matched phrase + 2 for the wrapper)."""
    draws = iter(u)
    phrases = sorted(synonyms, key=len, reverse=True)
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, phrases)) + r")\b", re.IGNORECASE)

    def sub(m: re.Match[str]) -> str:
        a, b = next(draws, 1.0), next(draws, 0.0)
        alts = synonyms[m.group(0).lower()]
        return _match_case(alts[min(int(b * len(alts)), len(alts) - 1)], m.group(0)) if a < synonym_p else m.group(0)

    out = pattern.sub(sub, text)
    a, b = next(draws, 1.0), next(draws, 0.0)
    if a < wrapper_p:
        out = WRAPPERS[min(int(b * len(WRAPPERS)), len(WRAPPERS) - 1)].format(out[:1].lower() + out[1:] if out[:2] != "I " else out)
    return out


class Reword(Augmentation):
    """Base of the text augmentations: each sample's instruction is rewritten from uniform draws seeded per sample (or,
    with `params.variants` > 0, from one of that many fixed seeds per instruction). Subclasses implement `reword`."""

    kind = "text"

    def check(self) -> None:
        from vlaforge.errors import ConfigError

        if self.params.variants < 0:
            raise ConfigError(f"{self.name}.params.variants must be >= 0 (0 = unlimited), got {self.params.variants}")

    def n_draws(self, text: str) -> int:
        """How many uniform draws `reword` consumes for `text`."""
        return 64

    def reword(self, text: str, u: list[float]) -> str:
        """`text` rewritten from the draws `u`."""
        raise NotImplementedError

    def sample(self, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        return {"seed": torch.randint(0, 2**31 - 1, (n,), generator=g)}

    def apply(self, batch: AugBatch, idx: torch.Tensor, params: dict[str, torch.Tensor], g: torch.Generator) -> None:
        for i, seed in zip(idx.tolist(), params["seed"].tolist()):
            batch.task[i] = self._reword_seeded(batch.task[i], variant_seed(seed, batch.task[i], self.params.variants))

    def _reword_seeded(self, text: str, seed: int) -> str:
        gen = torch.Generator().manual_seed(seed)
        return self.reword(text, torch.rand(self.n_draws(text), generator=gen).tolist())

    def rewordings(self, text: str) -> set[str] | None:
        if not self.params.variants:
            return None  # a new wording per sample
        return {self._reword_seeded(text, variant_seed(k, text, self.params.variants)) for k in range(self.params.variants)}


@register("paraphrase")
class Paraphrase(Reword):
    """Reword the instruction: swap phrases for synonyms and wrap it ("please ...", "can you ...?")."""

    showcase = {"synonym_p": 1.0, "wrapper_p": 1.0}

    @dataclasses.dataclass(frozen=True)
    class Params:
        """synonym_p: chance each known phrase is replaced; wrapper_p: chance of a wrapper; synonyms: extra phrase → alternatives;
        variants: > 0 draws each rewording from that many fixed ones per instruction (so their text embeddings are
        computed once and cached, instead of once per new string)."""

        synonym_p: float = 0.5
        wrapper_p: float = 0.5
        synonyms: dict[str, Any] = dataclasses.field(default_factory=dict)
        variants: int = 0

    def check(self) -> None:
        from vlaforge.errors import ConfigError

        for f in ("synonym_p", "wrapper_p"):
            if not 0.0 <= getattr(self.params, f) <= 1.0:
                raise ConfigError(f"paraphrase.params.{f} must be in [0, 1], got {getattr(self.params, f)}")
        super().check()
        extra = {}
        for k, v in self.params.synonyms.items():
            alts = (v,) if isinstance(v, str) else tuple(v)
            if not alts or not all(isinstance(a, str) and a.strip() for a in alts):
                raise ConfigError(f"paraphrase.params.synonyms[{k!r}] must be a word or a list of words, got {v!r}")
            extra[k.lower()] = alts
        self.table = {**SYNONYMS, **extra}

    def reword(self, text: str, u: list[float]) -> str:
        return paraphrase(text, u, self.params.synonym_p, self.params.wrapper_p, self.table)


def variant_seed(seed: int, text: str, variants: int) -> int:
    """`seed` itself, or with `variants` > 0 one of that many fixed seeds per `text` (so each instruction has a fixed set of
    rewordings, whose text embeddings are computed once and then cached)."""
    if not variants:
        return seed
    return int.from_bytes(hashlib.sha256(f"{seed % variants}|{text}".encode()).digest()[:4], "little")


def drop_words(text: str, u: list[float], p_word: float) -> str:
    """`text` without the words whose uniform draw in `u` falls below `p_word` (at least two words are kept)."""
    words = text.split()
    keep = [w for w, x in zip(words, u) if x >= p_word]
    return " ".join(keep) if len(keep) >= min(2, len(words)) else text


@register("word_dropout")
class WordDropout(Reword):
    """Drop random words from the instruction, so no single word (a container's noun, a verb) carries the meaning alone."""

    showcase = {"p_word": 0.4}

    @dataclasses.dataclass(frozen=True)
    class Params:
        """p_word: chance each word is dropped; variants: as for paraphrase (> 0: that many fixed versions per instruction)."""

        p_word: float = 0.15
        variants: int = 0

    def check(self) -> None:
        from vlaforge.errors import ConfigError

        if not 0.0 <= self.params.p_word < 1.0:
            raise ConfigError(f"word_dropout.params.p_word must be in [0, 1), got {self.params.p_word}")
        super().check()

    def n_draws(self, text: str) -> int:
        return len(text.split())

    def reword(self, text: str, u: list[float]) -> str:
        return drop_words(text, u, self.params.p_word)


# Nouns a grounding module should not key on: containers, shapes and markers are told apart by their colors, so the
# noun after a color may be any word (new wordings bring new nouns: "pail", "dish", ...).
SWAP_NOUNS = ("bin", "basket", "tray", "crate", "bucket", "tub", "block", "cube", "cylinder", "target", "goal", "circle",
              "marker", "object", "objects", "thing", "things")
# Everyday nouns put in their place. None is a word of the tabletop suite's unseen (held-out or validation) templates;
# a test keeps it so.
FILLER_NOUNS = (
    "cup", "plate", "drawer", "shelf", "jar", "pot", "pan", "bowl", "mug", "vase", "lamp", "chair", "sofa", "rug", "sink",
    "oven", "fridge", "kettle", "bottle", "bag", "sack", "pouch", "pocket", "wallet", "purse", "envelope", "folder",
    "binder", "notebook", "pencil", "pen", "brush", "comb", "towel", "sponge", "bench", "desk", "cabinet", "closet",
    "locker", "chest", "trunk", "barrel", "jug", "flask", "glass", "tin", "carton", "package", "parcel", "wagon", "cart",
    "truck", "boat", "ship", "house", "room", "garage", "garden", "field", "pond", "lake", "river", "road", "street",
    "park", "yard", "corner", "door", "window", "wall", "floor", "roof", "hole", "slot", "cradle", "nest", "cage", "tank",
    "pool", "tube", "pipe", "funnel", "ring", "stone", "rock", "brick", "log", "leaf", "apple", "lemon", "banana",
    "carrot", "potato", "egg", "bread", "cookie", "candle", "clock", "phone", "radio", "book", "card", "coin", "key",
    "toy", "ball", "doll", "hat", "shoe", "sock", "glove", "coat", "shirt", "helmet", "pillow", "blanket",
)
_SWAP_RE = re.compile(r"\b(" + "|".join(sorted(SWAP_NOUNS, key=len, reverse=True)) + r")\b", re.IGNORECASE)


def swap_nouns(text: str, u: list[float], p_word: float) -> str:
    """Replace each of `SWAP_NOUNS` in `text` by a filler noun when its uniform draw falls below `p_word` (2 draws each)."""
    draws = iter(u)

    def sub(m: re.Match[str]) -> str:
        a, b = next(draws, 1.0), next(draws, 0.0)
        return _match_case(FILLER_NOUNS[min(int(b * len(FILLER_NOUNS)), len(FILLER_NOUNS) - 1)], m.group(0)) if a < p_word else m.group(0)

    return _SWAP_RE.sub(sub, text)


@register("noun_swap")
class NounSwap(Reword):
    """Put everyday nouns in place of container, shape and marker nouns ("the blue bin" → "the blue kettle"), so a policy
    finds things by their colors and the sentence, not by the training wording's nouns."""

    showcase = {"p_word": 1.0}

    @dataclasses.dataclass(frozen=True)
    class Params:
        """p_word: chance each such noun is replaced; variants: as for paraphrase (> 0: that many fixed versions per instruction)."""

        p_word: float = 0.5
        variants: int = 0

    def check(self) -> None:
        from vlaforge.errors import ConfigError

        if not 0.0 <= self.params.p_word <= 1.0:
            raise ConfigError(f"noun_swap.params.p_word must be in [0, 1], got {self.params.p_word}")
        super().check()

    def reword(self, text: str, u: list[float]) -> str:
        return swap_nouns(text, u, self.params.p_word)
