"""The step registry, config validation, calibration checks and missing-extra hints."""

from __future__ import annotations

import importlib
import sys

import pytest
import torch
from shrink_helpers import MLP, make

from ratecraft.errors import BadInputError, MissingExtraError
from ratecraft.shrink import Calibration, Step, available_steps, get_step, register_step
from ratecraft.shrink.steps import model_bytes

BUILTIN = {
    "int8-weight", "int8-dynamic", "intx-weight", "int4-weight", "int2-weight", "quanto",
    "prune-magnitude", "prune-wanda", "prune-sparsegpt", "prune-structured", "distill", "lora",
    "round-fp16",
}  # fmt: skip


def test_every_builtin_step_is_registered():
    assert set(available_steps()) >= BUILTIN


def test_unknown_step_is_bad_input():
    with pytest.raises(BadInputError, match="unknown shrink step"):
        get_step("int7-magic")


def test_unknown_config_key_is_refused_in_one_line():
    with pytest.raises(BadInputError, match="sparsty") as err:
        get_step("prune-magnitude").parse({"sparsty": 0.5})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("value", [-0.1, 1.0, "lots"])
def test_out_of_range_config_is_refused(value):
    with pytest.raises(BadInputError):
        get_step("prune-magnitude").parse({"sparsity": value})


def test_bad_nm_pattern_is_refused():
    with pytest.raises(BadInputError, match="pattern"):
        get_step("prune-magnitude").parse({"pattern": "4:2"})


def test_duplicate_registration_is_an_error():
    cls = type(get_step("int8-weight"))
    with pytest.raises(ValueError, match="already registered"):
        register_step("int8-weight")(type("Other", (cls,), {}))


def test_calibration_needed_and_targets_needed():
    with pytest.raises(BadInputError, match="needs calibration"):
        get_step("prune-wanda")(make(MLP), {})
    calib = Calibration.from_tensors(torch.randn(8, 64))
    with pytest.raises(BadInputError, match="finetune_steps needs"):
        get_step("prune-magnitude")(make(MLP), {"finetune_steps": 2}, calib)


def test_calibration_validates_its_batches():
    with pytest.raises(BadInputError):
        Calibration(inputs=[])
    with pytest.raises(BadInputError):
        Calibration.from_tensors(torch.randn(8, 4), torch.zeros(7))
    calib = Calibration.from_tensors(torch.randn(10, 4), batch_size=4)
    assert [b.shape[0] for b in calib.inputs] == [4, 4, 2]
    assert calib.nbytes() == 10 * 4 * 4


@pytest.mark.parametrize(
    ("step", "module"),
    [("int8-weight", "torchao"), ("quanto", "optimum.quanto"), ("lora", "peft"),
     ("prune-structured", "torch_pruning")],
)  # fmt: skip
def test_missing_library_gives_the_install_hint(monkeypatch, step, module):
    real = importlib.import_module

    def fail(name, *args, **kwargs):
        if name == module or name.startswith(module + "."):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", fail)
    x = torch.randn(16, 64)
    with pytest.raises(MissingExtraError, match=r'pip install "ratecraft\[shrink\]"'):
        get_step(step)(make(MLP), {}, Calibration.from_tensors(x, torch.zeros(16).long()))


def test_missing_module_in_sys_modules_gives_the_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchao", None)  # import torchao now raises ImportError
    with pytest.raises(MissingExtraError) as err:
        get_step("int4-weight")(make(MLP))
    assert err.value.extra == "shrink"


def test_a_new_step_plugs_in():
    @register_step("test-halve-weights")
    class Halve(Step):
        def apply(self, model, config, calib):
            with torch.no_grad():
                for p in model.parameters():
                    p.mul_(0.5)
            return model

    model = make(MLP)
    before = model[0].weight.detach().clone()
    get_step("test-halve-weights")(model)
    assert torch.equal(model[0].weight, before * 0.5)
    assert model_bytes(model) == sum(p.numel() * 4 for p in model.parameters())
