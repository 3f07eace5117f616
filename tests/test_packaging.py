"""Packaging: the light import path of the losses, the single version source, LICENSE and
CITATION.cff."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import corel_jax

ROOT = Path(__file__).resolve().parents[1]

#: What the full install brings and the losses must not need (import names).
HEAVY = ("flax", "optax", "chex", "orbax", "sklearn", "matplotlib", "tqdm", "tensorflow",
         "tensorflow_datasets", "torch")


def test_losses_and_similarity_import_only_jax():
    """``import corel_jax.losses`` (and ``.similarity``) and every loss work with the heavy
    packages unimportable: a finder refuses them and records each attempt, so a guarded
    ``try: import flax`` cannot hide one either. This is what a ``pip install jax`` +
    ``pip install --no-deps corel-jax`` user has."""
    code = textwrap.dedent(
        f"""
        import sys

        HEAVY = {HEAVY!r}
        tried = []

        class Refuse:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in HEAVY:
                    tried.append(name)
                    raise ImportError(f"{{name}} refused by the test")
                return None

        sys.meta_path.insert(0, Refuse())

        import jax
        import jax.numpy as jnp
        import corel_jax.losses as L
        import corel_jax.similarity as S

        h = jnp.arange(12.0).reshape(4, 3) / 10
        W = jnp.eye(3)
        y = jnp.array([0, 1, 2, 0])
        L.check_labels(y, 3)
        losses = [L.cce(h, W, y), L.cosine_corel(h, W, y, lam=0.3),
                  L.gaussian_corel(h, W, y, lam=0.5, gamma=0.5), L.center_loss(h, W, y),
                  L.attractive_repulsive(S.dot(h, W), y, lam=0.5)]
        assert all(loss.shape == (4,) and bool(jnp.isfinite(loss).all()) for loss in losses)
        g = jax.jit(jax.grad(lambda W: L.gaussian_corel(h, W, y).mean()))(W)
        assert g.shape == W.shape
        L.update_centers(W, h, y)
        L.predict(S.cosine(h, W))
        print("TRIED", sorted(set(tried)))
        print("HEAVY", sorted(m for m in sys.modules if m.split(".")[0] in HEAVY))
        print("COREL", sorted(m for m in sys.modules if m.split(".")[0] == "corel_jax"))
        """
    )
    # without the tests' compilation cache: JAX reads it through etils.epath, which tries
    # tensorflow (for its gfile backend)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr
    assert "TRIED []" in out.stdout, out.stdout
    assert "HEAVY []" in out.stdout, out.stdout
    corel = re.search(r"^COREL (.*)$", out.stdout, flags=re.M).group(1)
    for sub in ("train", "models", "data", "evaluate", "rundir", "cli"):
        assert f"'corel_jax.{sub}" not in corel, corel


def _pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_one_version_source():
    """The version is written once: corel_jax.__version__, which pyproject reads."""
    project = _pyproject()
    assert "version" not in project["project"], "pyproject.toml writes the version again"
    assert "version" in project["project"]["dynamic"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "corel_jax.__version__"
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?\w+)?", corel_jax.__version__)


def test_chex_is_a_test_dependency_only():
    project = _pyproject()["project"]
    assert not any(d.startswith("chex") for d in project["dependencies"])
    assert any(d.startswith("chex") for d in project["optional-dependencies"]["test"])
    used = [p for p in (ROOT / "corel_jax").rglob("*.py")
            if re.search(r"^\s*(import|from)\s+chex\b", p.read_text(), flags=re.M)]
    assert not used, f"corel_jax imports chex (a test-only dependency): {used}"


def test_license_is_apache_2():
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert "Copyright 2026 The corel-jax authors" in text
    assert _pyproject()["project"]["license"] == {"text": "Apache-2.0"}


def test_citation_cff_parses():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors", "type", "license"):
        assert cff[key], key
    assert cff["license"] == "Apache-2.0"
    if "version" in cff:  # not written today: one version source
        assert str(cff["version"]) == corel_jax.__version__
    paper = cff["preferred-citation"]
    assert paper["title"] == (
        "Clustering-Oriented Representation Learning with Attractive-Repulsive Loss")
    assert [a["family-names"] for a in paper["authors"]] == [
        "Kenyon-Dean", "Cianflone", "Page-Caccia", "Rabusseau", "Cheung", "Precup"]
    assert paper["year"] == 2019
    assert "1812.07627" in paper["url"]
