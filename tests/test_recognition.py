"""The shared recognizer: arcface_torch layout, combined margins, input contract, data formats, protocols."""
import json
import pickle

import numpy as np
import pytest
import torch

from frontalize.data.template import ARCFACE_112, template_points
from frontalize.recognition import data as rdata
from frontalize.recognition.verification import load_pairs_bin, ten_fold_accuracy, verify_bin, write_pairs_bin
from frontalize.recognition.iresnet import get_backbone, load_backbone_weights
from frontalize.recognition.margin import PRESETS, CombinedMarginHead, margin_target
from frontalize.recognition.recognizer import Recognizer, template_to_arcface


def test_arcface_torch_state_dict_layout_is_pinned():
    sd = get_backbone("r50").state_dict()
    assert len(sd) == 475 and len(get_backbone("r100").state_dict()) == 925
    expected = {
        "conv1.weight": (64, 3, 3, 3), "bn1.running_var": (64,), "prelu.weight": (64,),
        "layer1.0.bn1.weight": (64,), "layer1.0.conv1.weight": (64, 64, 3, 3), "layer1.0.prelu.weight": (64,),
        "layer1.0.downsample.0.weight": (64, 64, 1, 1), "layer1.0.downsample.1.running_mean": (64,),
        "layer3.13.conv2.weight": (256, 256, 3, 3), "layer4.2.bn3.bias": (512,),
        "bn2.weight": (512,), "fc.weight": (512, 512 * 7 * 7), "fc.bias": (512,), "features.running_mean": (512,),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    assert "layer2.1.downsample.0.weight" not in sd  # only the first block of a stage downsamples


def test_backbone_pth_loads_strictly(tmp_path):
    src = get_backbone("r18")
    torch.save(src.state_dict(), tmp_path / "backbone.pth")
    dst = get_backbone("r18")
    load_backbone_weights(dst, tmp_path / "backbone.pth")
    assert torch.equal(dst.layer4[1].conv2.weight, src.layer4[1].conv2.weight)
    state = src.state_dict()
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(RuntimeError, match="extra.weight"):
        load_backbone_weights(get_backbone("r18"), tmp_path / "bad.pth")
    rec = Recognizer.load(tmp_path / "backbone.pth", arch="r18")
    assert rec.dim == 512
    with pytest.raises(ValueError, match="architecture"):
        Recognizer.load(tmp_path / "backbone.pth")
    with pytest.raises(FileNotFoundError, match="train_recognizer.py"):
        Recognizer.load(tmp_path / "missing.pth")


def test_combined_margin_keeps_every_margin():
    theta = torch.tensor([[1.0]])
    m1, m2, m3 = PRESETS["combined"]
    assert (m1, m2, m3) == (1.0, 0.3, 0.2)
    got = margin_target(torch.cos(theta), m1, m2, m3)
    assert got.item() == pytest.approx(np.cos(1.3) - 0.2, abs=1e-5)  # m2 is not dropped when m3 > 0
    assert margin_target(torch.cos(theta), *PRESETS["sphereface"]).item() == pytest.approx(np.cos(1.35), abs=1e-5)
    assert margin_target(torch.cos(theta), *PRESETS["cosface"]).item() == pytest.approx(np.cos(1.0) - 0.35, abs=1e-5)
    assert PRESETS["arcface"] == (1.0, 0.5, 0.0)


def test_margin_head_is_finite_at_the_edges():
    head = CombinedMarginHead(4, 3, PRESETS["combined"], scale=64)
    with torch.no_grad():
        head.weight.copy_(torch.eye(3, 4))
    # theta = 0 (embedding on its class), theta = pi (opposite), and theta where theta + m2 passes pi
    emb = torch.tensor([[1.0, 0, 0, 0], [-1.0, 0, 0, 0], [-0.99, 0.14, 0, 0]], requires_grad=True)
    labels = torch.tensor([0, 0, 0])
    logits = head(emb, labels)
    assert torch.isfinite(logits).all()
    torch.nn.functional.cross_entropy(logits, labels).backward()
    assert torch.isfinite(emb.grad).all() and torch.isfinite(head.weight.grad).all()
    cos = head.cosine(emb.detach())[:, 0]
    assert (logits[:, 0].detach() / 64 <= cos + 1e-6).all()  # the margin never raises the target logit
    assert logits[0, 1].item() == pytest.approx(0.0, abs=1e-5)  # other classes: s * cos


def test_recognizer_contract_frozen_normalised_gradient_to_input():
    rec = Recognizer(get_backbone("tiny"))
    rec.train()
    assert not rec.backbone.training and not any(p.requires_grad for p in rec.parameters())
    x = (torch.rand(2, 3, 128, 128) * 2 - 1).requires_grad_(True)
    e = rec(x)
    assert e.shape == (2, 128) and torch.allclose(e.norm(dim=1), torch.ones(2), atol=1e-5)
    e.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="RGB"):
        rec(torch.zeros(2, 1, 128, 128))


