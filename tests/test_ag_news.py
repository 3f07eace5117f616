"""AG News end to end: a 200-document corpus in AG News's CSV format, a GloVe-format vector
file, `corel-jax train` (FFNN and 1-D CNN, seeds × λ in one program), then `corel-jax report`.

The corpus is generated: each topic has its own words, whose vectors cluster around a topic
direction, mixed with shared filler words, numbers and out-of-vocabulary words. A model that
reads the words learns it well within a few epochs; one that ignores them stays at chance (25%).
"""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from corel_jax import rundir
from corel_jax.cli import main

TOPICS = {
    1: "iraq baghdad troops minister election embassy ceasefire rebels".split(),
    2: "yankees soccer playoff coach quarterback tournament medal league".split(),
    3: "stocks profit shares earnings investors merger quarterly bank".split(),
    4: "software chip internet microsoft wireless processor browser linux".split(),
}
FILLER = "said new year week monday report officials people".split()
OOV = "zorblat quixil wembo fradge".split()  # no vectors: they become <unk>


def _doc(rng, c: int) -> tuple[str, str, str]:
    words = list(rng.choice(TOPICS[c], 4)) + list(rng.choice(FILLER, 3)) + [rng.choice(OOV)]
    rng.shuffle(words)
    title = " ".join(words[:3]).title()
    desc = " ".join(words[3:]) + f", {rng.integers(2, 99)} times in {rng.integers(1990, 2010)}."
    return str(c), title, desc


def write_corpus(root: Path, n_pool: int = 200, n_test: int = 80) -> Path:
    rng = np.random.default_rng(0)
    d = root / "ag_news"
    d.mkdir(parents=True)
    for name, n in (("train.csv", n_pool), ("test.csv", n_test)):
        with open(d / name, "w", newline="") as f:
            csv.writer(f, quoting=csv.QUOTE_ALL).writerows(
                _doc(rng, int(c)) for c in rng.integers(1, 5, n))
    # 10-d vectors: topic words near their topic's direction, filler words anywhere
    dirs = rng.normal(size=(5, 10))
    lines = [f"{w} " + " ".join(f"{v:.4f}" for v in dirs[c] + 0.3 * rng.normal(size=10))
             for c, ws in TOPICS.items() for w in ws]
    lines += [f"{w} " + " ".join(f"{v:.4f}" for v in rng.normal(size=10)) for w in FILLER]
    (root / "glove.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("ag"))


@pytest.mark.parametrize("model,loss,epochs,floor", [
    ("text_mlp", "gaussian", 12, 0.8),
    ("text_cnn", "cosine", 8, 0.6),
])
def test_sweep_on_200_documents(corpus, tmp_path, model, loss, epochs, floor):
    out = tmp_path / "run"
    code = main(["train", "--dataset", "ag_news", "--model", model, "--loss", loss,
                 "--seeds", "2", "--lams", "0.5,0.9", "--epochs", str(epochs),
                 "--batch-size", "16", "--width", "32", "--max-len", "12", "--val-size", "40",
                 "--data-dir", str(corpus), "--embeddings", str(corpus / "glove.txt"),
                 "--out", str(out), "--quiet"])
    assert code == 0
    config = rundir.load_config(out)
    assert config["dataset"] == "ag_news" and config["model"] == model
    assert config["dataset_options"] == {"embeddings": str(corpus / "glove.txt"), "max_len": 12}
    runs = json.loads((out / rundir.RUNS_JSON).read_text())
    assert len(runs) == 4 and {(r["seed"], r["lam"]) for r in runs} == {
        (0, 0.5), (1, 0.5), (0, 0.9), (1, 0.9)}
    best = max(r["test_acc"] for r in runs)
    assert best >= floor, f"{model}: best test accuracy {best:.3f} on a learnable corpus"
    h = np.load(out / "runs" / "r000" / "test_h.npy")
    assert h.shape == (80, 32) and np.isfinite(h).all()

    report = tmp_path / "report"
    assert main(["report", str(out), "--out", str(report)]) == 0
    assert "ag_news" in (report / "report.md").read_text()


def test_learned_embeddings_flag(corpus, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "ag_news", "--model", "text_mlp", "--loss", "cce",
                 "--epochs", "2", "--batch-size", "16", "--width", "16", "--val-size", "40",
                 "--data-dir", str(corpus), "--embeddings", "none", "--learned-embeddings",
                 "--out", str(out), "--quiet"]) == 0
    assert rundir.load_config(out)["dataset_options"] == {"embeddings": "none", "learned": True}


def test_text_flags_with_an_image_dataset_are_an_error(capsys):
    code = main(["train", "--dataset", "digits", "--embeddings", "glove.txt", "--out", "x"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "--embeddings" in err and "--dataset ag_news" in err


@pytest.mark.parametrize("embeddings", ["glove", "none"])
def test_learned_embeddings_start_from_the_datasets_table(corpus, embeddings):
    """A learned embedding's initial value is the dataset's table (GloVe or the seeded random
    one), padding row zero; it is not Flax's random init."""
    import jax

    from corel_jax.train import SweepConfig
    from corel_jax.train.engine import make_program
    from corel_jax.train.sweep import build_encoder, load_data

    opts = {"learned": True}
    if embeddings == "none":
        opts["embeddings"] = None
    else:
        opts["embeddings"] = str(corpus / "glove.txt")
    cfg = SweepConfig(dataset="ag_news", model="text_cnn", loss="cce", data_dir=str(corpus),
                      epochs=1, batch_size=16, width=16, val_size=40,
                      dataset_options=tuple(opts.items()))
    ds = load_data(cfg)
    assert ds.info["frozen"] is False
    program = make_program(cfg, build_encoder(cfg, ds), ds.num_classes, ds.x_train[:1])
    state = program.init(jax.random.key(3), program.default_hparams)
    table = np.asarray(state.params["params"]["encoder"]["embed"]["embedding"]["embedding"])
    expected = np.array(ds.embeddings, np.float32)
    expected[0] = 0
    np.testing.assert_array_equal(table, expected)
