"""What one `make bench` run measures: the sizes `--scale` gives, and row 9's backbones
(pure: no framework).

At `--scale 1` the sizes aim at about 10 minutes on 2 CPU cores for rows 1-8 (row 9
adds its backbones); `--scale 8` is for a GPU. Below 1 every row runs once on a
handful of images, in seconds: the end-to-end test's check that every row runs. Its
figures are not measurements (one repeat, a few images), so such a run says so in the
results' `scale`.
"""

import dataclasses

from cxr.errors import UserError
from cxr.model import backbones

SIZE = 224  # the resolution of every row
# Row 9 leaves `tiny` out unless named: it is a test network, not a choice for a study.
NOT_BY_DEFAULT = ("tiny",)


@dataclasses.dataclass(frozen=True)
class Sizes:
    """The data sizes, steps and repeats of one run.

    Attributes:
        scale: `--scale`, as given.
        repeats: timed repeats per figure after one warm-up (rows 1, 3; others fewer).
        few_repeats: the repeats of the slower figures (rows 2, 4, 6, 7, 8, 9).
        build_repeats: the repeats of row 5's whole builds.
        patients: synthetic patients of the dataset rows 2 and 3 read.
        build_patients: synthetic patients of row 5's 1024 px build.
        sample_images: real PNGs of row 5's build of the sample; None: every one.
        epoch_steps: training steps per repeat of row 6.
        resamples: bootstrap resamples of row 7's scoring.
        saliency_images: scales row 8's images per repeat (at least 1 each).
    """

    scale: float
    repeats: int
    few_repeats: int
    build_repeats: int
    patients: int
    build_patients: int
    sample_images: int | None
    epoch_steps: int
    resamples: int
    saliency_images: float

    @classmethod
    def at(cls, scale: float) -> "Sizes":
        """The sizes of `--scale scale`; a `UserError` for a scale that is not positive."""
        if not scale > 0:
            raise UserError(f"--scale {scale}: use a positive number (1 on a CPU, 8 on a GPU)")
        check = scale < 1  # a run that checks every row, not one that measures
        return cls(
            scale=scale,
            repeats=1 if check else 5,
            few_repeats=1 if check else 3,
            build_repeats=1 if check else 2,
            patients=max(4, round(100 * scale)),
            build_patients=max(2, round(40 * scale)),
            sample_images=max(4, round(195 * scale)) if check else None,
            epoch_steps=max(1, round(10 * scale)),
            resamples=max(10, min(1000, round(1000 * scale))),
            saliency_images=min(scale, 1.0),
        )

    @property
    def is_check(self) -> bool:
        """Whether this run only checks that every row runs (scale below 1)."""
        return self.scale < 1


def row9_backbones(value: str | None) -> list[str]:
    """`--backbones`: the names given, every registered one but `tiny` (None), or none.

    Raises:
        UserError: naming an unknown backbone and listing the registered ones.
    """
    if value is None:
        return [n for n in backbones.names() if n not in NOT_BY_DEFAULT]
    if value.strip().lower() == "none":
        return []
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise UserError("--backbones: give names separated by commas, or 'none'")
    for name in names:
        if name not in backbones.names():
            raise UserError(
                f"--backbones: unknown backbone {name!r}; use some of {','.join(backbones.names())}"
            )
    return names


def check_backbone(name: str) -> str:
    """`--backbone`: a registered name (`UserError` naming the registered ones otherwise)."""
    if name not in backbones.names():
        raise UserError(f"--backbone {name!r}: unknown; use one of {', '.join(backbones.names())}")
    return name


def epoch_backbones(value: str | None, backbone: str) -> list[str]:
    """`--epoch_backbones`: row 6's backbones; None: `backbone` alone; "all": every
    registered one but `tiny`; else names separated by commas (checked as `--backbones`)."""
    if value is None:
        return [backbone]
    if value.strip().lower() == "all":
        return row9_backbones(None)
    names = row9_backbones(value)  # "none" gives none: refused below
    if not names:
        raise UserError("--epoch_backbones: give names separated by commas, or 'all'")
    return names
