"""`corel-jax demo` (the README's run command), shortened: every loss trains, the table is
printed and written, and each loss gets a run directory the report command can read."""

from corel_jax import rundir
from corel_jax.cli import main


def test_demo_short(tmp_path, capsys):
    assert main(["demo", "--seeds", "2", "--epochs", "3", "--out", str(tmp_path),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    table = (tmp_path / "demo.md").read_text()
    assert table.strip() in out
    for loss in ("cce", "center", "cosine", "gaussian"):
        assert f"| {loss} |" in table
        runs = rundir.load_runs(tmp_path / loss)
        assert len(runs) == 2
        # 3 epochs on digits already beat chance (10 %) by far
        assert min(r["test_acc"] for r in runs) > 0.5, (loss, runs)
    assert "corel-jax report" in out
