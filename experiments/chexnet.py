"""chexnet: the 14-label CheXNet recipe as published (Rajpurkar et al. 2017, arXiv 1711.05225).

DenseNet121 from ImageNet weights, its classifier replaced by 14 sigmoid outputs, the
unweighted binary cross-entropy of every label, trained whole from the start (no
frozen-head phase) with Adam (beta_1 0.9, beta_2 0.999), batch 16, initial lr 0.001,
lr / 10 each time the validation loss does not fall after an epoch, and the model with
the lowest validation loss kept. Images 224 x 224, ImageNet mean/std, random horizontal
flips in training.

    make experiment NAME=chexnet ARGS="--config.model.weights=/path/densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"
    make experiment NAME=chexnet:smoke        # seconds, synthetic data, random init

What cannot be the same here (docs/protocols.md, "CheXNet", has every step with the
paper's words):
  - the ImageNet weights are Keras's DenseNet121 file (downloaded, or a local copy
    offline), not the PyTorch model the authors started from;
  - the splits: CheXNet split the patients at random 70/10/20; this project tests on
    NIH's official test list and holds out 10% of the other patients for validation,
    so its test AUROC is not comparable to CheXNet's 0.841;
  - the labels are NIH's 2020 CSV (Data_Entry_2017_v2020.csv) where the folder has it,
    which corrects some labels of the 2017 CSV CheXNet used (metadata.py counts them); a folder holding
    only Data_Entry_2017.csv gives CheXNet's labels;
  - the loss is the mean over the 14 labels, the paper's sum / 14: Adam's steps do not
    change with a constant factor on the loss (up to its epsilon), nor does which
    validation loss is lowest.
The paper does not say how many epochs, after how many epochs without a lower
validation loss it stops, or Adam's epsilon: our choices below (epsilon: Keras's 1e-7).

Runtime: a GPU job (224 px, the whole network trains; on 2 CPU cores an epoch of the
full training split takes hours). Expected result: not measured here.
"""

from cxr.configs import common


def get_config(variant=None):
    c = common.get_config()
    c.name = "chexnet"
    c.data.dataset = "cxr14_subset/224"  # "downscale the images to 224 x 224"
    c.data.batch_size = 16  # "minibatches of size 16"
    c.model.weights = "imagenet"  # "initialized with weights from a model pretrained on ImageNet"
    c.model.dropout = 0.0  # no dropout is mentioned
    c.train.head_epochs = 0  # "trained end-to-end": no frozen-head phase
    c.train.unfreeze = "all"
    c.train.finetune_learning_rate = 1e-3  # "an initial learning rate of 0.001"
    # "decayed by a factor of 10 each time the validation loss plateaus after an epoch":
    # lr / 10 after any epoch whose validation loss is not the lowest so far.
    c.train.finetune_lr_patience = 1
    c.train.monitor = "val/loss"  # ... "and pick the model with the lowest validation loss"
    c.train.pos_weight = False  # "the sum of unweighted binary cross entropy losses"
    c.train.augment = True  # "random horizontal flipping", nothing else
    c.train.flip = True
    c.train.rotation = c.train.zoom = c.train.translation = c.train.contrast = 0.0
    # Not in the paper, our choices: at most 20 epochs; stop after 3 without a lower
    # validation loss (by then lr has fallen to 1e-6).
    c.train.finetune_epochs = 20
    c.train.finetune_stop_patience = 3
    # CheXNet trained in float32 (the paper names no other precision): "auto" could pick
    # mixed bfloat16 on a GPU. XLA stays "auto": it compiles the same float32 arithmetic,
    # fused, which moves results by float32 rounding only (docs/protocols.md, CheXNet).
    c.speed.precision = "float32"
    if variant == "smoke":
        common.smoke(c, 32, 16, 16)
        c.train.finetune_epochs = 2  # two epochs: the second can meet a plateau
    elif variant is not None:
        raise ValueError(f"chexnet has no variant {variant!r}; use chexnet or chexnet:smoke")
    c.lock()
    return c
