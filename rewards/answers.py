"""Read the option an answer names.

The vocabularies come from ``data_prep.prompts.PROMPTS``, so a reward accepts exactly what the prompt offers. An
option is named by its key letter (``A``, ``(A)``, ``A.``, ``A)``, ``option A``; in lower case only when marked,
``(a)``, ``a)``, ``a.``, ``a:``, ``option a``, or alone, since an unmarked ``a`` is the article) or by its
distinctive words, whole words, any case (``defect``, ``structural anomaly``, ``structural``, ``yes``, ``No.``); a
word several options share (``anomaly`` in pair3c) names none. An answer counts only if it names exactly one option:

- naming two is wrong (``A or B``, ``yes/no``, ``A: normal``): hedging over every option earned full reward in
  Visual-RFT (issue #79);
- an empty answer names nothing (Visual-RFT issue #176: ``ground_truth in answer`` rewarded ``<answer></answer>``);
- matches never start or end inside a word (``maybe`` is not ``A``, ``nobody`` is not ``no``, ``BA`` is not ``B``);
- a negation makes the answer unreadable (``not a defect``, ``defect-free``, ``isn't normal``): it names one
  option while meaning another, and negation is not parsed.

An answer naming the ground truth is LAD-Reasoner's Accuracy Reward (Eq. 7: 1 iff the answer matches the label,
else 0), FAD-TQ's (Sec. 2.3) and LR-IAD's correctness factor ``f`` (Eq. 4): ``rewards.rules`` scores it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from data_prep.prompts import PROMPTS, AnswerOption, PromptSpec

_WORD_CHAR: Final = r"[^\W_]"  # a letter or digit: what a match may not start after or end before
# Words that turn an option's words into another option; the protocol's own option words are taken out.
_NEGATIONS: Final = ("not", "no", "non", "never", "neither", "nor", "none", "without", "free")
# "isn't", "doesn’t": a contracted not, wherever it ends a word.
_CONTRACTED_NOT: Final = re.compile(r"[nN]['’][tT](?![^\W_])")
# A whole answer of one letter or digit, punctuation aside: ``a``, ``(b).``.
_LONE_CHARACTER: Final = re.compile(r"[\W_]*([^\W_])[\W_]*")


@dataclass(frozen=True)
class _Vocabulary:
    """One protocol's answer forms: a pattern per option key, one for negations, and the key letters."""

    keys: tuple[str, ...]
    options: tuple[tuple[str, re.Pattern[str]], ...]
    negation: re.Pattern[str]  # the negation words that are not the protocol's option words
    letters: frozenset[str]


def _distinctive_words(options: tuple[AnswerOption, ...]) -> dict[str, list[str]]:
    """Each option's words that no other option uses, case-folded: pair3c's ``anomaly`` belongs to none."""
    words = {option.key: option.text.casefold().split() for option in options}
    uses = Counter(word for option_words in words.values() for word in set(option_words))
    return {key: [word for word in option_words if uses[word] == 1] for key, option_words in words.items()}


def _letter_forms(key: str) -> list[str]:
    """A key letter in upper case anywhere; in lower case only marked: ``(a``, ``a)``, ``a.``, ``a:``, ``option a``."""
    upper, lower = re.escape(key.upper()), re.escape(key.lower())
    return [upper, rf"(?<=\(){lower}", rf"(?<=(?<!{_WORD_CHAR})(?i:option)\s){lower}", rf"{lower}(?=[).:])"]


def _any_word(words: list[str]) -> str:
    return "(?i:" + "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True)) + ")"


def _whole(forms: list[str]) -> re.Pattern[str]:
    """Any of ``forms``, neither starting nor ending inside a word."""
    return re.compile(rf"(?<!{_WORD_CHAR})(?:{'|'.join(forms)})(?!{_WORD_CHAR})")


def _vocabulary(spec: PromptSpec) -> _Vocabulary:
    words = _distinctive_words(spec.options)
    option_patterns = []
    for option in spec.options:
        forms = [_any_word(words[option.key])] if words[option.key] else []
        forms += _letter_forms(option.key) if spec.lettered else []
        option_patterns.append((option.key, _whole(forms)))
    own_words = {word for key_words in words.values() for word in key_words}
    negations = [word for word in _NEGATIONS if word not in own_words]
    negation = _whole([_any_word(negations)])
    letters = frozenset(spec.answer_keys) if spec.lettered else frozenset()
    return _Vocabulary(spec.answer_keys, tuple(option_patterns), negation, letters)


_VOCABULARIES: Final = MappingProxyType({protocol: _vocabulary(spec) for protocol, spec in PROMPTS.items()})


def _vocabulary_of(protocol: str) -> _Vocabulary:
    if protocol not in _VOCABULARIES:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {sorted(_VOCABULARIES)}")
    return _VOCABULARIES[protocol]


def extract_choice(answer_text: str, protocol: str) -> str | None:
    """The key of the one option ``answer_text`` names (``"yes"``, ``"A"``, ...), or None (see module doc).

    One regex search per option and one for negations: linear in the text whatever it repeats.
    """
    vocabulary = _vocabulary_of(protocol)
    lone = _LONE_CHARACTER.fullmatch(answer_text)
    if lone is not None:
        letter = lone[1].upper()
        return letter if letter in vocabulary.letters else None
    if vocabulary.negation.search(answer_text) or _CONTRACTED_NOT.search(answer_text):
        return None
    named = [key for key, pattern in vocabulary.options if pattern.search(answer_text)]
    return named[0] if len(named) == 1 else None
