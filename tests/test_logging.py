"""Library messages are :mod:`logging` records of the ``corel_jax`` loggers (the library adds
no handler, so from Python nothing is printed unless logging is configured); ``corel-jax``
prints them on stdout exactly as before they were logged."""

import logging
import re

from corel_jax.cli import main
from corel_jax.train import SweepConfig, train_sweep
from corel_jax.train.merge import merge

#: one tiny sweep (one compile, shared through the tests' compilation cache)
CFG = dict(dataset="digits", model="mlp", loss="cce", seeds=(0, 1), epochs=1, width=16,
           batch_size=256)
ARGS = ["train", "--dataset", "digits", "--model", "mlp", "--loss", "cce", "--seeds", "2",
        "--epochs", "1", "--width", "16", "--batch-size", "256", "--quiet"]


def _records(caplog, name):
    return [r for r in caplog.records if r.name == name]


def test_train_sweep_messages_are_log_records(digits, tmp_path, caplog, capsys):
    out = tmp_path / "run"
    with caplog.at_level(logging.INFO, logger="corel_jax"):
        train_sweep(SweepConfig(**CFG), dataset=digits, out_dir=out, progress=False)
        train_sweep(SweepConfig(**CFG), dataset=digits, out_dir=out, progress=False,
                    overwrite=True)
    records = _records(caplog, "corel_jax.train.sweep")
    messages = [r.getMessage() for r in records]
    assert all(r.levelno == logging.INFO for r in records)
    assert messages[0].startswith("memory estimate: ") and "for 2 runs" in messages[0]
    assert f"replacing the finished sweep in {out}" in messages
    assert capsys.readouterr() == ("", "")  # logged, not printed


def test_train_sweep_prints_nothing_unless_logging_is_configured(digits, capsys):
    train_sweep(SweepConfig(**CFG), dataset=digits, progress=False)
    assert capsys.readouterr() == ("", "")
    messages: list[str] = []  # a callable of one string still takes them
    train_sweep(SweepConfig(**CFG), dataset=digits, progress=False, log=messages.append)
    assert messages and messages[0].startswith("memory estimate: ")


def test_merge_messages_are_log_records(digits, tmp_path, caplog):
    shards = []
    for i in range(2):
        shards.append(tmp_path / f"s{i}")
        train_sweep(SweepConfig(**CFG, shard=(i, 2)), dataset=digits, out_dir=shards[-1],
                    progress=False, log=None)
    with caplog.at_level(logging.INFO, logger="corel_jax"):
        merge(shards, tmp_path / "merged")
        merge(shards, tmp_path / "merged", overwrite=True)
    messages = [r.getMessage() for r in _records(caplog, "corel_jax.train.merge")]
    assert messages == [f"merged 2 shards (2 runs) into {tmp_path / 'merged'}",
                        f"replacing the finished sweep in {tmp_path / 'merged'}",
                        f"merged 2 shards (2 runs) into {tmp_path / 'merged'}"]


def _pattern(text: str) -> str:
    """``text`` with every number a wildcard (memory, budget and seconds vary)."""
    return "".join(r"[0-9.]+" if re.fullmatch(r"[0-9.]+", p) else re.escape(p)
                   for p in re.split(r"([0-9][0-9.]*)", text))


def test_cli_output_is_unchanged(tmp_path, capsys, caplog):
    """``corel-jax train`` twice (the second replacing the first): stdout is the text the
    command printed before its messages were logged, stderr empty; no record reaches the root
    logger (a user's logging configuration would show each line twice); the ``corel_jax``
    logger is as it was."""
    out = tmp_path / "run"
    before = logging.getLogger("corel_jax").level, logging.getLogger("corel_jax").propagate
    with caplog.at_level(logging.INFO):
        assert main([*ARGS, "--out", str(out)]) == 0
        assert main([*ARGS, "--out", str(out), "--overwrite"]) == 0
    stdout, stderr = capsys.readouterr()
    assert stderr == ""
    run = (
        "memory estimate: 0.00 GiB for 2 runs (0.00 GiB data + 1.5 MiB per run); budget 8.41 "
        "GiB; host memory for the results 0.00 GiB of 16.83 GiB available\n"
        "  lambda  runs  diverged          val acc         test acc\n"
        "   0.500     2         0    12.81 ±  2.79    13.51 ±  2.09\n"
        f"wrote {out} (2 runs; compile 2.2s, first epoch 0.1s, train 0.1s, total 5.8s)\n")
    expected = run + f"replacing the finished sweep in {out}\n" + run
    assert re.fullmatch(_pattern(expected), stdout), stdout
    assert not [r for r in caplog.records if r.name.startswith("corel_jax")]
    assert (logging.getLogger("corel_jax").level,
            logging.getLogger("corel_jax").propagate) == before

