"""quickstart: the whole pipeline offline in about 3 minutes on 2 CPU cores.

    make experiment NAME=quickstart
    make experiment NAME=quickstart:smoke     # seconds, what the tests run

`cxr14_subset/synthetic_64` (the 500 synthetic patients at 64 px, generated on
first use) and a randomly initialised DenseNet121 (no download), trained whole
for 2 epochs, then test AUROC with CIs, Grad-CAM galleries, localization against
the planted signs' boxes, W&B offline. It shows that every stage runs and that
learning starts; `learnability` (8 epochs at 128 px, 12 minutes) shows how far it goes.

Why so small: on 2 cores the process gets about one core's worth of work done
(CPU time ~ wall time), and DenseNet121 costs 1.55 CPU-s per training step of 16
images at 128 px, 0.47 at 64 px; tracing the training step costs ~35 CPU-s once.
In ~180 CPU-s, 64 px for 2 epochs (130 steps) reached test macro AUROC 0.66-0.72;
128 px could afford ~70 steps (0.58-0.61; probes while choosing this config). There is
no frozen-head phase (see `learnability`), and no augmentation: in 2 epochs none beat
none beyond seed noise and most cost AUROC (README, "Augmentation, test-time
augmentation and keras-cv").

Runtime and result: after `make install`, dataset build included, Intel
Xeon, 2 cores, nothing else running, 2026-11-27, seed 0: 2 min 42 s wall, 170 CPU-s;
test macro AUROC 0.664 [0.609, 0.715] (seed 1: 0.718 [0.686, 0.749]).

Grad-CAM at 64 px is a 2 x 2 map, and after 2 epochs it holds no positive evidence on
206 of the 220 box images: the ReLU'd map is blank there and the pointing game misses
(0.00 against 0.10 for the centre baseline). The galleries draw the map before its
ReLU (red for the label, blue against; `cxr.saliency.gallery`), so they show what the
model does see: mostly evidence against. That map's peak lands in the box about as
often as the centre heatmap's (0.095 against 0.105 of boxes, p = 0.7), not more; 128 px
for 2 or 4 epochs (422 and 717 CPU-s) raised AUROC but not that (0.064, 0.036): AMD EPYC,
2 cores, 2026-12-01, docs/results/quickstart_gallery.json. `learnability` beats the centre.
"""

from cxr.configs import common


def get_config(variant=None):
    c = common.get_config()
    c.name = "quickstart"
    c.data.name = "cxr14_subset/synthetic_64"
    c.data.cache_images = True  # 1,600 images of 64 px: 7 MB
    # 16 learns faster per CPU-second than 32 (more steps); 8 no faster than 16.
    c.data.batch_size = 16
    c.model.weights = None
    c.train.head_epochs = 0  # a random backbone's features carry nothing for a head
    c.train.finetune_epochs = 2  # 65 steps each; ~30 CPU-s each after the first
    c.train.finetune_learning_rate = 1e-3  # Adam; 3e-3 learned slower in probes
    c.train.unfreeze = "all"  # freezing random blocks saved time but learned less
    # Fixed, not "auto": no minute-long speed probe in a first contact, and the same
    # numbers on every rerun (XLA turns TensorFlow's op determinism off).
    c.speed.xla, c.speed.precision = "off", "float32"
    c.eval.gallery_per_kind = 4  # a gallery PNG that reads at a glance (12 panels)
    if variant == "smoke":
        common.smoke(c, 32, 16, 16)  # cxr14_subset/synthetic, as every smoke run
        c.train.finetune_epochs = 1
    elif variant is not None:
        raise ValueError(
            f"quickstart has no variant {variant!r}; use quickstart or quickstart:smoke"
        )
    c.lock()
    return c
