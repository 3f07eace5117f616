"""The one Registry type behind losses, encoders and datasets: lookup errors that list the
names, aliases, refusing a taken name, temporary registration that restores the registry."""

import dataclasses

import pytest

from corel_jax.data import DATASETS, DatasetSpec
from corel_jax.errors import ConfigError
from corel_jax.loss_spec import LOSSES, LossSpec
from corel_jax.models import ENCODERS, EncoderSpec
from corel_jax.registry import Registry


@dataclasses.dataclass(frozen=True)
class Spec:
    name: str
    aliases: tuple[str, ...] = ()


def _key(name):
    return name.strip().lower().replace("-", "_")


@pytest.fixture
def reg():
    r = Registry("widget", Spec, key=_key)
    r.register(Spec("alpha", aliases=("a", "first")))
    r.register(Spec("beta_two"))
    return r


def test_lookup_by_name_alias_and_spelling(reg):
    assert reg.get("alpha").name == "alpha"
    assert reg.get("First") is reg.get("alpha")  # an alias, any case
    assert reg.resolve("Beta-Two") == "beta_two"
    assert reg.names() == ("alpha", "beta_two") and list(reg) == ["alpha", "beta_two"]
    assert "a" in reg and "gamma" not in reg and 3 not in reg and len(reg) == 2
    spec = Spec("unregistered")
    assert reg.get(spec) is spec  # a spec stands for itself


def test_unknown_name_lists_the_registered_ones(reg):
    with pytest.raises(ConfigError, match=r"^unknown widget 'gamma'; the registered widgets "
                                          r"are alpha, beta_two$"):
        reg.get("gamma")
    with pytest.raises(ConfigError, match="unknown widget None"):
        reg.resolve(None)


def test_a_taken_name_is_refused_unless_replace(reg):
    first = reg.get("alpha")
    with pytest.raises(ConfigError, match="a widget named 'alpha' is registered already"):
        reg.register(Spec("alpha"))
    assert reg.get("alpha") is first
    assert reg.register(first) is first  # the same spec again: nothing changes
    new = reg.register(Spec("alpha", aliases=("new",)), replace=True)
    assert reg.get("alpha") is new and reg.get("new") is new
    assert "first" not in reg  # the replaced spec's aliases went with it
    # a name or alias that means another spec is never taken over
    with pytest.raises(ConfigError, match="already means the widget 'alpha'"):
        reg.register(Spec("gamma", aliases=("new",)))
    with pytest.raises(ConfigError, match="already means the widget 'beta_two'"):
        reg.register(Spec("Beta-Two"), replace=True)
    with pytest.raises(TypeError, match="registered as Spec objects"):
        reg.register("gamma")
    with pytest.raises(ConfigError, match="non-empty name"):
        reg.register(Spec(""))
    assert reg.names() == ("alpha", "beta_two")


def test_temporary_registration_restores_the_registry(reg):
    before = {n: reg.get(n) for n in reg.names()}
    with reg.temporary(Spec("gamma", aliases=("g",))) as spec:
        assert reg.get("g") is spec and reg.names() == ("alpha", "beta_two", "gamma")
        reg.register(Spec("delta"))  # whatever the block adds goes too
    assert reg.names() == ("alpha", "beta_two") and "g" not in reg
    with pytest.raises(ConfigError, match="registered already"):
        with reg.temporary(Spec("alpha")):
            pass
    replacement = Spec("alpha")
    with pytest.raises(RuntimeError, match="boom"):
        with reg.temporary(replacement, replace=True):
            assert reg.get("alpha") is replacement and "a" not in reg
            raise RuntimeError("boom")
    assert {n: reg.get(n) for n in reg.names()} == before and reg.get("a") is before["alpha"]


def test_restored_undoes_whatever_the_block_registered_or_replaced(reg):
    before = {n: reg.get(n) for n in reg.names()}
    with pytest.raises(RuntimeError, match="boom"):
        with reg.restored():
            reg.register(Spec("gamma", aliases=("g",)))
            reg.register(Spec("alpha"), replace=True)
            assert reg.get("alpha") is not before["alpha"] and "g" in reg
            raise RuntimeError("boom")
    assert {n: reg.get(n) for n in reg.names()} == before and reg.get("a") is before["alpha"]
    assert "g" not in reg


def test_the_three_registries_share_the_type_and_the_messages():
    for registry, spec_type in ((LOSSES, LossSpec), (ENCODERS, EncoderSpec),
                                (DATASETS, DatasetSpec)):
        assert isinstance(registry, Registry) and registry.spec_type is spec_type
    assert LOSSES.names()[:4] == ("cce", "center", "cosine", "gaussian")
    assert DATASETS.names()[:4] == ("mnist", "fashion_mnist", "digits", "ag_news")
    assert DATASETS.resolve("Fashion-MNIST") == DATASETS.resolve("fashion") == "fashion_mnist"
    assert DATASETS.resolve("ag_news_subset") == "ag_news"
    with pytest.raises(ConfigError, match="unknown loss 'softmax'; the registered losses are "
                                          "cce, center, cosine, gaussian"):
        LOSSES.get("softmax")
    with pytest.raises(ConfigError, match="unknown dataset 'cifar'; the registered datasets "
                                          "are mnist, fashion_mnist, digits, ag_news"):
        DATASETS.get("cifar")
    with pytest.raises(ConfigError, match="a loss named 'cosine' is registered already"):
        LOSSES.register(dataclasses.replace(LOSSES.get("cosine")))
    with pytest.raises(ConfigError, match="already means the dataset 'fashion_mnist'"):
        DATASETS.register(DatasetSpec("fmnist", DATASETS.get("mnist").load,
                                      aliases=("Fashion",)))
