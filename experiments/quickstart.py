"""quickstart: the whole pipeline offline in a few minutes on 2 CPU cores.

    make experiment NAME=quickstart
    make experiment NAME=quickstart:smoke     # seconds, what the tests run
    make experiment NAME=quickstart:permuted  # trained on permuted labels: AUROC ~0.5

`:permuted` is the same run on the training labels permuted across images
(`train.permute_labels_seed`), for Adebayo et al.'s data randomisation test: its AUROC
should be about 0.5. Then, with both runs' ids (docs/protocols.md, "Data randomisation test"):

    make saliency RUN=runs/quickstart/<id> ARGS="--permuted-run runs/quickstart_permuted/<id>"

`cxr14_subset/synthetic_64` (the 500 synthetic patients at 64 px, generated on
first use) and a randomly initialised DenseNet121 (no download), trained whole
for 2 epochs, then test AUROC with CIs, Grad-CAM galleries, localization against
the planted signs' boxes, W&B offline. It shows that every stage runs and that
learning starts; `learnability` (8 epochs at 128 px) shows how far it goes.

Why so small: on 2 cores the process gets about one core's worth of work, and
DenseNet121 at 64 px is the resolution that trains enough steps in that budget to
move AUROC. There is no frozen-head phase (a random backbone's features carry
nothing for a head) and no augmentation. At 64 px the Grad-CAM grid is 2 x 2: the
galleries draw the map before its ReLU (red for the label, blue against), and the
report's last line says whether its peak beats the centre baseline (it does not
after 2 epochs). The measured results, with their commit, date and machine:
docs/results.md ("quickstart") and docs/results/quickstart_gallery.json (what more
pixels or epochs buy).
"""

from cxr.configs import common


def get_config(variant=None):
    c = common.get_config()
    c.name = "quickstart"
    c.data.dataset = "cxr14_subset/synthetic_64"
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
    elif variant == "permuted":  # Adebayo et al.'s data randomisation test (docs/protocols.md)
        c.name = "quickstart_permuted"  # its own runs/ folder and W&B group
        c.train.permute_labels_seed = 0
    elif variant is not None:
        raise ValueError(
            f"quickstart has no variant {variant!r}; use quickstart, quickstart:smoke or "
            f"quickstart:permuted"
        )
    c.lock()
    return c
