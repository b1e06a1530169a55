"""bilstm_clf: reproducible BiLSTM sentence classification.

The package root imports nothing heavy, so that ``bilstm_clf.data.tokenizer`` (and the
torch-free inference runtime) can be used without torch, Lightning or Hydra installed.
"""

__version__ = "0.1.0"
