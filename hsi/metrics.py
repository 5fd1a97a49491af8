"""Overall accuracy, average accuracy, Cohen's kappa, per-class accuracy and the confusion matrix.

Computed with scikit-learn on class *indices* 0..K-1; reports speak in the ground truth's ids.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix


def accuracy_report(
    y_true: np.ndarray, y_pred: np.ndarray, class_ids: np.ndarray, class_names: list[str]
) -> dict[str, Any]:
    """OA, AA (mean per-class recall over the classes present in ``y_true``), kappa, per class.

    A class with no test pixel has accuracy ``None`` and is left out of AA (said in ``notes``).
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    k = len(class_ids)
    if y_true.size == 0:
        raise ValueError("no pixels to evaluate")
    cm = confusion_matrix(y_true, y_pred, labels=np.arange(k))
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.diag(cm) / support
    present = support > 0
    per_class = {
        str(int(cid)): {
            "name": class_names[i],
            "accuracy": float(recall[i]) if present[i] else None,
            "support": int(support[i]),
        }
        for i, cid in enumerate(class_ids)
    }
    notes = [f"class {int(class_ids[i])} has no test pixel" for i in np.flatnonzero(~present)]
    with warnings.catch_warnings():
        # scikit-learn warns, with its own source line, when every pixel and every prediction
        # is one class (expected agreement 1, kappa 0/0): that case is handled just below
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        kappa = cohen_kappa_score(y_true, y_pred, labels=np.arange(k))
    if not np.isfinite(kappa):
        notes.append("kappa is undefined when every pixel and prediction is one class: 1 given")
    return {
        "oa": float(accuracy_score(y_true, y_pred)),
        "aa": float(recall[present].mean()),
        "kappa": float(kappa) if np.isfinite(kappa) else 1.0,
        "per_class": per_class,
        "confusion": cm.tolist(),
        "n": int(y_true.size),
        "notes": notes,
    }


#: the name of earlier versions; not scikit-learn's function of that name (this returns a dict
#: of OA, AA, Kappa, per-class accuracy and the confusion matrix)
classification_report = accuracy_report
