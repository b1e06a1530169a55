#!/usr/bin/env python
"""Tabulate a sweep's runs side by side (markdown): `python scripts/tabulate_runs.py SWEEP_DIR [--sort test/acc]`.

SWEEP_DIR is a multirun directory such as logs/multiruns/sst2/<time>; see bilstm_clf/training/tabulate.py.
"""

from bilstm_clf.training.tabulate import main

if __name__ == "__main__":
    main()
