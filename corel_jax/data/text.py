"""Text preprocessing for AG News, following the paper's supplement.

Steps (:func:`tokenize`):

1. :func:`clean_text`: undo AG News' escaping (``#36;`` -> ``$``, ``quot;`` -> ``"``, HTML
   entities and tags, ``\\`` line breaks) -- done before punctuation goes, so ``#36;10`` is money.
2. Lower-case.
3. Numbers become tags: ``MONEY`` (a number right after ``$``), ``YEAR`` (four digits,
   1700-2200) or ``NUMBER`` (any other free-standing number, with ``.``/``,`` separators:
   ``1.35``, ``10,000``). Digits inside words (``mp3``, ``1990s``) stay as they are.
4. Punctuation other than ``$`` is removed: a possessive ``'s`` and apostrophes are dropped
   (``don't`` -> ``dont``), any other punctuation separates words (``jean-marie`` ->
   ``jean marie``). A ``$`` not followed by a number is its own token.
5. Optional lemmatisation (spaCy, or any ``list[str] -> list[str]`` callable) of the words.
6. Stop words (scikit-learn's ``ENGLISH_STOP_WORDS``) are removed.

>>> tokenize("$5 in 1999 and 42 apples!")
['MONEY', 'YEAR', 'NUMBER', 'apples']
"""

from __future__ import annotations

import dataclasses
import functools
import html
import re
from collections.abc import Callable, Iterable, Sequence

from corel_jax.errors import ConfigError

PAD, UNK = "<pad>", "<unk>"
MONEY, YEAR, NUMBER = "MONEY", "YEAR", "NUMBER"
NUMBER_TAGS = (MONEY, YEAR, NUMBER)
YEAR_RANGE = (1700, 2200)

Lemmatizer = Callable[[Sequence[str]], Sequence[str]]

_NUMERIC_ENTITY = re.compile(r"&?#(\d{1,7});")  # AG News: "#36;" for "&#36;" ($)
_NAMED_ENTITY = re.compile(r"&?\b(quot|amp|lt|gt|nbsp|apos);")  # AG News: " quot;" for "&quot;"
_TAG = re.compile(r"<[^<>]{0,200}>")
_MONEY = re.compile(r"\$\s?\d+(?:[.,]\d+)*")
_NUMBER = re.compile(r"(?<!\w)\d+(?:[.,]\d+)*(?!\w)")
_POSSESSIVE = re.compile(r"['’]s\b")
_APOSTROPHE = re.compile(r"['’`]")
_PUNCT = re.compile(r"[^\w\s$]|_")
_DOLLAR = re.compile(r"\$")


@dataclasses.dataclass(frozen=True)
class TextConfig:
    """How documents become fixed-length id sequences.

    Attributes:
      max_len: ids per document; longer documents are truncated, shorter ones padded with 0.
      min_count: a word enters the vocabulary when it occurs at least this often in the
        training split.
      max_vocab: keep at most this many words (most frequent first); None: no limit.
      remove_stop_words: drop scikit-learn's English stop words.
      lemmatize: False, True (spaCy; see :func:`spacy_lemmatizer`) or a callable
        ``list[str] -> list[str]`` applied to each document's words.
    """

    max_len: int = 64
    min_count: int = 1
    max_vocab: int | None = None
    remove_stop_words: bool = True
    lemmatize: bool | Lemmatizer = False

    def __post_init__(self) -> None:
        if self.max_len < 1:
            raise ConfigError(f"max_len must be >= 1; got {self.max_len}")
        if self.min_count < 1:
            raise ConfigError(f"min_count must be >= 1; got {self.min_count}")
        if self.max_vocab is not None and self.max_vocab < 1:
            raise ConfigError(f"max_vocab must be >= 1 or None; got {self.max_vocab}")

    def lemmatizer(self) -> Lemmatizer | None:
        """The lemmatizer to use, or None."""
        if callable(self.lemmatize):
            return self.lemmatize
        return spacy_lemmatizer() if self.lemmatize else None


