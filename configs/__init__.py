"""Hydra configs of ``python -m bilstm_clf.train``, installed as the package ``bilstm_clf.configs``
(pyproject.toml maps it onto this folder), so a wheel carries them. ``CONFIG_DIR`` is where they are."""

from pathlib import Path

CONFIG_DIR = str(Path(__file__).resolve().parent)
