#!/usr/bin/env python
"""Materialise benchmark datasets into data/: `python scripts/prepare_data.py sst2 [sst5 trec]`.

Copies from a local mirror (--mirror, $BILSTM_CLF_DATA_MIRROR, or ../shared/datasets when it
exists), otherwise downloads from the public sources listed in bilstm_clf/data/download.py.
"""

from bilstm_clf.data.download import main

if __name__ == "__main__":
    main()
