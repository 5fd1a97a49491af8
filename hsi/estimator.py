"""``HSIClassifier``: the training run as a scikit-learn style estimator over in-memory arrays.

>>> from hsi import HSIClassifier, make_scene
>>> scene = make_scene(32, 32, bands=40, n_classes=4, seed=0)
>>> clf = HSIClassifier(pca=13, patch=9, epochs=5, train_size=0.3, threads=1)
>>> clf.fit(scene.cube, scene.labels)                      # doctest: +SKIP
>>> clf.predict(scene.cube)                               # (H, W) map of the ground truth's ids

The constructor stores its parameters unchanged (those of :class:`~hsi.config.TrainConfig` that
make sense in memory, under the same names); ``fit`` runs the same stages as ``hsi train``
(:func:`hsi.experiment.fit_run`: split, PCA, seeded fit) on a scene built from the arrays, so
the same data, options, seed and thread count give the same weights as ``train_run``. Nothing is
written unless ``out`` names a folder: then the run folder ``hsi train`` writes is written there
too. What ``fit`` learns is in attributes ending in ``_``; ``save`` and ``load`` go through the
model bundle (:class:`~hsi.bundle.ModelBundle`, read with ``torch.load(weights_only=True)``), so
``HSIClassifier.load("runs/latest")`` also takes a model trained by ``hsi train``.

Probabilities: ``predict_proba`` is the softmax of a network's logits. The SVM (``model="svm"``)
has none — its scores are one-vs-one votes, not probabilities — so for it ``predict_proba``
does not exist (``hasattr(clf, "predict_proba")`` is False, and calling it raises
:class:`NoProbabilities`, an AttributeError); ``decision_function`` gives every model's raw
scores (logits, or the SVM's votes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from hsi.bundle import ModelBundle
from hsi.config import TrainConfig
from hsi.data.scene import Scene, indices_to_ids
from hsi.errors import DataError, ModelError

__all__ = ["HSIClassifier", "NoProbabilities", "scene_from_arrays"]


class NoProbabilities(ModelError, AttributeError):
    """The model gives no class probabilities (the SVM): an AttributeError too, as scikit-learn
    expects of a missing ``predict_proba``."""


def _check_probabilities(estimator: HSIClassifier) -> None:
    from hsi.models import model_class

    try:
        cls = model_class(estimator.model)
    except ModelError:
        return  # an unknown name: fit says so, with the list of models
    if not cls.trained_by_gradient:
        raise NoProbabilities(
            f"{estimator.model} gives no class probabilities (its scores are one-vs-one votes); "
            "use predict, or decision_function for the votes"
        )


class HSIClassifier(ClassifierMixin, BaseEstimator):
    """A hyperspectral pixel classifier: PCA, windows, a registered model, fitted on one scene.

    Parameters are :class:`~hsi.config.TrainConfig`'s (docs/training.md explains the defaults):
    the model (``model``, ``model_options``, ``init``), the PCA (``pca``, ``whiten``,
    ``pca_fit``), the windows (``patch``, ``padding``), the split of the labeled pixels into
    training, validation and the rest (``split``, ``train_size``, ``val_size``,
    ``block_size``, ``buffer``), the optimisation (``epochs``, ``batch_size``, ``lr``,
    ``weight_decay``, ``patience``), reproducibility (``seed``; ``deterministic`` and
    ``threads``, PyTorch's deterministic mode and thread count while fitting and predicting:
    the caller's own are restored after each)
    and ``device``. ``nonfinite`` says what NaN/Inf pixels do ("error", or "mask": zero-filled
    and unlabeled); ``out``, a folder, makes ``fit`` also write the run folder ``hsi train
    --out`` writes (maps, metrics of the pixels the split left out, figures); ``progress``
    shows progress bars.

    Attributes after ``fit`` (or ``load``): ``model_`` (the trained network, in eval mode),
    ``reducer_`` (the PCA), ``classes_`` (the ground truth's class ids), ``class_names_``,
    ``n_features_in_`` (the cube's band count), ``history_`` (a row per epoch; None after
    ``load``: the bundle does not keep it), ``bundle_`` (what ``save`` writes), ``split_``
    (the pixels trained on, validated on, and left for testing; None after ``load``) and
    ``run_dir_`` (the run folder, with ``out``; else None).
    """

    def __init__(
        self,
        model: str = "hybridsn",
        *,
        model_options: dict[str, Any] | None = None,
        pca: int | None = None,
        whiten: bool = True,
        pca_fit: str = "scene",
        patch: int | None = None,
        padding: str = "zero",
        split: str = "stratified",
        train_size: float | int = 0.1,
        val_size: float | int = 0.1,
        block_size: int | None = None,
        buffer: int | None = None,
        init: str = "reference",
        epochs: int = 40,
        batch_size: int = 32,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        patience: int | None = 20,
        augment: bool = False,
        tta: bool = False,
        label_smoothing: float = 0.0,
        schedule: str = "constant",
        warmup: int = 0,
        seed: int = 0,
        deterministic: bool = True,
        workers: int = 0,
        threads: int | None = None,
        device: str = "auto",
        nonfinite: str = "error",
        out: str | Path | None = None,
        progress: bool = False,
    ) -> None:
        self.model = model
        self.model_options = model_options
        self.pca = pca
        self.whiten = whiten
        self.pca_fit = pca_fit
        self.patch = patch
        self.padding = padding
        self.split = split
        self.train_size = train_size
        self.val_size = val_size
        self.block_size = block_size
        self.buffer = buffer
        self.init = init
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.augment = augment
        self.tta = tta
        self.label_smoothing = label_smoothing
        self.schedule = schedule
        self.warmup = warmup
        self.seed = seed
        self.deterministic = deterministic
        self.workers = workers
        self.threads = threads
        self.device = device
        self.nonfinite = nonfinite
        self.out = out
        self.progress = progress

    # ------------------------------------------------------------------------------ fitting
    def train_config(self) -> TrainConfig:
        """The parameters as the validated TrainConfig ``fit`` runs (the scene is in memory)."""
        options = {
            name: value
            for name, value in self.get_params(deep=False).items()
            if name not in ("model_options", "out", "progress")
        }
        config = TrainConfig(
            **options,
            model_options=dict(self.model_options or {}),
            out=str(self.out) if self.out is not None else TrainConfig.out,
        )
        return config.validate(scene_given=True)

    def fit(self, cube: np.ndarray, labels: np.ndarray) -> HSIClassifier:
        """Train on a cube ``(H, W, B)`` and its ground truth ``(H, W)`` (0 = unlabeled).

        The labeled pixels are split as ``hsi train`` splits them: the model trains on the
        training part, keeps its best weights on the validation part, and never sees the rest.
        """
        from hsi import stages
        from hsi.experiment import finish_run, fit_run
        from hsi.runfolder import check_run_target
        from hsi.seeding import run_settings

        config = self.train_config()
        scene = scene_from_arrays(cube, labels, nonfinite=config.nonfinite)
        if self.out is not None:
            check_run_target(config, None)
        prepared = stages.prepare_scene(scene, config)
        # fit_run sets the run's threads and deterministic mode; the run folder's map runs with them
        with run_settings():
            fitted = fit_run(config, prepared, progress=self.progress)
            bundle = stages.make_bundle(config, scene, fitted.trained, fitted.reducer)
            self._learn(bundle, fitted.trained.model, fitted.reducer)
            self.history_ = fitted.trained.fit.history
            self.split_ = fitted.split
            self.run_dir_ = None
            if self.out is not None:
                self.run_dir_ = finish_run(config, fitted, progress=self.progress).run_dir
        return self

    def _learn(self, bundle: ModelBundle, model: Any, reducer: Any) -> None:
        self.bundle_ = bundle
        self.model_ = model
        self.reducer_ = reducer
        self.classes_ = np.asarray(bundle.class_ids, dtype=np.int64)
        self.class_names_ = list(bundle.class_names)
        self.n_features_in_ = int(bundle.n_bands)

    # ------------------------------------------------------------------------------ predicting
    def predict(self, cube: np.ndarray) -> np.ndarray:
        """The class id (one of ``classes_``) of every pixel: an ``(H, W)`` map."""
        from hsi.inference import predict_indices
        from hsi.seeding import run_settings

        mapping = self._mapping(cube)
        with run_settings(self.threads, self.deterministic):
            index = predict_indices(self.model_, **mapping)
        return indices_to_ids(index, self.classes_)

    def decision_function(self, cube: np.ndarray) -> np.ndarray:
        """Every pixel's class scores ``(H, W, K)``, in the order of ``classes_``: a network's
        logits, the SVM's one-vs-one votes. ``predict`` is their arg-max."""
        from hsi.inference import predict_scores
        from hsi.seeding import run_settings

        mapping = self._mapping(cube)
        with run_settings(self.threads, self.deterministic):
            return predict_scores(self.model_, **mapping)

    @property
    def predict_proba(self):
        """Every pixel's class probabilities ``(H, W, K)``, in the order of ``classes_``: the
        softmax of the network's logits. The SVM has none: for it the attribute does not
        exist (NoProbabilities, an AttributeError, says why)."""
        _check_probabilities(self)
        return self._predict_proba

    def _predict_proba(self, cube: np.ndarray) -> np.ndarray:
        import torch

        scores = torch.from_numpy(self.decision_function(cube))
        return torch.softmax(scores, dim=-1).numpy()

    def score(self, cube: np.ndarray, labels: np.ndarray, sample_weight: Any = None) -> float:
        """Overall accuracy over the labeled pixels of ``labels`` (ids the model does not know
        count as errors). On the training cube this includes the pixels trained on."""
        if sample_weight is not None:
            raise DataError("score: sample_weight is not supported", params=("sample_weight",))
        check_is_fitted(self)
        truth = _labels(labels)
        predicted = self.predict(cube)
        if truth.shape != predicted.shape:
            raise DataError(
                f"labels are {truth.shape[0]}×{truth.shape[1]} but the cube is "
                f"{predicted.shape[0]}×{predicted.shape[1]} (height × width must match)"
            )
        labeled = truth != 0
        if not labeled.any():
            raise DataError("labels: no labeled pixel to score (0 = unlabeled)")
        return float((predicted[labeled] == truth[labeled]).mean())

    def _mapping(self, cube: np.ndarray) -> dict[str, Any]:
        """The arguments of a whole-scene prediction of ``cube`` with the fitted model."""
        from hsi.stages import resolve_device

        check_is_fitted(self)
        cube, unread = _cube(cube, self.nonfinite)
        if cube.shape[2] != self.n_features_in_:
            raise DataError(
                f"the cube has {cube.shape[2]} bands but the model was trained on "
                f"{self.n_features_in_}"
            )
        device = resolve_device(self.device)
        self.model_.to(device)
        return {
            "reduced": self.reducer_.transform(cube),  # the fitted PCA, never refitted
            "patch": self.bundle_.patch,
            "padding": self.bundle_.padding,
            "tta": bool(self.bundle_.config.get("tta", False)),  # mapped as trained
            # zero-filled NaN/Inf pixels are no class (0; NaN scores), as in hsi predict's maps
            "mask": None if unread is None else ~unread,
            "device": device,
            "progress": self.progress,
        }

    # ------------------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write the model bundle (``model.pt``, as ``hsi train`` writes it); returns the path."""
        check_is_fitted(self)
        return self.bundle_.save(path)

    @classmethod
    def load(cls, path: str | Path, **params: Any) -> HSIClassifier:
        """A fitted classifier from a bundle: a ``save``'d file, a run folder or its model.pt.

        Its parameters are the recorded training options (``params`` replace them, e.g.
        ``device="cpu"``); ``out`` stays None.
        """
        bundle = ModelBundle.load(path)
        names = set(cls._get_param_names()) - {"out", "progress"}
        recorded = {k: v for k, v in bundle.config.items() if k in names}
        classifier = cls(**{**recorded, **params})
        classifier._learn(bundle, bundle.build_model(), bundle.reducer())
        classifier.history_ = None
        classifier.split_ = None
        classifier.run_dir_ = None
        return classifier


# ---------------------------------------------------------------------------------- arrays
def scene_from_arrays(
    cube: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    nonfinite: str = "error",
    name: str = "array",
) -> Scene:
    """A :class:`~hsi.data.scene.Scene` from in-memory arrays, checked as a file's would be."""
    cube = _cube(cube, nonfinite=None)[0]
    gt = None if labels is None else _labels(labels)
    if gt is not None and gt.shape != cube.shape[:2]:
        raise DataError(
            f"labels are {gt.shape[0]}×{gt.shape[1]} but the cube is "
            f"{cube.shape[0]}×{cube.shape[1]} (height × width must match)"
        )
    from hsi.data.io import _check_finite, _check_not_constant

    cube, gt, bad = _check_finite(_own(cube), gt, Path("cube"), nonfinite)
    _check_not_constant(cube, Path("cube"))
    ids = np.zeros(0, dtype=np.int64) if gt is None else np.unique(gt[gt != 0]).astype(np.int64)
    n_bad = 0 if bad is None else int(np.count_nonzero(bad))
    meta = {"nonfinite_pixels": n_bad, "nonfinite_mask": bad} if n_bad else {}
    if gt is not None:  # errors about the ground truth name the argument, as a file's name it
        meta["labels_source"] = "labels"
    return Scene(
        cube=cube,
        labels=gt,
        class_ids=ids,
        class_names=[f"class {i}" for i in ids],
        name=name,
        meta=meta,
    )


def _cube(cube: Any, nonfinite: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    """A 3-D real numeric array (zero-filled where not finite with ``nonfinite="mask"``) and
    the (H, W) mask of the pixels so filled (``None`` if none)."""
    cube = np.asarray(cube)
    if cube.ndim != 3 or not np.issubdtype(cube.dtype, np.number) or min(cube.shape) == 0:
        raise DataError(
            f"cube: expected a 3-D numeric array (H×W×B), got shape {cube.shape} {cube.dtype}"
        )
    if np.issubdtype(cube.dtype, np.complexfloating):
        raise DataError(f"cube: complex numbers ({cube.dtype}); pass the real part or magnitude")
    if nonfinite is not None:
        from hsi.data.io import _check_finite

        cube, _, unread = _check_finite(_own(cube), None, Path("cube"), nonfinite)
        return cube, unread
    return cube, None


def _own(cube: np.ndarray) -> np.ndarray:
    """A copy when ``cube`` holds NaN or Inf: zero-filling must never write into the caller's
    array (the reader fills its own arrays in place, not a user's)."""
    if np.issubdtype(cube.dtype, np.floating) and not np.isfinite(cube).all():
        return np.array(cube)
    return cube


def _labels(labels: Any) -> np.ndarray:
    from hsi.data.io import _validate_labels

    return _validate_labels(np.asarray(labels), Path("labels"), None)