@pytest.mark.parametrize("size", [64, 128, 224])
def test_template_crop_maps_onto_the_arcface_template(size):
    img = torch.full((1, 3, size, size), -1.0)
    for x, y in template_points(size):
        xi, yi = int(round(x)), int(round(y))
        img[0, :, yi - 1 : yi + 2, xi - 1 : xi + 2] = 1.0
    out = template_to_arcface(img)[0, 0].numpy()
    for x, y in ARCFACE_112:
        xi, yi = int(round(x)), int(round(y))
        assert out[yi - 2 : yi + 3, xi - 2 : xi + 3].max() > 0.0, (x, y)
    np_out = rdata.template_crop_to_arcface(((img[0].permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8))
    assert np_out.shape == (112, 112, 3)


def test_recordio_round_trip(tmp_path):
    ramp = np.linspace(0, 200, 112)[None, :, None]
    items = [((ramp + 10 * k + np.zeros((112, 1, 3))).astype(np.uint8), label) for k, label in enumerate((7, 7, 3, 9))]
    rdata.write_recordio(tmp_path / "train.rec", tmp_path / "train.idx", items)
    ds = rdata.RecordIOFaces(tmp_path / "train.rec")
    assert len(ds) == 4 and ds.num_classes == 3
    assert [ds.labels[i] for i in range(4)] == [1, 1, 0, 2]  # classes 3, 7, 9 -> 0, 1, 2
    img, label = ds[2]
    assert img.shape == (3, 112, 112) and label == 0
    original = torch.from_numpy(items[2][0]).permute(2, 0, 1).float() / 127.5 - 1
    assert (img - original).abs().mean() < 0.03  # JPEG-encoded
    (tmp_path / "train.rec").write_bytes(b"\0" * 64)
    with pytest.raises(ValueError, match="magic"):
        rdata.RecordIOFaces(tmp_path / "train.rec")


def test_image_folder(tmp_path):
    import cv2

    for who in ("alice", "bob"):
        (tmp_path / who).mkdir()
        for k in range(2):
            cv2.imwrite(str(tmp_path / who / f"{k}.png"), np.full((100, 90, 3), 40 * k, np.uint8))
    (tmp_path / "notes.txt").write_text("x")
    ds = rdata.ImageFolderFaces(tmp_path)
    assert len(ds) == 4 and ds.num_classes == 2 and ds[3][0].shape == (3, 112, 112) and ds[3][1] == 1


def test_ten_fold_accuracy_and_bin_protocol(tmp_path):
    issame = np.array([True, False] * 50)
    dist = np.where(issame, 0.5, 1.5)
    assert ten_fold_accuracy(dist, issame)[0] == 1.0
    images, same = [], []
    rng = np.random.default_rng(1)
    for k in range(40):  # same pairs: one colour twice; different pairs: two far-apart colours
        a = rng.integers(0, 255, 3)
        b = a if k % 2 == 0 else (a + 128) % 256
        images += [np.full((112, 112, 3), a, np.uint8), np.full((112, 112, 3), b, np.uint8)]
        same.append(k % 2 == 0)
    write_pairs_bin(tmp_path / "toy.bin", images, same)
    bins, issame2 = load_pairs_bin(tmp_path / "toy.bin")
    assert len(bins) == 80 and issame2.tolist() == same

    class MeanColour:
        def embed(self, x, flip=False):
            return torch.nn.functional.normalize(x.mean(dim=(2, 3)) + 1.5, dim=1)

    res = verify_bin(MeanColour(), tmp_path / "toy.bin")
    assert res["accuracy"] > 0.9 and res["pairs"] == 40


def test_pair_file_loader_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (eval, ("1+1",))

    (tmp_path / "evil.bin").write_bytes(pickle.dumps(([Evil()], [True])))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_pairs_bin(tmp_path / "evil.bin")


def test_recognizer_trains_resumes_and_reports_rank1(prepared_tiny, tmp_path):
    from frontalize.recognition.config import load_recognizer_config
    from frontalize.recognition.train import train

    out, _ = prepared_tiny
    overrides = [f"data.prepared={out}", "data.size=64", "data.workers=0", "data.exclude_test_of=[setting1]",
                 "train.epochs=1", "train.batch_size=8", f"train.runs_dir={tmp_path}", "wandb.mode=disabled",
                 "eval.flip=false"]
    cfg = load_recognizer_config(None, overrides)
    final = train(cfg, progress=False)
    run = final.parent
    report = json.loads((run / "eval.json").read_text())
    assert set(report["rank1"]) == {"setting1", "session01"}
    assert {0, 15, 45, "all"} <= set(int(k) if k != "all" else k for k in report["rank1"]["setting1"])
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("train_accuracy" in line for line in lines)
    first_ckpt = sorted((run / "checkpoints").glob("step_*.pt"))
    cfg2 = load_recognizer_config(None, overrides[:-5] + ["train.epochs=2", "train.batch_size=8", f"train.runs_dir={tmp_path}",
                                                          "wandb.mode=disabled", "eval.flip=false"])
    train(cfg2, resume=True, progress=False)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 2 * int(first_ckpt[-1].stem.split("_")[1])  # continued from epoch 1, not restarted


def test_degrade_augmentation_softens_every_image_it_is_asked_to():
    import cv2
    import numpy as np

    from frontalize.recognition.data import default_augment

    board = np.kron((np.indices((16, 16)).sum(0) % 2) * 255, np.ones((8, 8))).astype(np.uint8)
    board = np.stack([board] * 3, -1)

    def detail(img):  # energy of the Laplacian: high for sharp edges
        return cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32), cv2.CV_32F).var()

    def ratios(degrade):
        aug = default_augment(degrade)
        out = []
        for seed in range(20):
            aug.set_random_seed(seed)
            out.append(detail(aug(image=board)["image"]) / detail(board))
        return np.array(out)

    assert ratios(1.0).max() < 0.15  # blur or area-downscale every time
    assert np.median(ratios(0.0)) > 0.25  # without it, only the affine's interpolation softens


