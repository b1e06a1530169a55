"""The second-round corpus (issue 14): special files, label identity, config values that reached
torch unchecked, damaged checkpoints and bundles, failing writes. Each case runs through a real
CLI entry point (tests/e2e/test_reliability_cli.py) and must give one ``error:`` line matching
its regex, exit 2 and no traceback. The cases are listed in reliability_cases.yaml. docs/robustness.md tabulates them by id.

``make_files`` builds what the cases name: files that cannot live in git (FIFOs, device symlinks,
compressed data) and checkpoints and bundles damaged from a real tiny run's.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import yaml

from tests.conftest import NEGATIVE, POSITIVE

# The cases themselves are data: reliability_cases.yaml (id -> args and the regex of the one
# stderr line), one table per entry point.
_CASES = yaml.safe_load(Path(__file__).with_name("reliability_cases.yaml").read_text(encoding="utf-8"))
TRAIN_CASES, PREDICT_CASES, EXPORT_CASES = (
    {case_id: (case["args"], case["error"]) for case_id, case in _CASES[entry_point].items()} for entry_point in ("train", "predict", "export")
)


def rows(pairs) -> str:
    return "text\tlabel\n" + "".join(f"{t}\t{label}\n" for t, label in pairs)


def make_data(data: Path) -> None:
    """The good data set (40 train rows, 10 dev) and the special files beside it."""
    data.mkdir(parents=True, exist_ok=True)
    train = [(p, "pos") for p in POSITIVE * 4] + [(n, "neg") for n in NEGATIVE * 4]
    (data / "train.tsv").write_text(rows(train), encoding="utf-8")
    (data / "dev.tsv").write_text(rows([(p, "pos") for p in POSITIVE] + [(n, "neg") for n in NEGATIVE]), encoding="utf-8")
    (data / "tokenless.tsv").write_text(rows(train[:2] + [(";;; :", "pos")] + train[2:]), encoding="utf-8")
    (data / "all_tokenless.tsv").write_text(rows([(";;;", "pos"), (":", "neg"), ('"', "pos")]), encoding="utf-8")
    (data / "tokenless_dev.tsv").write_text(rows([("i loved it", "pos"), (";", "neg")]), encoding="utf-8")
    raw = (data / "train.tsv").read_bytes()
    (data / "gz.csv").write_bytes(gzip.compress(raw))
    (data / "bz.jsonl").write_bytes(bz2.compress(raw))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("train.tsv", raw)
    (data / "zip.tsv").write_bytes(buffer.getvalue())
    os.mkfifo(data / "fifo.tsv")
    os.symlink("/dev/zero", data / "zero.tsv")
    os.symlink("/dev/null", data / "null.tsv")


class _Payload:
    """Unpickling this would run code: a weights-only load must refuse it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def make_files(files: str | Path, run: str | Path) -> None:
    """Damaged copies of ``run``'s checkpoint and bundle, and predict inputs."""
    import torch

    files, run = Path(files), Path(run)
    files.mkdir(parents=True, exist_ok=True)
    best = Path(json.loads((run / "metrics.json").read_text())["best_checkpoint"])
    good = torch.load(best, weights_only=True)
    shutil.copy(best, files / "good.ckpt")

    def save(name: str, payload) -> None:
        torch.save(payload, files / name)

    (files / "truncated.ckpt").write_bytes(best.read_bytes()[: best.stat().st_size // 2])
    save("evil.ckpt", {"state_dict": {}, "hyper_parameters": {"model_config": _Payload(files / "pwned")}})
    save("list.ckpt", [1, 2, 3])
    save("keyless.ckpt", {"weights": torch.zeros(2)})
    save("weights_only.ckpt", {k: v for k, v in good.items() if k not in ("optimizer_states", "lr_schedulers")})
    state = dict(good["state_dict"])
    bigger = {**good, "state_dict": {**state, "model.embedding.weight": torch.zeros(state["model.embedding.weight"].shape[0], 16)}}
    save("bigger.ckpt", bigger)
    save("no_loops.ckpt", {**good, "loops": {}})
    save("renamed.ckpt", {**good, "state_dict": {("model.head.renamed" if k == "model.head.weight" else k): v for k, v in state.items()}})
    extra = good["bilstm_clf"]
    save("three_labels.ckpt", {**good, "bilstm_clf": {**extra, "label_names": ["neg", "pos", "neutral"]}})
    save("repeated_labels.ckpt", {**good, "bilstm_clf": {**extra, "label_names": ["pos", "pos"]}})
    save("garbage_tokenizer.ckpt", {**good, "bilstm_clf": {**extra, "tokenizer_json": "{not json"}})
    tokenizer = json.loads(extra["tokenizer_json"])
    tokenizer["model"]["vocab"]["zzzfar"] = 10_000
    save("past_rows.ckpt", {**good, "bilstm_clf": {**extra, "tokenizer_json": json.dumps(tokenizer)}})
    save("nan_weights.ckpt", {**good, "state_dict": {**state, "model.head.bias": torch.full_like(state["model.head.bias"], float("nan"))}})
    save("hparams_list.ckpt", {**good, "hyper_parameters": [1, 2]})

    (files / "texts.txt").write_text("i loved it\na dull , boring mess\n", encoding="utf-8")
    (files / "texts.txt.gz").write_bytes(gzip.compress(b"i loved it\n"))
    os.mkfifo(files / "fifo.txt")
    os.symlink("/dev/zero", files / "zero.txt")
    bundle = run / "bundle"

    def damaged(name: str, change) -> None:
        target = files / name
        shutil.copytree(bundle, target)
        change(target)

    def edit_json(target: Path, file: str, change) -> None:
        data = json.loads((target / file).read_text())
        change(data)
        (target / file).write_text(json.dumps(data))

    def past_rows(target: Path) -> None:  # metadata.json agrees with the tokenizer: only the model can tell
        edit_json(target, "tokenizer.json", lambda d: d["model"]["vocab"].update(zzzfar=10_000))
        edit_json(target, "metadata.json", lambda d: d["model_config"].update(vocab_size=d["model_config"]["vocab_size"] + 1))

    damaged("bundle_past_rows", past_rows)
    damaged("bundle_string_max_chars", lambda t: edit_json(t, "metadata.json", lambda d: d["inference"].update(max_chars="100")))
    damaged("bundle_inference_string", lambda t: edit_json(t, "metadata.json", lambda d: d.update(inference="fast")))
    damaged("bundle_vocab_string", lambda t: edit_json(t, "metadata.json", lambda d: d["model_config"].update(vocab_size="many")))
