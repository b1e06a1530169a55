"""Training: the LightningModule, callbacks, checkpoint I/O, run directories, TensorBoard panels
and the Hydra glue. Imports data and models; nothing below imports it."""