def test_two_runs_with_one_seed_train_the_same_recognizer(prepared_tiny, tmp_path):
    """Augmentation runs in two loader workers: a sample's seed, not the worker's random state, decides it."""
    from frontalize.recognition.config import load_recognizer_config
    from frontalize.recognition.train import train

    out, _ = prepared_tiny
    common = [f"data.prepared={out}", "data.size=64", "data.workers=2", "data.exclude_test_of=[setting1]",
              "data.degrade=0.5", "train.epochs=1", "train.batch_size=8", "wandb.mode=disabled", "eval.flip=false",
              "eval.protocols=[setting1]"]
    finals = [train(load_recognizer_config(None, [*common, f"train.runs_dir={tmp_path / name}"]), progress=False)
              for name in ("a", "b")]
    a, b = (ckpt_load(f)["backbone"] for f in finals)
    assert all(torch.equal(a[k], b[k]) for k in a)
    tables = [json.loads((f.parent / "eval.json").read_text())["rank1"] for f in finals]
    assert tables[0] == tables[1] and set(tables[0]) == {"setting1"}
    other = train(load_recognizer_config(None, [*common, "train.seed=1", f"train.runs_dir={tmp_path / 'c'}"]), progress=False)
    assert not all(torch.equal(a[k], v) for k, v in ckpt_load(other)["backbone"].items())  # the seed does matter


def ckpt_load(path):
    from frontalize.runs import checkpoint

    return checkpoint.load(path)
