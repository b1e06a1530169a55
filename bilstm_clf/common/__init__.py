"""Shared by every layer and free of torch, Lightning and Hydra: user errors, atomic writes,
config checks and the bundle contract."""
