"""The W&B run of a job that does not log to W&B: it takes every call cxr makes on a
`wandb` run and keeps nothing.

`cxr.tracking.wandb_logging.init_wandb` returns one when W&B is disabled, so the code
that logs never asks whether there is a run. W&B's own disabled mode would do the same
but imports `wandb` (seconds) for nothing; this module imports nothing.
"""


class DisabledRun:
    """A W&B run that logs nothing: `log`, `summary[key] = value`, `define_metric`,
    `log_artifact` and `finish` do nothing; `disabled` is True, as on a `wandb` run whose
    mode is "disabled"."""

    disabled = True
    id = None  # no W&B run behind it

    @property
    def summary(self) -> dict:
        """A new empty dict each time: what is set in it is dropped."""
        return {}

    def log(self, data, *args, **kwargs) -> None:
        """Drops `data`."""

    def define_metric(self, name, *args, **kwargs) -> None:
        """Defines nothing."""

    def log_artifact(self, artifact, *args, **kwargs) -> None:
        """Logs nothing."""

    def finish(self, exit_code=None, *args, **kwargs) -> None:
        """Nothing to finish."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self.finish(exit_code=None if exc_type is None else 1)


DISABLED = DisabledRun()  # for defaults: it holds no state, so one serves every caller
