"""What TensorBoard shows for real short runs: the event files read with TensorBoard's own
reader, the hparams table from a running TensorBoard, and the pages in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from urllib.parse import quote
from collections import Counter
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from google.protobuf import text_format
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.pr_curve import metadata as pr_metadata
from tensorboard.plugins.projector import projector_config_pb2
from tensorboard.util import tensor_util

from bilstm_clf.data.tokenizer import Tokenizer
from tests.conftest import POSITIVE, NEGATIVE, ROOT, run_cli, write
from tests.training.test_tb_panels import rendered_cells

ARTIFACTS = Path(os.environ.get("BILSTM_CLF_ARTIFACTS", ROOT / "artifacts"))
EPOCHS, EVERY_N, THRESHOLDS, SAMPLES, WORDS, DIM = 3, 2, 33, 3, 5, 16
# the same sentence under both labels: whatever the model learns, some dev rows are wrong
AMBIGUOUS = ["an ok | *film* with <b>tags</b>", "it was a film", "some acting & a story"]


def split_rows(n: int, ambiguous: list[str]) -> list[tuple[str, str]]:
    rows = [(s, label) for i in range(n) for s, label in ((POSITIVE[i % 5], "pos"), (NEGATIVE[i % 5], "neg"))]
    return rows + [(s, label) for s in ambiguous for label in ("pos", "neg")]


def write_split(path: Path, rows: list[tuple[str, str]]) -> None:
    write(path, "sentence\tlabel\n" + "".join(f"{s}\t{label}\n" for s, label in rows))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two short runs under one logs root, as `tensorboard --logdir logs` sees them.

    ``a_no_test`` sorts first and has no test metrics: it must not hide the test columns of
    the hparams table for ``b_full`` (a per-run hparams 'experiment' entry would).
    """
    root = tmp_path_factory.mktemp("tensorboard")
    data = root / "data"
    splits = {"train": split_rows(20, []), "dev": split_rows(4, AMBIGUOUS), "test": split_rows(3, AMBIGUOUS[:1])}
    for name, rows in splits.items():
        write_split(data / f"{name}.tsv", rows)
    logs = root / "logs"
    common = ["-m", "bilstm_clf.train", "embeddings=none", "data=custom", f"data.data_dir={data}", "data.train_file=train.tsv",
              "data.val_file=dev.tsv", "data.text_field=sentence", "callbacks.progress_bar.refresh_rate=0",
              f"model.embedding_dim={DIM}", "model.hidden_size=16", "optimizer.lr=0.01"]
    full = logs / "runs" / "custom" / "b_full"
    no_test = logs / "runs" / "custom" / "a_no_test"
    for run_dir, extra in (
        (no_test, ["data.test_file=null", "trainer.max_epochs=1", "model.pooling=max"]),
        (full, ["data.test_file=test.tsv", f"trainer.max_epochs={EPOCHS}", "callbacks.early_stopping=null",
                f"callbacks.tensorboard_reports.every_n_val_epochs={EVERY_N}",
                f"callbacks.tensorboard_reports.pr_curve_thresholds={THRESHOLDS}",
                f"callbacks.tensorboard_reports.misclassified_samples={SAMPLES}",
                f"callbacks.tensorboard_reports.projector_words={WORDS}"]),
    ):
        result = run_cli([*common, *extra, f"hydra.run.dir={run_dir}"], cwd=ROOT)
        assert result.returncode == 0, result.stderr[-3000:]
    events = EventAccumulator(str(full / "tensorboard"), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    return SimpleNamespace(logs=logs, full=full, no_test=no_test, splits=splits, events=events,
                           metrics=json.loads((full / "metrics.json").read_text()))


def scalar_at(events, tag: str) -> dict[int, float]:
    return {e.step: e.value for e in events.Scalars(tag)}


def text_at(events, tag: str) -> dict[int, str]:
    return {e.step: tensor_util.make_ndarray(e.tensor_proto).item().decode() for e in events.Tensors(f"{tag}/text_summary")}


def parse_confusion_table(markdown: str) -> np.ndarray:
    cells = rendered_cells(markdown)
    return np.array([[int(v) for v in row[1:-1]] for row in cells[1:]])


# --- the event files, read with TensorBoard's own reader -----------------------------------------
def test_confusion_matrices_match_the_logged_accuracy_at_every_reported_step(runs):
    events, splits = runs.events, runs.splits
    val_acc = scalar_at(events, "val/acc")
    val_steps = sorted(val_acc)
    assert len(val_steps) == EPOCHS
    # every 2nd validation epoch, and the last one always: epochs 2 and 3
    expected_steps = [val_steps[EVERY_N - 1], val_steps[-1]]
    test_acc = scalar_at(events, "test/acc")
    for split, steps, accuracy, rows in (
        ("val", expected_steps, val_acc, splits["dev"]),
        ("test", sorted(test_acc), test_acc, splits["test"]),
    ):
        for kind in ("counts", "normalised"):
            images = events.Images(f"{split}/confusion_matrix/{kind}")
            assert [im.step for im in images] == steps
            for im in images:
                picture = Image.open(BytesIO(im.encoded_image_string))
                assert picture.mode == "RGB" and picture.size == (im.width, im.height) and im.width >= 300
                assert len(set(picture.getdata())) > 20  # a drawn matrix, not a blank
        tables = text_at(events, f"{split}/confusion_matrix/table")
        assert sorted(tables) == steps
        true_counts = Counter(label for _, label in rows)
        for step, table in tables.items():
            counts = parse_confusion_table(table)
            assert counts.sum() == len(rows)
            assert counts.sum(axis=1).tolist() == [true_counts["neg"], true_counts["pos"]]
            assert np.trace(counts) / counts.sum() == pytest.approx(accuracy[step], abs=1e-6)


def test_pr_curves_per_class_agree_with_the_confusion_matrix(runs):
    events, splits = runs.events, runs.splits
    content = events.PluginTagToContent(pr_metadata.PLUGIN_NAME)
    for split, rows in (("val", splits["dev"]), ("test", splits["test"])):
        tables = text_at(events, f"{split}/confusion_matrix/table")
        for c, label in enumerate(["neg", "pos"]):
            tag = f"{split}/pr_curve/{label}"
            assert pr_metadata.parse_plugin_metadata(content[tag]).num_thresholds == THRESHOLDS
            curves = events.Tensors(tag)
            assert sorted(e.step for e in curves) == sorted(tables)
            for e in curves:
                curve = tensor_util.make_ndarray(e.tensor_proto)
                assert curve.shape == (6, THRESHOLDS)
                tp, fp = curve[pr_metadata.TRUE_POSITIVES_INDEX], curve[pr_metadata.FALSE_POSITIVES_INDEX]
                fn = curve[pr_metadata.FALSE_NEGATIVES_INDEX]
                assert tp[0] + fn[0] == sum(label == lab for _, lab in rows)  # every member of the class
                assert tp[0] + fp[0] == len(rows)  # threshold 0: everything predicted positive
                # two classes: threshold 0.5 (index 16 of 33) is the argmax prediction
                counts = parse_confusion_table(tables[e.step])
                assert tp[THRESHOLDS // 2] == counts[c, c]
                assert tp[THRESHOLDS // 2] + fp[THRESHOLDS // 2] == counts[:, c].sum()


def test_misclassified_dev_sentences_are_real_mistakes_with_confidence(runs):
    events, dev = runs.events, runs.splits["dev"]
    reports = text_at(events, "val/misclassified")
    val_acc = scalar_at(events, "val/acc")
    assert sorted(reports) == sorted(text_at(events, "val/confusion_matrix/table"))
    for step, report in reports.items():
        wrong = round((1 - val_acc[step]) * len(dev))
        assert wrong >= len(AMBIGUOUS)
        assert report.startswith(f"{wrong} of {len(dev)} sentences misclassified; {SAMPLES} shown")
        rows = rendered_cells(report)[1:]
        assert len(rows) == SAMPLES
        confidences = [float(r[3]) for r in rows]
        assert confidences == sorted(confidences, reverse=True)
        for sentence, true, predicted, confidence, p_true in rows:
            assert (sentence, true) in dev and predicted != true
            assert float(confidence) >= 0.5 and float(p_true) == pytest.approx(1 - float(confidence), abs=2e-3)
    assert "test/misclassified/text_summary" not in events.Tags()["tensors"]  # dev only


def test_projector_holds_the_top_words_and_the_final_embeddings(runs):
    log_dir = runs.full / "tensorboard"
    config = text_format.Parse((log_dir / "projector_config.pbtxt").read_text(), projector_config_pb2.ProjectorConfig())
    assert len(config.embeddings) == 1
    embedding = config.embeddings[0]
    header, *rows = [line.split("\t") for line in (log_dir / embedding.metadata_path).read_text(encoding="utf-8").splitlines()]
    assert header == ["word", "train_count"]
    encoder = Tokenizer.load(runs.full / "tokenizer.json")
    train_counts = Counter(word for text, _ in runs.splits["train"] for word in encoder.tokenize(text))
    # the most frequent training words, specials left out, with their counts
    assert [word for word, _ in rows] == encoder.itos()[2 : 2 + WORDS]
    assert [int(count) for _, count in rows] == [train_counts[word] for word, _ in rows]
    assert [int(count) for _, count in rows] == sorted(train_counts.values(), reverse=True)[:WORDS]
    vectors = np.loadtxt(log_dir / embedding.tensor_path, delimiter="\t", ndmin=2)
    state = torch.load(runs.full / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    expected = state["model.embedding.weight"][2 : 2 + WORDS].numpy()
    assert vectors.shape == (WORDS, DIM)
    np.testing.assert_allclose(vectors, expected, rtol=1e-4, atol=1e-5)


def test_hparams_entry_has_config_and_final_val_and_test_metrics(runs):
    events, metrics = runs.events, runs.metrics
    content = events.PluginTagToContent(hparams_metadata.PLUGIN_NAME)
    # session entries only: a per-run experiment entry would fix the table's columns to one run's
    assert set(content) == {hparams_metadata.SESSION_START_INFO_TAG, hparams_metadata.SESSION_END_INFO_TAG}
    start = hparams_metadata.parse_session_start_info_plugin_data(content[hparams_metadata.SESSION_START_INFO_TAG])
    assert start.hparams["model.hidden_size"].number_value == 16
    assert start.hparams["data.name"].string_value == "custom"
    assert start.hparams["optimizer.lr"].number_value == pytest.approx(0.01)
    for key in ("val/acc", "val/f1_macro", "val/loss", "test/acc", "test/f1_macro", "test/loss", "best/val/f1_macro"):
        assert [e.value for e in events.Scalars(f"hp/{key}")] == [pytest.approx(metrics[key])]
    # the val metrics are those of the tested (best) checkpoint
    assert metrics["val/f1_macro"] == pytest.approx(metrics["best/val/f1_macro"])


def test_per_class_scores_are_logged_and_match_metrics_json(runs):
    events, metrics = runs.events, runs.metrics
    labels = list(metrics["per_class"]["test"])
    assert len(labels) == 2 and set(metrics["per_class"]["val"]) == set(labels)
    for split in ("val", "test"):
        for label in labels:
            for key in ("precision", "recall", "f1"):
                assert f"class_{key}/{split}/{label}" in events.Tags()["scalars"]
    for label in labels:
        [test_f1] = [e.value for e in events.Scalars(f"class_f1/test/{label}")]
        assert test_f1 == pytest.approx(metrics["per_class"]["test"][label]["f1"], abs=1e-6)
    # macro-F1 is the mean of the per-class F1s
    assert np.mean([row["f1"] for row in metrics["per_class"]["test"].values()]) == pytest.approx(metrics["test/f1_macro"], abs=1e-5)


# --- a running TensorBoard ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def tensorboard_url(runs, tmp_path_factory):
    """scripts/tensorboard.py on loopback, any free port; waits until it has read both runs."""
    log = tmp_path_factory.mktemp("tb_server") / "stderr.txt"
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "tensorboard.py"), "--logdir", str(runs.logs), "--port", "0"],
            stdout=subprocess.DEVNULL, stderr=stderr,
        )
    try:
        url = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            found = re.search(r"http://127\.0\.0\.1:\d+/", log.read_text())
            if found:
                url = found.group(0)
                images = get_json(url + "data/plugin/images/tags")
                if all(run in images and images[run] for run in ("runs/custom/a_no_test/tensorboard", "runs/custom/b_full/tensorboard")):
                    break
            time.sleep(0.5)
        else:
            pytest.fail(f"TensorBoard did not serve both runs in time:\n{log.read_text()[-2000:]}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_tensorboard_script_names_a_missing_logdir(tmp_path):
    result = run_cli([str(ROOT / "scripts" / "tensorboard.py"), "--logdir", str(tmp_path / "nope")], cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nope'}: no such directory (train a model first: make train)"


def get_json(url: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except OSError:
        return {}


def test_hparams_table_compares_runs_on_final_val_and_test_metrics(runs, tensorboard_url):
    experiment = get_json(tensorboard_url + "data/plugin/hparams/experiment", {"experimentName": ""})
    metric_names = {m["name"]["tag"] for m in experiment["metricInfos"]}
    assert {"hp/val/acc", "hp/val/f1_macro", "hp/test/acc", "hp/test/f1_macro"} <= metric_names
    differing = {h["name"] for h in experiment["hparamInfos"] if h.get("differs")}
    assert {"model.pooling", "trainer.max_epochs", "data.test_file"} <= differing

    groups = get_json(tensorboard_url + "data/plugin/hparams/session_groups", {
        "experimentName": "", "startIndex": 0, "sliceSize": 10,
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
        "colParams": [{"metric": {"tag": "hp/val/acc", "group": ""}, "order": "ORDER_DESC"}],
    })["sessionGroups"]
    values = {g["name"]: {m["name"]["tag"]: m["value"] for m in g["metricValues"]} for g in groups}
    full = values["runs/custom/b_full/tensorboard"]
    assert full["hp/test/acc"] == pytest.approx(runs.metrics["test/acc"])
    assert full["hp/val/f1_macro"] == pytest.approx(runs.metrics["val/f1_macro"])
    no_test = values["runs/custom/a_no_test/tensorboard"]
    assert "hp/val/acc" in no_test and "hp/test/acc" not in no_test


# --- in a real browser --------------------------------------------------------------------------
def _browser_paths() -> tuple[str | None, str | None]:
    return shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")


# Text of the page including every shadow root (TensorBoard's dashboards are web components),
# the images that finished loading and the chart series drawn (SVG line or point paths).
PAGE_STATE_JS = """
const texts = [], images = [];
let series = 0;
(function walk(node) {
  if (node.shadowRoot) walk(node.shadowRoot);
  for (const child of node.childNodes) {
    if (child.nodeType === Node.TEXT_NODE) { const t = child.textContent.trim(); if (t) texts.push(t); }
    else if (child.nodeType === Node.ELEMENT_NODE && !['STYLE', 'SCRIPT'].includes(child.tagName)) {
      if (child.tagName === 'IMG' && child.complete && child.naturalWidth > 0) images.push(child.src);
      const cls = child.getAttribute('class') || '';
      if (child.tagName.toLowerCase() === 'path' && /\\b(line|symbol)\\b/.test(cls) && (child.getAttribute('d') || '').length > 10) series++;
      walk(child);
    }
  }
})(document.body);
return {texts: texts, images: images, series: series};
"""


@pytest.mark.skipif(not all(_browser_paths()), reason="needs chromium and chromedriver (Debian: apt-get install chromium chromium-driver)")
def test_scalars_and_images_pages_show_the_runs_tags_in_chromium(runs, tensorboard_url):
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    chromium, chromedriver = _browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    runs_shown = ["runs/custom/a_no_test/tensorboard", "runs/custom/b_full/tensorboard"]
    # page: (texts that must show, images loaded at least, chart series drawn at least)
    pages = {
        # TensorBoard opens only the first two tag groups (epoch, hp): a tag filter in the URL
        # shows the training curves, as a user would type it; 10 tags match, each with a series
        "scalars&tagFilter=" + quote("^(val|test|train)/", safe=""): (
            ["val/acc", "val/f1_macro", "val/loss", "train/loss_epoch", "test/acc", *runs_shown], 0, 10),
        # 2 test images of b_full, 2 val images of each run
        "images": (["val/confusion_matrix/counts", "val/confusion_matrix/normalised", "test/confusion_matrix/counts",
                    "test/confusion_matrix/normalised", *runs_shown], 6, 0),
        "hparams": (["hp/val/acc", "hp/test/acc", "model.pooling", *runs_shown], 0, 0),
    }
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_window_size(1400, 1800)
    try:
        for page, (wanted, min_images, min_series) in pages.items():
            driver.get(f"{tensorboard_url}#{page}")
            state = {}

            def shown(drv):
                state.update(drv.execute_script(PAGE_STATE_JS))
                return set(wanted) <= set(state["texts"]) and len(state["images"]) >= min_images and state["series"] >= min_series

            try:
                WebDriverWait(driver, 60, poll_frequency=0.5).until(shown)
            finally:
                driver.save_screenshot(str(ARTIFACTS / f"tensorboard-{page.split('&')[0]}.png"))
            assert set(wanted) <= set(state["texts"]), f"{page}: missing {set(wanted) - set(state['texts'])}"
            if min_images:
                assert all("/data/plugin/images/individualImage" in src for src in state["images"])
    except TimeoutException:
        missing = set(wanted) - set(state.get("texts", []))
        pytest.fail(f"{page} page: missing tags {sorted(missing)}, {len(state.get('images', []))} images loaded, "
                    f"{state.get('series', 0)} chart series drawn")
    finally:
        driver.quit()
