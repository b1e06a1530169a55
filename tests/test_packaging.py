"""What the wheel carries and what each install needs, read from pyproject.toml (the full wheel
install runs in CI: scripts/ci_wheel_check.sh)."""

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def test_every_package_of_the_tree_is_listed_for_the_wheel():
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "bilstm_clf").rglob("__init__.py")}
    found.add("bilstm_clf.configs")
    assert set(SETUPTOOLS["packages"]) == found
    assert SETUPTOOLS["package-dir"] == {"bilstm_clf.configs": "configs"}
    yaml_dirs = {p.parent for p in (ROOT / "configs").rglob("*.yaml")}
    assert all(d == ROOT / "configs" or d.relative_to(ROOT / "configs").parts for d in yaml_dirs)
    assert "**/*.yaml" in SETUPTOOLS["package-data"]["bilstm_clf.configs"]


def _imported_top_level(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_base_install_is_the_runtime_and_lists_what_it_imports():
    base = {d.split(">")[0].split("=")[0].strip() for d in PYPROJECT["project"]["dependencies"]}
    assert base == {"onnxruntime", "tokenizers", "numpy"}
    runtime_files = [ROOT / "bilstm_clf/predict.py", *(ROOT / "bilstm_clf/serving").glob("*.py"), *(ROOT / "bilstm_clf/common").glob("*.py"),
                     *(ROOT / "bilstm_clf/data" / f"{m}.py" for m in ("tokenizer", "formats", "records", "rows"))]
    third_party = set().union(*(_imported_top_level(p) for p in runtime_files)) - set(sys.stdlib_module_names) - {"bilstm_clf"}
    # config_checks imports torch and the model registries inside functions that only training calls
    assert third_party - {"torch"} <= base


def test_the_train_extra_holds_the_training_stack():
    train = {d.split(">")[0].split("=")[0].strip() for d in PYPROJECT["project"]["optional-dependencies"]["train"]}
    assert {"torch", "pytorch-lightning", "hydra-core", "omegaconf", "tensorboard", "onnx"} <= train


def test_train_command_without_the_extra_names_the_install_command(tmp_path):
    """The console scripts bilstm-clf-train/-export exist in the runtime-only install too."""
    blocker = tmp_path / "sitecustomize.py"  # hide torch from the child, as in a runtime-only venv
    blocker.write_text(
        "import importlib.machinery, sys\n"
        "class _Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'pytorch_lightning', 'hydra'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, _Hide())\n"
    )
    code = "from bilstm_clf.common.extras import train; train()"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: bilstm-clf-train needs the training install (pip install 'bilstm-clf[train]'); missing: torch")
    assert "Traceback" not in result.stderr
