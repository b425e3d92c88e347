"""Ready-made models that recipes reach with ``model: {ref: "kerasforge.models.zoo.<module>:<name>"}``.

* :func:`~kerasforge.models.zoo.resnet.resnet` — a CIFAR-style residual network, augmentation included.
* :func:`~kerasforge.models.zoo.transfer.mobilenetv2_transfer` and the
  :class:`~kerasforge.models.zoo.transfer.FineTune` callback — transfer learning in two phases.
* :class:`~kerasforge.models.zoo.custom.ClippedClassifier` — a subclassed model with its own
  ``train_step`` that clips gradients by their global norm.

Example:
    >>> from kerasforge.models.zoo.resnet import resnet               # doctest: +SKIP
    >>> resnet((32, 32, 3), 10, stages=(1, 1, 1), width=8).count_params() > 0   # doctest: +SKIP
    True
"""
