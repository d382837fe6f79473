"""`cxr experiment NAME[:variant] [--config.x.y=value ...]`: the command line checked
before the frameworks start (`cxr.pipeline.experiment_config`), then the run
(`cxr.pipeline.experiment.run`)."""

import sys

from absl import logging

from cxr.errors import exits_cleanly
from cxr.pipeline import experiment_config
from cxr.runtime import startup


@exits_cleanly
def main(argv=None) -> None:
    config = experiment_config.parse(sys.argv[1:] if argv is None else argv)
    if config is None:  # --help
        return
    logging.set_verbosity(logging.WARNING)  # TFDS's INFO lines would drown the progress bars
    startup.start()  # only now: a mistake above is one line without the frameworks' start-up
    from cxr.pipeline import experiment

    experiment.run(config)
