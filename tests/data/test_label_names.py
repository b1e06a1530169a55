"""data.label_names: built-in datasets show their classes by name; the files keep their labels."""

import pytest
from hydra import compose, initialize_config_dir

from bilstm_clf.common.errors import ConfigError
from bilstm_clf.configs import CONFIG_DIR
from bilstm_clf.data.datamodule import TextClassificationDataModule
from tests.conftest import write


def test_names_replace_labels_in_class_order(tmp_path):
    rows = "sentence\tlabel\n" + "".join(f"text {i}\t{i % 3}\n" for i in range(30))
    write(tmp_path / "train.tsv", rows)
    dm = TextClassificationDataModule(data_dir=str(tmp_path), train_file="train.tsv", val_file=None, test_file=None,
                                      label_names={0: "very negative", 2: "neutral"})
    dm.setup("fit")
    assert dm.file_labels == ["0", "1", "2"]
    assert dm.label_names == ["very negative", "1", "neutral"]  # unnamed labels keep their own


@pytest.mark.parametrize("bad", [{0: "a", 1: "a"}, {0: ""}, ["negative", "positive"]])
def test_bad_label_names_are_config_errors(tmp_path, bad):
    with pytest.raises(ConfigError, match=r"config data\.label_names="):
        TextClassificationDataModule(data_dir=str(tmp_path), label_names=bad)


@pytest.mark.parametrize(("data", "names"), [
    ("sst2", ["negative", "positive"]),
    ("sst2_sentences", ["negative", "positive"]),
    ("sst5", ["very negative", "negative", "neutral", "positive", "very positive"]),
    ("trec", None),
])
def test_builtin_datasets_name_their_classes(data, names):
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"data={data}"])
    got = cfg.data.label_names
    assert (None if got is None else [got[k] for k in sorted(got)]) == names
