"""A sweep backend: something that trains a list of runs and puts each run's folder in place.

A sweep plans its runs (:class:`RunSpec`: a run's complete config and the folder it goes to),
skips the finished ones, prepares the scene once and hands the rest to a backend::

    backend.run(specs, scenes, finished)

``scenes`` maps :func:`scene_key` of a run's config to its :class:`~hsi.stages.PreparedScene`
(models with the same PCA share one). For each spec the backend trains the run and makes
``spec.run_dir`` hold exactly the folder :func:`hsi.experiment.train_run` writes, complete or
not at all (assembled under a temporary name, then renamed), then calls
``finished(spec, metrics)``. Where the training happens is the backend's business: in this
process, a local process pool (:mod:`hsi.sweep.local`) or a Ray cluster whose workers hand the
run folder's files back (:mod:`hsi.sweep.ray_backend`). Resumption (a run is finished when its
``metrics.json`` exists and was not interrupted) and the summary do not depend on it.

``threads(config)`` is the number of PyTorch threads each run gets (``None``: this process's
own); the weights depend on it, so the summary records it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hsi.config import TrainConfig
from hsi.errors import ConfigError

if TYPE_CHECKING:
    from hsi.stages import PreparedScene

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: its own config (model, training size and seed set) and its folder."""

    config: TrainConfig
    run_dir: Path

    @property
    def model(self) -> str:
        return self.config.model

    @property
    def train_size(self) -> float | int:
        return self.config.train_size

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def scene_key(self) -> Hashable:
        return scene_key(self.config)


Finished = Callable[[RunSpec, dict[str, Any]], None]


class Backend(Protocol):
    name: str

    def threads(self, config: TrainConfig) -> int | None: ...

    def run(
        self,
        specs: Sequence[RunSpec],
        scenes: Mapping[Hashable, PreparedScene],
        finished: Finished,
    ) -> None: ...


def scene_key(config: TrainConfig) -> Hashable:
    """Runs whose configs share this key can share one prepared scene.

    With ``pca_fit='scene'`` the prepared scene holds the PCA, so it depends on the number of
    components and the whitening; with ``pca_fit='train'`` every run fits its own.
    """
    if config.pca_fit == "scene":
        return ("scene", config.pca, config.whiten)
    return ("train",)


def make_backend(name: str = "local", *, jobs: int = 1, address: str | None = None) -> Backend:
    """The backend called ``name``: ``local`` (this process or ``jobs`` processes) or ``ray``."""
    if jobs < 1:
        raise ConfigError(f"jobs must be at least 1, got {jobs}", params=("jobs",))
    if name == "local":
        if address is not None:
            raise ConfigError(
                "address is for backend ray; the local backend runs on this machine",
                params=("address", "backend"),
            )
        from hsi.sweep.local import LocalBackend

        return LocalBackend(jobs)
    if name == "ray":
        from hsi.sweep.ray_backend import RayBackend

        return RayBackend(jobs=jobs, address=address)
    raise ConfigError(
        f"backend must be one of {', '.join(BACKENDS)}, got {name!r}", params=("backend",)
    )