@functools.cache
def stop_words() -> frozenset[str]:
    """scikit-learn's English stop words (318 words, lower-case, no apostrophes)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def clean_text(text: str) -> str:
    """Undo AG News' escaping: ``#36;`` / ``&#36;`` -> ``$``, ``quot;`` -> ``"``, entities,
    ``<b>`` tags and ``\\`` (line breaks; ``\\$`` is ``$``).

    >>> clean_text(r"the #36;10 prize, quot;hi quot; A\\B")
    'the $10 prize, "hi " A B'
    """
    text = _NUMERIC_ENTITY.sub(lambda m: _chr(int(m[1])), text)
    text = _NAMED_ENTITY.sub(lambda m: html.unescape(f"&{m[1]};"), text)
    text = _TAG.sub(" ", html.unescape(text))
    return text.replace("\\$", "$").replace("\\", " ")


def _chr(code: int) -> str:
    return chr(code) if code < 0x110000 else " "


def _number_tag(match: re.Match) -> str:
    digits = match[0]
    if len(digits) == 4 and digits.isdigit() and YEAR_RANGE[0] <= int(digits) <= YEAR_RANGE[1]:
        return f" {YEAR} "
    return f" {NUMBER} "


def tokenize(
    text: str, *, remove_stop_words: bool = True, lemmatizer: Lemmatizer | None = None
) -> list[str]:
    """One document -> its list of tokens (see the module docstring for the rules).

    >>> tokenize("Vivendi's CEO was fined $1.35 million in 2004; 3,000 jobs, 1650 mp3 files.")
    ['vivendi', 'ceo', 'fined', 'MONEY', 'million', 'YEAR', 'NUMBER', 'jobs', 'NUMBER', 'mp3', \
'files']
    """
    text = clean_text(text).lower()
    text = _MONEY.sub(f" {MONEY} ", text)
    text = _NUMBER.sub(_number_tag, text)
    text = _POSSESSIVE.sub("", text)
    text = _APOSTROPHE.sub("", text)
    text = _PUNCT.sub(" ", text)
    tokens = _DOLLAR.sub(" $ ", text).split()
    if lemmatizer is not None:
        tokens = _lemmatize_words(tokens, lemmatizer)
    if remove_stop_words:
        stops = stop_words()
        tokens = [t for t in tokens if t not in stops]
    return tokens


def _lemmatize_words(tokens: list[str], lemmatizer: Lemmatizer) -> list[str]:
    """Lemmatise the words, leaving number tags and ``$`` alone."""
    where = [i for i, t in enumerate(tokens) if t not in NUMBER_TAGS and t != "$"]
    if not where:
        return tokens
    lemmas = list(lemmatizer([tokens[i] for i in where]))
    if len(lemmas) != len(where):
        raise ValueError(f"lemmatizer returned {len(lemmas)} lemmas for {len(where)} words")
    out = list(tokens)
    for i, lemma in zip(where, lemmas):
        out[i] = lemma.lower() or tokens[i]
    return out


def tokenize_corpus(texts: Iterable[str], config: TextConfig = TextConfig()) -> list[list[str]]:
    """:func:`tokenize` every document with ``config``'s stop-word and lemmatiser options."""
    lemmatizer = config.lemmatizer()
    return [
        tokenize(t, remove_stop_words=config.remove_stop_words, lemmatizer=lemmatizer)
        for t in texts
    ]


@functools.cache
def spacy_lemmatizer(model: str = "en_core_web_sm") -> Lemmatizer:
    """A spaCy lemmatiser over pre-split words (spaCy is optional; imported here).

    Uses the pipeline ``model`` when installed (tagger + rule lemmatiser), else a blank English
    pipeline with the lookup lemmatiser (needs ``spacy-lookups-data``).

    Raises:
      ConfigError: spaCy (or any lemmatiser data) is not installed; the message says what to
        install.
    """
    try:
        import spacy
        from spacy.tokens import Doc
    except ImportError as e:
        raise ConfigError(
            f"lemmatize=True needs spaCy ({e}): pip install spacy spacy-lookups-data, or "
            f"pip install spacy and python -m spacy download {model}"
        ) from e
    try:
        nlp = spacy.load(model, exclude=["parser", "ner", "textcat"])
    except OSError:
        try:
            nlp = spacy.blank("en")
            nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
            nlp.initialize()
        except Exception as e:  # spaCy raises ValueError/KeyError/OSError for missing tables
            raise ConfigError(
                f"spaCy has neither the {model!r} pipeline nor lookup tables ({e}): pip install "
                f"spacy-lookups-data, or python -m spacy download {model}"
            ) from e

    def lemmatize(words: Sequence[str]) -> list[str]:
        doc = Doc(nlp.vocab, words=list(words))
        for _, component in nlp.pipeline:
            doc = component(doc)
        return [t.lemma_ or t.text for t in doc]

    return lemmatize
