"""The classical baseline: an RBF support vector machine on each pixel's PCA spectrum.

Fitted with scikit-learn's ``SVC`` (libsvm), C and γ chosen by stratified cross-validation on
the training pixels only, then kept as plain tensors — support vectors, dual coefficients,
intercepts, γ — so the bundle stays loadable with ``torch.load(weights_only=True)``. Prediction
recomputes libsvm's one-vs-one vote from those tensors (in float64, as libsvm does), which gives
exactly ``SVC.predict``'s labels without unpickling anything.

It takes the same (N, k, p, p) windows as the networks and reads their centre pixel, so it runs
through the same split, training, mapping and sweep code; its default window is 1×1.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hsi.errors import ModelError
from hsi.models import PatchClassifier, register

__all__ = ["SVMClassifier", "C_GRID", "GAMMA_FACTORS"]

#: C values searched (libsvm guide: exponentially growing sequences)
C_GRID = (1.0, 10.0, 100.0, 1000.0, 10000.0)
#: γ values searched, as multiples of scikit-learn's "scale" γ = 1 / (k · Var(X))
GAMMA_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
_FOLDS = 5


@register("svm")
class SVMClassifier(PatchClassifier):
    """RBF SVM (one-vs-one, libsvm) on the centre pixel's k PCA components."""

    default_patch = 1
    #: fitted in closed form from the training pixels, not by gradient steps
    trained_by_gradient = False
    reference_init = "none"

    def __init__(self, n_components: int, patch: int, n_classes: int) -> None:
        super().__init__(n_components, patch, n_classes)
        # Empty until fitted; load_state_dict resizes them to the saved model's shapes.
        f64 = torch.float64
        self.register_buffer("support_vectors", torch.zeros(0, self.n_components, dtype=f64))
        self.register_buffer("dual_coef", torch.zeros(max(self.n_classes - 1, 1), 0, dtype=f64))
        self.register_buffer("intercept", torch.zeros(0, dtype=f64))
        self.register_buffer("n_support", torch.zeros(0, dtype=torch.int64))
        self.register_buffer("classes", torch.zeros(0, dtype=torch.int64))
        self.register_buffer("gamma", torch.zeros((), dtype=f64))

    @property
    def fitted(self) -> bool:
        return len(self.classes) > 0

    # ---- fitting --------------------------------------------------------------------------------

    def fit_pixels(self, x: np.ndarray, y: np.ndarray, *, seed: int = 0) -> dict[str, Any]:
        """Fit on pixel spectra ``x`` (n, k) with class indices ``y``; C and γ by stratified CV.

        Returns what was chosen and measured: ``C``, ``gamma``, ``cv_accuracy`` (mean over the
        folds), ``folds``, ``train_accuracy`` and ``support_vectors``.
        """
        from sklearn.model_selection import GridSearchCV, StratifiedKFold
        from sklearn.svm import SVC

        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        if x.ndim != 2 or x.shape[1] != self.n_components or len(x) != len(y):
            raise ModelError(
                f"svm: expected ({len(y)}, {self.n_components}) spectra, got {x.shape}"
            )
        classes, counts = np.unique(y, return_counts=True)
        if len(classes) < 2:
            raise ModelError("svm: the training pixels hold a single class; need at least 2")
        variance = x.var()
        scale = 1.0 / (x.shape[1] * variance) if variance > 0 else 1.0
        grid = {"C": list(C_GRID), "gamma": [scale * f for f in GAMMA_FACTORS]}
        # Every fold needs a member of each class: as many folds as the rarest class allows.
        folds = int(min(_FOLDS, max(2, counts.min())))
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed % 2**32)
        search = GridSearchCV(SVC(kernel="rbf"), grid, cv=cv, n_jobs=1, refit=True)
        with warnings.catch_warnings():
            # "The least populated class in y has only 1 members": expected for rare classes
            warnings.simplefilter("ignore", UserWarning)
            search.fit(x, y)
        self.load_svc(search.best_estimator_)
        return {
            "C": float(search.best_params_["C"]),
            "gamma": float(search.best_params_["gamma"]),
            "cv_accuracy": float(search.best_score_),
            "folds": folds,
            "train_accuracy": float((self.predict_pixels(x) == y).mean()),
            "support_vectors": int(len(self.support_vectors)),
        }

    def load_svc(self, svc: Any) -> None:
        """Take the fitted state of a scikit-learn ``SVC(kernel="rbf")`` as tensors."""
        dual, intercept = np.asarray(svc.dual_coef_), np.asarray(svc.intercept_)
        if len(svc.classes_) == 2:
            # scikit-learn flips libsvm's signs for two classes; undo it to vote as libsvm does
            dual, intercept = -dual, -intercept
        self.support_vectors = torch.from_numpy(np.asarray(svc.support_vectors_, np.float64))
        self.dual_coef = torch.from_numpy(np.ascontiguousarray(dual, dtype=np.float64))
        self.intercept = torch.from_numpy(np.ascontiguousarray(intercept, dtype=np.float64))
        self.n_support = torch.from_numpy(np.asarray(svc.n_support_, dtype=np.int64))
        self.classes = torch.from_numpy(np.asarray(svc.classes_, dtype=np.int64))
        self.gamma = torch.tensor(float(svc._gamma), dtype=torch.float64)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # The buffers' sizes depend on the fit (number of support vectors, classes seen):
        # take the saved shapes before the usual copy.
        for name in ("support_vectors", "dual_coef", "intercept", "n_support", "classes"):
            saved = state_dict.get(prefix + name)
            if isinstance(saved, Tensor):
                setattr(self, name, torch.empty_like(saved, dtype=getattr(self, name).dtype))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ---- prediction -----------------------------------------------------------------------------

    def votes(self, pixels: Tensor) -> Tensor:
        """libsvm's one-vs-one votes (N, n_classes) for pixel spectra (N, k)."""
        if not self.fitted:
            raise ModelError("svm: the model is not fitted yet")
        x = pixels.to(self.support_vectors.device, torch.float64)  # where the model is
        sv = self.support_vectors
        distances = (x * x).sum(1, keepdim=True) - 2 * x @ sv.T + (sv * sv).sum(1)[None]
        kernel = torch.exp(-self.gamma * distances.clamp_min_(0))  # (N, n_sv)
        starts = torch.cumsum(self.n_support, 0) - self.n_support
        votes = torch.zeros(len(x), self.n_classes, dtype=torch.float64, device=x.device)
        n_seen = len(self.classes)
        for pair, (i, j) in enumerate(itertools.combinations(range(n_seen), 2)):
            si, ni = int(starts[i]), int(self.n_support[i])
            sj, nj = int(starts[j]), int(self.n_support[j])
            decision = (
                kernel[:, si : si + ni] @ self.dual_coef[j - 1, si : si + ni]
                + kernel[:, sj : sj + nj] @ self.dual_coef[i, sj : sj + nj]
                + self.intercept[pair]
            )
            winner = torch.where(decision > 0, self.classes[i], self.classes[j])
            votes[torch.arange(len(x), device=x.device), winner] += 1
        if n_seen < self.n_classes:
            # a class without training pixels can never win: below every real vote count
            unseen = torch.ones(self.n_classes, dtype=torch.bool, device=votes.device)
            unseen[self.classes] = False
            votes[:, unseen] = -1.0
        return votes

    def predict_pixels(self, x: np.ndarray) -> np.ndarray:
        """Class indices for pixel spectra (n, k); libsvm's tie rule (the lowest index wins)."""
        with torch.inference_mode():
            return self.votes(torch.as_tensor(np.asarray(x))).argmax(1).cpu().numpy()

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        centre = self.patch // 2
        return self.votes(x[:, :, centre, centre]).to(x.device, x.dtype)
