"""`chexnet` is CheXNet's 14-label recipe (Rajpurkar et al. 2017, arXiv 1711.05225v3):
one test per row of docs/protocols.md's "CheXNet" table, the paper's words quoted.

The rows the code cannot match offline (where the ImageNet weights come from, the split)
are stated in experiments/chexnet.py and that table, not tested.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow_datasets as tfds

from cxr.configs import chexnet
from cxr.data import datasets
from cxr.model import backbones, classifier, preprocessing
from cxr.pipeline import experiment
from cxr.tracking.metric_keys import VAL_LOSS
from cxr.train import callbacks, loop

CONFIG = chexnet.get_config()


@pytest.fixture(scope="module")
def trained_phases():
    """The phases `cxr experiment chexnet` runs, those with epochs."""
    augmenter = experiment._augmenter(CONFIG)
    built = experiment._phases(CONFIG, augmenter, builder=None)
    return [p for p in built if p.epochs]


def test_2_2_initialized_with_imagenet_weights():
    # "The weights of the network are initialized with weights from a model pretrained
    # on ImageNet"
    assert CONFIG.model.weights == "imagenet"


def test_trained_in_float32_on_every_machine():
    # The paper names no other precision; "auto" would pick mixed bfloat16 on a GPU.
    assert CONFIG.speed.precision == "float32"


def test_5_fourteen_outputs_then_an_elementwise_sigmoid():
    # "a fully connected layer producing a 14-dimensional output, after which we apply an
    # elementwise sigmoid nonlinearity": our layer outputs logits; the loss applies the
    # sigmoid (from_logits) and so does inference. No dropout is mentioned.
    model = classifier.build_model(
        backbone="tiny", num_labels=14, image_size=32, weights=None, dropout=0.0
    )
    logits = model.get_layer(classifier.LOGITS_LAYER)
    assert isinstance(logits, keras.layers.Dense) and logits.units == 14
    assert CONFIG.model.dropout == 0.0


def test_5_the_sum_of_unweighted_binary_cross_entropies(trained_phases):
    # "we modify the loss function to optimize the sum of unweighted binary cross entropy
    # losses": unweighted, and our mean over the 14 labels is that sum / 14.
    (phase,) = trained_phases
    assert phase.pos_weight is False
    rng = np.random.default_rng(0)
    y = (rng.random((4, 14)) < 0.3).astype("float32")
    z = rng.normal(size=(4, 14)).astype("float32")
    p = 1 / (1 + np.exp(-z.astype("float64")))
    summed = -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum(axis=1).mean()
    # float32 loss against a float64 hand sum: a few ulps over 14 terms.
    assert float(loop.phase_loss(None)(y, z)) * 14 == pytest.approx(summed, rel=1e-6)


def test_2_2_trained_end_to_end_with_no_frozen_head_phase(trained_phases):
    # "The network is trained end-to-end"
    (phase,) = trained_phases
    assert phase.trainable == "all" and phase.feature_cache_dir is None


def test_2_2_adam_with_standard_parameters():
    # "using Adam with standard parameters (beta1 = 0.9 and beta2 = 0.999)"
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    (phase,) = [p for p in experiment._phases(CONFIG, None, None) if p.epochs]
    loop.compile_phase(model, phase)
    adam = model.optimizer
    assert isinstance(adam, keras.optimizers.Adam)
    assert (adam.beta_1, adam.beta_2) == (0.9, 0.999)


def test_2_2_minibatches_of_16_and_initial_lr_0_001(trained_phases):
    # "We train the model using minibatches of size 16. We use an initial learning rate
    # of 0.001"
    (phase,) = trained_phases
    assert phase.batch_size == 16 and phase.learning_rate == 0.001


def test_2_2_lr_divided_by_10_when_the_validation_loss_plateaus_after_an_epoch(trained_phases):
    # "decayed by a factor of 10 each time the validation loss plateaus after an epoch,
    # and pick the model with the lowest validation loss": the monitor is the validation
    # loss, lower better; the plateau is one epoch; the factor is 10; the Checkpoint keeps
    # the best model by the plateau's monitor.
    (phase,) = trained_phases
    assert (phase.monitor.key, phase.monitor.mode) == (VAL_LOSS, "min")
    assert phase.lr_patience == 1
    assert callbacks.Plateau(monitor=phase.monitor).factor == 0.1
    assert phase.monitor.improved(0.2, 0.3) and not phase.monitor.improved(0.3, 0.3)
    assert not phase.monitor.improved(math.nan, 0.3)


def test_3_1_downscaled_to_224_and_normalised_with_imagenet_statistics(tmp_path):
    # "we downscale the images to 224 x 224 and normalize based on the mean and standard
    # deviation of images in the ImageNet training set"
    builder = tfds.builder(CONFIG.data.dataset, data_dir=str(tmp_path))
    assert datasets.image_size(builder) == 224
    gray = np.full((1, 2, 2, 1), 51, np.uint8)  # 51 / 255 = 0.2
    # The pipeline gives raw pixels; the model normalises them in its first layer.
    x = preprocessing.apply(
        backbones.get(CONFIG.model.backbone).preprocessing, datasets.model_input(gray)
    )
    x = np.asarray(x)[0, 0, 0]
    # ImageNet's mean and std (torchvision's, as published for its ImageNet models).
    by_hand = (0.2 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(x, by_hand, rtol=1e-6)  # float32 against float64


def test_3_1_random_horizontal_flips_and_nothing_else(trained_phases):
    # "We also augment the training data with random horizontal flipping."
    (phase,) = trained_phases
    layers = phase.augment.layers
    assert [type(layer) for layer in layers] == [keras.layers.RandomFlip]
    assert layers[0].mode == "horizontal"
