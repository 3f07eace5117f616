"""The whole path a user takes: `corel-jax train` per loss, then `corel-jax report`."""

import csv

import matplotlib.image as mpimg
import numpy as np

from corel_jax.cli import main

TRAIN = ["--dataset", "digits", "--model", "mlp", "--seeds", "2", "--lams", "0.5,0.9",
         "--epochs", "2", "--width", "32", "--batch-size", "64", "--quiet"]


def test_train_then_report(tmp_path, capsys):
    for loss in ("cce", "gaussian"):
        assert main(["train", *TRAIN, "--loss", loss, "--out", str(tmp_path / loss)]) == 0
    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "cce"), str(tmp_path / "gaussian"), "--out",
                 str(out), "-q"]) == 0
    text = (out / "report.md").read_text()
    assert "digits-mlp" in text and "gaussian" in text and "cce" in text
    with open(out / "table2_accuracy.csv") as f:
        rows = list(csv.reader(f))
    assert len(rows) >= 3  # header + one row per loss
    for png in out.glob("*.png"):
        img = mpimg.imread(png)
        assert img.shape[0] > 100 and img.shape[1] > 100
        assert len(np.unique(img.reshape(-1, img.shape[-1]), axis=0)) > 10, png
    assert len(list(out.glob("*.png"))) >= 3
