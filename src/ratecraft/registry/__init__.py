"""The model registry: named, versioned, aliased codecs with model cards, the shipped zoo, and
moving models in and out (export, pull).

    from ratecraft.registry import Registry, load_model

    reg = Registry()                                   # $RATECRAFT_HOME or ~/.ratecraft
    reg = open_registry("mlflow:sqlite:///mlflow.db")  # or MLflow's model registry
    v = reg.register("lfp-model/", "probe32", card=card, aliases=("staging",))
    reg.promote("probe32@1", "production")
    codec = load_model("probe32@production")           # or a folder, or "zoo:probe-32ch-30k"
"""

from ratecraft.registry.backends import open_registry
from ratecraft.registry.card import build_card, card_markdown
from ratecraft.registry.names import ModelRef, check_alias, check_name, parse_ref
from ratecraft.registry.protocol import Event, ModelRegistry, VersionInfo
from ratecraft.registry.resolve import load_model, model_for_container
from ratecraft.registry.store import Registry, default_home
from ratecraft.registry.zoo import load_zoo, zoo_card, zoo_models

__all__ = [
    "Event",
    "ModelRef",
    "ModelRegistry",
    "Registry",
    "VersionInfo",
    "build_card",
    "card_markdown",
    "check_alias",
    "check_name",
    "default_home",
    "load_model",
    "load_zoo",
    "model_for_container",
    "open_registry",
    "parse_ref",
    "zoo_card",
    "zoo_models",
]
