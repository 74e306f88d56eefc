import json

import pytest
import torch
from peft import LoraConfig, PeftConfig, PeftModel, get_peft_model

from flexpose_hf import FlexPoseGenerator, FlexPoseGeneratorConfig, TauConfig
from flexpose_hf.tuners.tau import TauLayer
from flexpose_hf.tuners.tau.model import mapping_linear_names

SMALL = FlexPoseGeneratorConfig(channels=[16, 16, 8], z_dim=8, w_dim=16, mapping_layers=2)


@pytest.fixture
def base(tmp_path):
    torch.manual_seed(0)
    g = FlexPoseGenerator(SMALL)
    g.save_pretrained(tmp_path / "base")
    return FlexPoseGenerator.from_pretrained(tmp_path / "base")


def _perturb(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "tau_" in name:
                p.normal_(0, 0.2)


def test_identity_at_init_and_only_tau_trains(base):
    z = torch.randn(6, 8)
    before = base.generate_keypoints(z).detach()
    model = get_peft_model(base, TauConfig(layers=[0, 2], mapping=False))
    torch.testing.assert_close(model.generate_keypoints(z), before)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("tau_" in n for n in trainable)
    assert {n.split(".")[3] for n in trainable} == {"0", "2"}  # base_model.model.A.<l>...
    assert model.tau_regularization().item() == 0


@pytest.mark.parametrize("form", ["full", "lowrank", "diagonal"])
def test_tau_changes_styles_and_regularization_is_l1(base, form):
    model = get_peft_model(base, TauConfig(layers=[1], mapping=False, sparsity_weight=0.5, form=form, rank=3,
                                           offdiagonal_weight=3.0))
    _perturb(model)
    layer = model.base_model.model.A[1]
    assert isinstance(layer, TauLayer)
    linear, shift = layer.tau_linear("default"), layer.tau_shift["default"]
    n = layer.out_features
    assert linear.shape == ((n,) if form == "diagonal" else (n, n))
    trainable = {"full": n * n, "lowrank": 2 * 3 * n, "diagonal": n}[form] + n
    assert model.get_nb_trainable_parameters()[0] == trainable
    if form == "lowrank":
        assert torch.linalg.matrix_rank(linear.detach()) == 3
    # L1 with D's off-diagonal entries at 3x: |diag D| + 3 |offdiag D| + |b| (the diagonal form has no off-diagonal)
    off = linear.abs().sum() - (linear.diagonal().abs().sum() if linear.dim() == 2 else linear.abs().sum())
    diag = linear.abs().sum() - off
    torch.testing.assert_close(model.tau_regularization(), 0.5 * (diag + 3 * off + shift.abs().sum()))
    weights = model.tau_l1_weights()  # the proximal step's entry weights agree for the separable forms
    if form != "lowrank":
        weighted = sum((w * p.detach().abs()).sum() for p, w in zip(model.tau_parameters(), weights))
        torch.testing.assert_close(0.5 * weighted, model.tau_regularization().detach())
    w = torch.randn(3, 16)
    plain = layer.get_base_layer()(w)
    expected = (1 + linear) * plain + shift if form == "diagonal" else plain @ (torch.eye(n) + linear).T + shift
    torch.testing.assert_close(layer(w), expected)


def test_mapping_adds_the_mapping_networks_linear_layers(base):
    z = torch.randn(5, 8)
    source = base.generate_keypoints(z).detach()
    model = get_peft_model(base, TauConfig(layers=[0, 2]))
    assert set(model.peft_config["default"].target_modules) == {"A.0", "A.2", "f.net.1", "f.net.3"}
    torch.testing.assert_close(model.generate_keypoints(z), source)  # identity at init
    trainable = {n.removeprefix("base_model.model.").split(".tau_")[0] for n, p in model.named_parameters()
                 if p.requires_grad}
    assert trainable == {"A.0", "A.2", "f.net.1", "f.net.3"}
    n = 16  # w_dim: every mapping layer's output
    assert model.get_nb_trainable_parameters()[0] == 4 * (n * n + n)
    _perturb(model)
    layer = model.base_model.model.f.net[1]
    assert isinstance(layer, TauLayer)
    x = torch.randn(3, 8)
    expected = layer.get_base_layer()(x) @ (torch.eye(n) + layer.tau_linear("default")).T + layer.tau_shift["default"]
    torch.testing.assert_close(layer(x), expected)  # before the activation that follows it
    adapted = model.generate_keypoints(z).detach()
    with torch.no_grad():  # the mapping layers alone move the samples
        for name in ("A.0", "A.2"):
            target = model.base_model.model.get_submodule(name)
            target.tau_matrix["default"].zero_()
            target.tau_shift["default"].zero_()
    assert not torch.allclose(model.generate_keypoints(z).detach(), source)
    assert not torch.allclose(model.generate_keypoints(z).detach(), adapted)


def test_explicit_targets_and_older_adapters_stay_style_only(base, tmp_path):
    assert TauConfig().mapping is True and TauConfig(layers=[1]).mapping is True
    assert TauConfig(target_modules=["A.0"]).mapping is False
    with pytest.raises(TypeError, match="mapping must be true or false"):
        TauConfig(mapping="yes")
    model = get_peft_model(base, TauConfig(layers=[0, 1], mapping=False))
    _perturb(model)
    z = torch.randn(4, 8)
    adapted = model.generate_keypoints(z).detach()
    model.save_pretrained(tmp_path / "adapter", save_embedding_layers=False)
    config_path = tmp_path / "adapter" / "adapter_config.json"
    saved = json.loads(config_path.read_text())
    del saved["mapping"]  # as written before the option existed
    config_path.write_text(json.dumps(saved))
    loaded = PeftModel.from_pretrained(FlexPoseGenerator.from_pretrained(tmp_path / "base"), tmp_path / "adapter")
    assert loaded.peft_config["default"].mapping is False
    assert not any(isinstance(m, TauLayer) for m in loaded.base_model.model.f.modules())
    torch.testing.assert_close(loaded.generate_keypoints(z), adapted)


def test_mapping_beside_lora_on_the_same_layer(base):
    model = get_peft_model(base, LoraConfig(r=2, target_modules=["f.net.1"]))
    assert mapping_linear_names(model.base_model.model) == ["f.net.1", "f.net.3"]  # the wrapper, not its parts


def test_invalid_form_and_rank_are_refused():
    with pytest.raises(ValueError, match="form must be one of full, lowrank, diagonal"):
        TauConfig(form="banded")
    with pytest.raises(ValueError, match="rank must be an integer >= 1, got 0"):
        TauConfig(form="lowrank", rank=0)


def test_lowrank_starts_at_identity_and_trains(base):
    model = get_peft_model(base, TauConfig(layers=[0, 1], form="lowrank", rank=2))
    z = torch.randn(4, 8)
    with model.disable_adapter():
        source = model.generate_keypoints(z).detach()
    torch.testing.assert_close(model.generate_keypoints(z).detach(), source)
    model.generate_keypoints(z).sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert any("tau_up" in n and g.abs().sum() > 0 for n, g in grads.items())  # U = 0 still gets gradients


@pytest.mark.parametrize("form", ["full", "lowrank", "diagonal"])
def test_merge_unmerge_exact(base, form):
    model = get_peft_model(base, TauConfig(layers=[0, 1, 5], form=form))
    _perturb(model)
    z = torch.randn(5, 8)
    adapted = model.generate_keypoints(z).detach()
    with model.disable_adapter():
        source = model.generate_keypoints(z).detach()
    model.merge_adapter()
    torch.testing.assert_close(model.generate_keypoints(z).detach(), adapted, atol=1e-5, rtol=1e-5)
    model.unmerge_adapter()
    with model.disable_adapter():
        torch.testing.assert_close(model.generate_keypoints(z).detach(), source, atol=1e-5, rtol=1e-5)
    merged = model.merge_and_unload()
    assert isinstance(merged, FlexPoseGenerator) and isinstance(merged.A[0], torch.nn.Linear)
    torch.testing.assert_close(merged.generate_keypoints(z).detach(), adapted, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("form", ["full", "lowrank", "diagonal"])
def test_save_load_with_peft(base, tmp_path, form):
    model = get_peft_model(base, TauConfig(layers=[0, 1], form=form, offdiagonal_weight=1.5))
    _perturb(model)
    z = torch.randn(4, 8)
    adapted = model.generate_keypoints(z).detach()
    model.save_pretrained(tmp_path / "adapter", save_embedding_layers=False)
    cfg = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert cfg["peft_type"] == "TAU" and cfg["base_model_name_or_path"] == str(tmp_path / "base")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    assert isinstance(PeftConfig.from_pretrained(tmp_path / "adapter"), TauConfig) and cfg["form"] == form
    assert PeftConfig.from_pretrained(tmp_path / "adapter").offdiagonal_weight == cfg["offdiagonal_weight"] == 1.5
    fresh = FlexPoseGenerator.from_pretrained(tmp_path / "base")
    loaded = PeftModel.from_pretrained(fresh, tmp_path / "adapter")
    torch.testing.assert_close(loaded.generate_keypoints(z), adapted)
    assert loaded.sample(3, seed=0)["keypoints"].shape == (3, 16, 2)


def test_several_named_adapters(base):
    model = get_peft_model(base, TauConfig(layers=[0]), adapter_name="lsp")
    model.add_adapter("coco", TauConfig(layers=[0, 1], form="diagonal"))
    _perturb(model)
    z = torch.randn(4, 8)
    model.set_adapter("lsp")
    a = model.generate_keypoints(z).detach()
    model.set_adapter("coco")
    b = model.generate_keypoints(z).detach()
    assert not torch.allclose(a, b)
    assert set(model.peft_config) == {"lsp", "coco"}


def test_lora_baseline_targets_the_same_layers(base):
    model = get_peft_model(base, LoraConfig(r=2, target_modules=["A.0", "A.1"], init_lora_weights=True))
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)


def test_tau_on_a_generator_with_a_shape_model_stays_on_its_shapes_and_merges_exactly(base, tmp_path):
    """A shape model after the bottleneck is not an adapter target: tau moves the samples within the
    fitted shape directions, saves and loads with peft, and merges into the same outputs."""
    from flexpose_hf.poses import normalize_poses
    from flexpose_hf.training.shape_fit import with_shape_model

    rng = torch.Generator().manual_seed(1)
    poses = (torch.randn(16, 2, generator=rng) + torch.einsum("nk,kjd->njd", torch.randn(300, 4, generator=rng),
                                                              0.3 * torch.randn(4, 16, 2, generator=rng))).numpy()
    shaped, _ = with_shape_model(base, poses, variance=0.999)
    shaped.save_pretrained(tmp_path / "shaped")
    model = get_peft_model(FlexPoseGenerator.from_pretrained(tmp_path / "shaped"), TauConfig(layers=[0, 1]))
    assert not list(model.get_base_model().shape_model.parameters())  # fixed buffers: nothing to train there
    _perturb(model)
    z = torch.randn(32, 8)
    adapted = model.generate_keypoints(z).detach()
    with model.disable_adapter():
        assert not torch.allclose(model.generate_keypoints(z), adapted, atol=1e-3)
    mean, basis = shaped.shape_model.mean.double(), shaped.shape_model.basis.double()
    offsets = torch.from_numpy(normalize_poses(adapted.double().numpy())).flatten(1) - mean
    assert float((offsets - offsets @ basis.T @ basis).abs().max()) < 1e-4

    model.save_pretrained(tmp_path / "adapter", save_embedding_layers=False)
    loaded = PeftModel.from_pretrained(FlexPoseGenerator.from_pretrained(tmp_path / "shaped"), tmp_path / "adapter")
    torch.testing.assert_close(loaded.generate_keypoints(z).detach(), adapted)
    merged = loaded.merge_and_unload()
    assert merged.config.shape_components == shaped.config.shape_components
    torch.testing.assert_close(merged.generate_keypoints(z).detach(), adapted, atol=1e-5, rtol=1e-5)
