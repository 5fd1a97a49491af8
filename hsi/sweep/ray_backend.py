"""The Ray backend: each run of a sweep is a Ray task; workers need no shared file system.

The driver (``hsi sweep --backend ray``) reads and prepares the scene once and puts it in Ray's
object store (``ray.put``); every node fetches it once, however many of its runs it trains.
Each (model, training size, seed) run is a task asking for ``num_cpus`` = the run's PyTorch
threads (and one GPU with ``device='cuda'``). The task trains into a temporary folder on its
worker with :func:`hsi.experiment.train_run`, exactly as the local backend does, and returns the
run folder's files as ``{relative path: bytes}`` (a run folder is a few hundred kB). The driver
writes them into the sweep folder under a temporary name and renames it into place, as
:func:`hsi.runfolder.write_run` does, so a run folder, resumption and the summary are the same
as with the local backend.

Without an ``address`` the driver starts a local Ray on this machine's cores and stops it at
the end; with one (``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``) it joins that cluster and
leaves it running. When Ray is already initialised in this process, that instance is used.
Ray is imported only here, and only when this backend runs.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hsi.config import TrainConfig
from hsi.errors import ConfigError, HSIError
from hsi.seeding import usable_cores
from hsi.sweep.backend import Finished, RunSpec
from hsi.sweep.folder import _read_metrics, write_files
from hsi.sweep.local import default_threads

NEEDS_RAY = "backend ray needs Ray: pip install -e '.[ray]'"


def import_ray() -> Any:
    """``ray``, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(NEEDS_RAY, params=("backend",)) from None
    return ray


class RayBackend:
    """Runs as Ray tasks of ``threads(config)`` CPUs each (``--threads``, else ``cores // jobs``
    of the driver's machine, as the local backend gives)."""

    name = "ray"

    def __init__(self, jobs: int = 1, address: str | None = None) -> None:
        self.jobs = jobs
        self.address = address
        import_ray()  # fail before any data is read

    def threads(self, config: TrainConfig) -> int:
        return config.threads if config.threads is not None else default_threads(self.jobs)

    def run(
        self,
        specs: Sequence[RunSpec],
        scenes: Mapping[Hashable, Any],
        finished: Finished,
    ) -> None:
        ray = import_ray()
        threads = self.threads(specs[0].config)
        gpus = 1 if specs[0].config.device == "cuda" else 0
        started = self._connect(ray, threads)
        pending: dict[Any, RunSpec] = {}
        try:
            _check_fits(ray, threads, gpus, started)
            refs = {key: ray.put(prepared) for key, prepared in scenes.items()}
            task = ray.remote(_train_task).options(num_cpus=threads, num_gpus=gpus)
            for spec in specs:
                pending[task.remote(spec.config, refs[spec.scene_key], threads)] = spec
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    spec = pending.pop(ref)
                    result = _result(ray, ref, spec)
                    if result["interrupted"]:
                        raise KeyboardInterrupt
                    write_files(spec.run_dir, result["files"])
                    finished(spec, _read_metrics(spec.run_dir) or {})
        except BaseException:
            # Ctrl-C or a failed run: start no other run and stop the running ones; finished
            # runs are on disk, the others are trained on resume.
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            if started:
                ray.shutdown()

    def _connect(self, ray: Any, threads: int) -> bool:
        """Join the cluster at ``address``, or start a local Ray; True when started here."""
        if ray.is_initialized():
            return False
        quiet = {"logging_level": logging.WARNING, "include_dashboard": False}
        if self.address is not None:
            try:
                ray.init(address=self.address, **quiet)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise ConfigError(
                    f"address {self.address}: cannot connect to a Ray cluster "
                    f"({' '.join(str(exc).split())[:200]})",
                    params=("address",),
                ) from None
        else:
            logging.getLogger(_RAY_AUTH_LOGGER).addFilter(_without_token_notice)
            # a run asking for more CPUs than the cluster has would wait forever
            ray.init(num_cpus=max(usable_cores(), threads), **quiet)
        return True


# Recent Ray (2.60 here) turns token authentication on for each new local cluster and says so
# with a WARNING on every start, under `-q` too. The cluster hsi starts lives for one command and
# keeps that setting; only the notice goes. Ray's warning that authentication is *off* still shows.
_RAY_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"


def _without_token_notice(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("Token authentication is enabled for this Ray")


def _check_fits(ray: Any, threads: int, gpus: int, started: bool) -> None:
    """A run that no node can take would wait forever: an error on a Ray started here, a
    warning on a cluster (an autoscaler may still add such a node)."""
    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    if any(r.get("CPU", 0) >= threads and r.get("GPU", 0) >= gpus for r in nodes):
        return
    need = f"{threads} CPU(s)" + (f" and {gpus} GPU" if gpus else "")
    have = ", ".join(f"{r.get('CPU', 0):g} CPU / {r.get('GPU', 0):g} GPU" for r in nodes)
    message = f"each run asks Ray for {need}, but no node has that ({have or 'no node'})"
    if started:
        raise ConfigError(
            f"{message}; lower threads, or use device cpu", params=("threads", "device")
        )
    warnings.warn(f"{message}: the runs wait until such a node joins", stacklevel=2)


def _result(ray: Any, ref: Any, spec: RunSpec) -> dict[str, Any]:
    """The task's result; its own error (an HSIError) as is, Ray's failures in one line."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, HSIError):
            raise cause from None
        raise
    except ray.exceptions.RayError as exc:
        where = f"{spec.model}, train size {spec.train_size}, seed {spec.seed}"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise HSIError(f"run {where}: Ray could not finish it ({first})") from None


def _train_task(config: TrainConfig, prepared: Any, threads: int) -> dict[str, Any]:
    """On a worker: train one run into a temporary folder; return its files and whether it was
    interrupted."""
    import torch

    from hsi.experiment import train_run

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="hsi-ray-") as tmp:
        run_dir = Path(tmp) / "run"
        result = train_run(config, prepared, run_dir=run_dir, progress=False)
        files = {
            path.relative_to(run_dir).as_posix(): path.read_bytes()
            for path in sorted(run_dir.rglob("*"))
            if path.is_file()
        }
    return {"files": files, "interrupted": result.interrupted}
