"""Pure ``nn.Module`` models: no Lightning, no Hydra."""

from bilstm_clf.models.classifier import BiLSTMClassifier

__all__ = ["BiLSTMClassifier"]
