"""The registry of public scenes: complete, self-consistent, and true to the real ground truths."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from hsi.data.registry import (
    EHU_UPLOADS,
    SPY_COLORS,
    RemoteFile,
    SceneInfo,
    get_scene_info,
    list_scenes,
)
from hsi.errors import ConfigError

EXPECTED = {"indian_pines", "salinas", "salinas_a", "pavia_u", "pavia_c", "ksc", "botswana"}

# /work/shared/data/SOURCES.md
SOURCES_LABELED = {"indian_pines": 10249, "pavia_u": 42776, "salinas": 54129}
SOURCES_INDIAN_PINES_COUNTS = {
    1: 46,
    2: 1428,
    3: 830,
    4: 237,
    5: 483,
    6: 730,
    7: 28,
    8: 478,
    9: 20,
    10: 972,
    11: 2455,
    12: 593,
    13: 205,
    14: 1265,
    15: 386,
    16: 93,
}

# Relative to the shared/data folder next to the checkout (the `shared_data` fixture).
REAL_GT = {
    "indian_pines": "indian_pines/Indian_pines_gt.mat",
    "salinas": "salinas/Salinas_gt.mat",
    "pavia_u": "paviaU/PaviaU_gt.mat",
}


def test_seven_scenes_in_a_stable_order():
    assert set(list_scenes()) == EXPECTED
    assert len(list_scenes()) == 7
    assert list_scenes() == list_scenes()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scene_fields_are_consistent(name):
    info = get_scene_info(name)
    k = info.n_classes
    assert info.name == name
    assert info.title
    assert len(info.class_names) == k == len(info.class_counts) == len(info.class_ids)
    assert len(set(info.class_names)) == k
    assert list(info.class_ids) == sorted(set(info.class_ids)) and 0 not in info.class_ids
    assert sum(info.class_counts) == info.n_labeled
    h, w, b = info.shape
    assert all(isinstance(n, int) and n > 0 for n in (h, w, b))
    assert info.n_labeled < h * w
    assert info.shape_text == f"{h}×{w}×{b}"

    palette = info.palette
    assert palette.dtype == np.uint8 and palette.shape == (k, 3)
    assert len({tuple(row) for row in palette.tolist()}) == k, "colours must be distinct"
    palette[:] = 0  # a copy: the registry cannot be changed through it
    assert info.palette.any()

    assert info.sensor and info.bands_note and info.citation and info.source_url
    lo, hi = info.wavelength_nm
    assert 300 <= lo < hi <= 2600
    assert info.gsd_m > 0


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_files_point_at_the_ehu_wiki_upload_paths(name):
    info = get_scene_info(name)
    assert set(info.files) == {"cube", "labels"}
    for remote in info.files.values():
        assert remote.filename.endswith(".mat")
        assert remote.key and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", remote.key)
        # MediaWiki stores an upload under <md5[0]>/<md5[:2]>/<name>: each URL is re-derivable.
        md5 = hashlib.md5(remote.filename.encode()).hexdigest()
        assert remote.url == f"{EHU_UPLOADS}/{md5[0]}/{md5[:2]}/{remote.filename}"
        if remote.checksum is not None:
            assert remote.algorithm == "sha256"
            assert re.fullmatch(r"[0-9a-f]{64}", remote.digest)
    assert info.labels.key.endswith("_gt")
    assert info.labels.filename.endswith("_gt.mat")


def test_keys_and_names_of_the_common_scenes():
    ip = get_scene_info("indian_pines")
    assert (ip.cube.key, ip.labels.key) == ("indian_pines_corrected", "indian_pines_gt")
    assert ip.shape == (145, 145, 200)
    assert ip.class_names[0] == "Alfalfa" and ip.class_names[-1] == "Stone-Steel-Towers"
    pu = get_scene_info("pavia_u")
    assert (pu.cube.key, pu.labels.key) == ("paviaU", "paviaU_gt")
    assert pu.class_names[:2] == ("Asphalt", "Meadows")
    sa = get_scene_info("salinas_a")
    assert sa.class_ids == (1, 10, 11, 12, 13, 14)
    # Salinas-A keeps the Salinas names and colours of the ids it contains.
    sal = get_scene_info("salinas")
    by_id = dict(zip(sal.class_ids, sal.class_names, strict=True))
    assert sa.class_names == tuple(by_id[i] for i in sa.class_ids)
    colours = dict(zip(sal.class_ids, sal.palette.tolist(), strict=True))
    assert sa.palette.tolist() == [colours[i] for i in sa.class_ids]


@pytest.mark.parametrize("name", sorted(SOURCES_LABELED))
def test_labeled_counts_match_sources_md(name):
    assert get_scene_info(name).n_labeled == SOURCES_LABELED[name]


def test_indian_pines_class_counts_match_sources_md():
    info = get_scene_info("indian_pines")
    assert dict(zip(info.class_ids, info.class_counts, strict=True)) == SOURCES_INDIAN_PINES_COUNTS


def test_palette_rows_are_spectral_spy_colors():
    spectral = pytest.importorskip("spectral")
    spy = np.asarray(spectral.spy_colors)
    assert np.array_equal(np.asarray(SPY_COLORS), spy[: len(SPY_COLORS)])
    for name in list_scenes():
        info = get_scene_info(name)
        assert np.array_equal(info.palette, spy[list(info.class_ids)])


@pytest.mark.parametrize("query", ["indian_pines", "Indian-Pines", " INDIAN_PINES "])
def test_lookup_ignores_case_and_dashes(query):
    assert get_scene_info(query).name == "indian_pines"


def test_unknown_name_lists_the_choices():
    with pytest.raises(ConfigError) as err:
        get_scene_info("houston")
    message = str(err.value)
    assert message.startswith("unknown dataset 'houston'; choose one of: ")
    assert all(name in message for name in EXPECTED)
    assert "\n" not in message


def test_inconsistent_scene_info_is_refused():
    remote = RemoteFile("a.mat", "http://x/a.mat", "a")
    good = {
        "name": "x",
        "title": "X",
        "cube": remote,
        "labels": remote,
        "shape": (2, 2, 3),
        "n_labeled": 3,
        "class_ids": (1, 2),
        "class_names": ("a", "b"),
        "class_counts": (1, 2),
        "sensor": "s",
        "wavelength_nm": (400, 900),
        "gsd_m": 1.0,
        "bands_note": "",
    }
    assert SceneInfo(**good).palette.shape == (2, 3)
    for bad in (
        {"class_names": ("a",)},
        {"class_counts": (1, 1)},
        {"class_ids": (2, 1)},
        {"class_ids": (0, 1)},
        {"palette_rgb": ((1, 2, 3),)},
    ):
        with pytest.raises(ValueError, match="scene 'x'"):
            SceneInfo(**{**good, **bad})
    with pytest.raises(ValueError, match="checksum"):
        RemoteFile("a.mat", "http://x/a.mat", "a", "crc32:1234")


@pytest.mark.parametrize("name", sorted(REAL_GT))
def test_registry_matches_the_real_ground_truth(name, shared_data: Path):
    scipy_io = pytest.importorskip("scipy.io")
    path = shared_data / REAL_GT[name]
    if not path.is_file():
        pytest.skip(f"{path} not available")
    info = get_scene_info(name)
    assert path.name == info.labels.filename
    gt = scipy_io.loadmat(path)[info.labels.key]
    assert gt.shape == info.shape[:2]
    ids, counts = np.unique(gt[gt != 0], return_counts=True)
    assert tuple(ids.tolist()) == info.class_ids
    assert tuple(counts.tolist()) == info.class_counts
    assert int(np.count_nonzero(gt)) == info.n_labeled
    # The published checksum is the checksum of these very bytes.
    assert hashlib.sha256(path.read_bytes()).hexdigest() == info.labels.digest
