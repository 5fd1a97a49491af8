"""The standard public hyperspectral scenes: where to get them and what they contain.

Every scene is distributed by the Grupo de Inteligencia Computacional (GIC) of the University of
the Basque Country (UPV/EHU) as two MATLAB files, a cube and a ground truth, at
https://www.ehu.eus/ccwintco/index.php/Hyperspectral_Remote_Sensing_Scenes. The download URLs are
that wiki's upload paths, ``uploads/<h>/<hh>/<File>`` where ``hh`` are the first two hex digits of
the MD5 of the file name (MediaWiki's layout, so each URL can be re-derived from its name).

Known checksums are only those published by independent public sources that agree with each other
(and, for the three ground truths shipped with the project's test data, with those bytes). Scenes
without one are protected by the hash recorded when they are first downloaded (see
:mod:`hsi.data.fetch`).

Palettes: row ``k`` is ``spectral.spy_colors[class_ids[k]]``, the colours that SPy's ``imshow``
gives ground-truth id ``class_ids[k]``, so maps look the same in both tools and Salinas-A keeps the
colours of the Salinas classes it contains.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hsi.errors import ConfigError

EHU_PAGE = "https://www.ehu.eus/ccwintco/index.php/Hyperspectral_Remote_Sensing_Scenes"
EHU_UPLOADS = "https://www.ehu.eus/ccwintco/uploads"

# spectral.spy_colors[0:17] (SPy 0.23–0.25), copied so that importing the registry stays cheap;
# tests/test_registry.py checks it still matches the installed `spectral`.
SPY_COLORS: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0),
    (255, 0, 0),
    (0, 255, 0),
    (0, 0, 255),
    (255, 255, 0),
    (255, 0, 255),
    (0, 255, 255),
    (200, 100, 0),
    (0, 200, 100),
    (100, 0, 200),
    (200, 0, 100),
    (100, 200, 0),
    (0, 100, 200),
    (150, 75, 75),
    (75, 150, 75),
    (75, 75, 150),
    (255, 100, 100),
)

_HASH_ALGORITHMS = ("sha256", "md5")


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file of a scene.

    ``checksum`` follows pooch's convention, ``"sha256:<hex>"`` or ``"md5:<hex>"``, or is ``None``
    when no trustworthy published value exists.
    """

    filename: str
    url: str
    key: str
    checksum: str | None = None

    def __post_init__(self) -> None:
        if self.checksum is not None:
            alg, _, digest = self.checksum.partition(":")
            if alg not in _HASH_ALGORITHMS or not digest:
                raise ValueError(
                    f"{self.filename}: checksum must look like 'sha256:<hex>' or 'md5:<hex>', "
                    f"got {self.checksum!r}"
                )

    @property
    def algorithm(self) -> str | None:
        return None if self.checksum is None else self.checksum.partition(":")[0]

    @property
    def digest(self) -> str | None:
        return None if self.checksum is None else self.checksum.partition(":")[2].lower()


@dataclass(frozen=True)
class SceneInfo:
    """What is known about a public scene before downloading it.

    ``class_ids`` are the ground truth's own ids (0 = unlabeled is never one of them);
    ``class_names``, ``class_counts`` and ``palette`` rows follow the same order.
    """

    name: str
    title: str
    cube: RemoteFile
    labels: RemoteFile
    shape: tuple[int, int, int]
    n_labeled: int
    class_ids: tuple[int, ...]
    class_names: tuple[str, ...]
    class_counts: tuple[int, ...]
    sensor: str
    wavelength_nm: tuple[int, int]
    gsd_m: float
    bands_note: str
    source_url: str = EHU_PAGE
    citation: str = ""
    palette_rgb: tuple[tuple[int, int, int], ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        k = len(self.class_ids)
        if not self.palette_rgb:
            object.__setattr__(
                self,
                "palette_rgb",
                tuple(SPY_COLORS[i % len(SPY_COLORS)] for i in self.class_ids),
            )
        problems = []
        if len(self.class_names) != k:
            problems.append(f"{len(self.class_names)} class names for {k} class ids")
        if len(self.class_counts) != k:
            problems.append(f"{len(self.class_counts)} class counts for {k} class ids")
        if len(self.palette_rgb) != k:
            problems.append(f"{len(self.palette_rgb)} palette rows for {k} class ids")
        if 0 in self.class_ids or list(self.class_ids) != sorted(set(self.class_ids)):
            problems.append("class ids must be increasing, unique and non-zero")
        if sum(self.class_counts) != self.n_labeled:
            problems.append(f"class counts sum to {sum(self.class_counts)}, not {self.n_labeled}")
        if len(self.shape) != 3:
            problems.append(f"shape must be (H, W, B), got {self.shape}")
        if problems:
            raise ValueError(f"scene {self.name!r}: " + "; ".join(problems))

    @property
    def n_classes(self) -> int:
        return len(self.class_ids)

    @property
    def palette(self) -> np.ndarray:
        """The default colours, ``(K, 3)`` uint8, one row per class (a fresh copy)."""
        return np.asarray(self.palette_rgb, dtype=np.uint8).reshape(-1, 3)

    @property
    def files(self) -> dict[str, RemoteFile]:
        return {"cube": self.cube, "labels": self.labels}

    @property
    def shape_text(self) -> str:
        return "×".join(str(n) for n in self.shape)


def _ehu(path: str, key: str, checksum: str | None = None) -> RemoteFile:
    return RemoteFile(
        filename=path.rsplit("/", 1)[-1], url=f"{EHU_UPLOADS}/{path}", key=key, checksum=checksum
    )


_HAM_2005 = (
    "J. Ham, Y. Chen, M. M. Crawford, J. Ghosh, 'Investigation of the random forest framework for "
    "classification of hyperspectral data', IEEE TGRS 43(3):492-501, 2005"
)

_SALINAS_NAMES = (
    "Brocoli_green_weeds_1",
    "Brocoli_green_weeds_2",
    "Fallow",
    "Fallow_rough_plow",
    "Fallow_smooth",
    "Stubble",
    "Celery",
    "Grapes_untrained",
    "Soil_vinyard_develop",
    "Corn_senesced_green_weeds",
    "Lettuce_romaine_4wk",
    "Lettuce_romaine_5wk",
    "Lettuce_romaine_6wk",
    "Lettuce_romaine_7wk",
    "Vinyard_untrained",
    "Vinyard_vertical_trellis",
)

# Published SHA-256 values are adopted only when at least two independent public sources agree
# (for three ground truths, also the copies in the shared test data). Values seen in one source so
# far, not enforced because a wrong known hash would make a scene impossible to obtain:
#   ksc       KSC.mat b1ad011cfdb65c853e4f9f6108ca4774467d87f90a5c23b74ff3a2984a3b4786
#             KSC_gt.mat a1d6ab9293691006bd4d9742d1a1e1c141b1aaa5fbc5fa128b33c1d09038510b
#   botswana  Botswana.mat f1603903c844cdc2980550b0180688e8e1a72d4292595d1120e1dec2a80a91c7
#             Botswana_gt.mat 668394905e10e629c16584bfd02b0f533b96d6ba18a63274a94ff3a77126a887
#   pavia_c   Pavia.mat b60341da323fd271cd97dd6d7a69514d385ccd7fdfc5a60c4ff5994b047f152e
#             Pavia_gt.mat 7eb54ab81b404dd3ae572e6d0ec211595029e5a847bec2cfb8f9e72d07066b69
_SCENES: tuple[SceneInfo, ...] = (
    SceneInfo(
        name="indian_pines",
        title="Indian Pines",
        cube=_ehu(
            "6/67/Indian_pines_corrected.mat",
            "indian_pines_corrected",
            "sha256:ec2f8808710919d566f70f0d4aa885aae1ddfd42b734aba71c5e12ca65450939",
        ),
        labels=_ehu(
            "c/c4/Indian_pines_gt.mat",
            "indian_pines_gt",
            "sha256:65c4687a8ab04f6da4789799bc3bc4f6e88bccac3ed6a2e6ae367e5e6b9e429c",
        ),
        shape=(145, 145, 200),
        n_labeled=10249,
        class_ids=tuple(range(1, 17)),
        class_names=(
            "Alfalfa",
            "Corn-notill",
            "Corn-mintill",
            "Corn",
            "Grass-pasture",
            "Grass-trees",
            "Grass-pasture-mowed",
            "Hay-windrowed",
            "Oats",
            "Soybean-notill",
            "Soybean-mintill",
            "Soybean-clean",
            "Wheat",
            "Woods",
            "Buildings-Grass-Trees-Drives",
            "Stone-Steel-Towers",
        ),
        class_counts=(
            46,
            1428,
            830,
            237,
            483,
            730,
            28,
            478,
            20,
            972,
            2455,
            593,
            205,
            1265,
            386,
            93,
        ),
        sensor="AVIRIS (airborne), Indian Pines test site, north-western Indiana, 12 June 1992",
        wavelength_nm=(400, 2500),
        gsd_m=20.0,
        bands_note=(
            "224 sensor channels; the corrected cube keeps 200 after removing the water-absorption "
            "bands 104-108, 150-163 and 220"
        ),
        citation=(
            "M. F. Baumgardner, L. L. Biehl, D. A. Landgrebe, '220 Band AVIRIS Hyperspectral Image "
            "Data Set: June 12, 1992 Indian Pine Test Site 3', Purdue University Research "
            "Repository, 2015, doi:10.4231/R7RX991C"
        ),
    ),
    SceneInfo(
        name="salinas",
        title="Salinas",
        cube=_ehu(
            "a/a3/Salinas_corrected.mat",
            "salinas_corrected",
            "sha256:5ec1c0d22f56d18ecd336f8e35735863c0f160682e04e0c18ef3f89a3334d87d",
        ),
        labels=_ehu(
            "f/fa/Salinas_gt.mat",
            "salinas_gt",
            "sha256:ecfab4d31ef5553f097943235d8ea502038eb4a2067b2ad10b33e37c949955e2",
        ),
        shape=(512, 217, 204),
        n_labeled=54129,
        class_ids=tuple(range(1, 17)),
        class_names=_SALINAS_NAMES,
        class_counts=(
            2009,
            3726,
            1976,
            1394,
            2678,
            3959,
            3579,
            11271,
            6203,
            3278,
            1068,
            1927,
            916,
            1070,
            7268,
            1807,
        ),
        sensor="AVIRIS (airborne), Salinas Valley, California",
        wavelength_nm=(400, 2500),
        gsd_m=3.7,
        bands_note=(
            "224 sensor channels; the corrected cube keeps 204 after removing the water-absorption "
            "bands 108-112, 154-167 and 224"
        ),
        citation=f"GIC UPV/EHU, Hyperspectral Remote Sensing Scenes, {EHU_PAGE}",
    ),
    SceneInfo(
        name="salinas_a",
        title="Salinas-A",
        cube=_ehu("1/1a/SalinasA_corrected.mat", "salinasA_corrected"),
        labels=_ehu("a/aa/SalinasA_gt.mat", "salinasA_gt"),
        shape=(83, 86, 204),
        n_labeled=5348,
        # A subscene of Salinas that keeps the Salinas ids, hence the gap between 1 and 10.
        class_ids=(1, 10, 11, 12, 13, 14),
        class_names=(
            "Brocoli_green_weeds_1",
            "Corn_senesced_green_weeds",
            "Lettuce_romaine_4wk",
            "Lettuce_romaine_5wk",
            "Lettuce_romaine_6wk",
            "Lettuce_romaine_7wk",
        ),
        class_counts=(391, 1343, 616, 1525, 674, 799),
        sensor="AVIRIS (airborne), a subscene of the Salinas Valley scene",
        wavelength_nm=(400, 2500),
        gsd_m=3.7,
        bands_note="the same 204 corrected bands as Salinas",
        citation=f"GIC UPV/EHU, Hyperspectral Remote Sensing Scenes, {EHU_PAGE}",
    ),
    SceneInfo(
        name="pavia_u",
        title="Pavia University",
        cube=_ehu(
            "e/ee/PaviaU.mat",
            "paviaU",
            "sha256:28447fa87f7a5797845e9a189c0da85e23b1d06a4ba7361e5ff44efbf834d2fb",
        ),
        labels=_ehu(
            "5/50/PaviaU_gt.mat",
            "paviaU_gt",
            "sha256:23f6a426928f9b32984adffe659e29f554f9fb6c93b5a107528d308d5087a829",
        ),
        shape=(610, 340, 103),
        n_labeled=42776,
        class_ids=tuple(range(1, 10)),
        class_names=(
            "Asphalt",
            "Meadows",
            "Gravel",
            "Trees",
            "Painted metal sheets",
            "Bare Soil",
            "Bitumen",
            "Self-Blocking Bricks",
            "Shadows",
        ),
        class_counts=(6631, 18649, 2099, 3064, 1345, 5029, 1330, 3682, 947),
        sensor="ROSIS (airborne), University of Pavia, northern Italy",
        wavelength_nm=(430, 860),
        gsd_m=1.3,
        bands_note="115 sensor channels; 103 kept after removing the noisiest bands",
        citation=(
            f"GIC UPV/EHU, Hyperspectral Remote Sensing Scenes, {EHU_PAGE} "
            "(data courtesy of Prof. Paolo Gamba, University of Pavia)"
        ),
    ),
    SceneInfo(
        name="pavia_c",
        title="Pavia Centre",
        cube=_ehu("e/e3/Pavia.mat", "pavia"),
        labels=_ehu("5/53/Pavia_gt.mat", "pavia_gt"),
        shape=(1096, 715, 102),
        n_labeled=148152,
        class_ids=tuple(range(1, 10)),
        class_names=(
            "Water",
            "Trees",
            "Asphalt",
            "Self-Blocking Bricks",
            "Bitumen",
            "Tiles",
            "Shadows",
            "Meadows",
            "Bare Soil",
        ),
        class_counts=(65971, 7598, 3090, 2685, 6584, 9248, 7287, 42826, 2863),
        sensor="ROSIS (airborne), centre of Pavia, northern Italy",
        wavelength_nm=(430, 860),
        gsd_m=1.3,
        bands_note=(
            "115 sensor channels; 102 kept after removing the noisiest bands; a strip without "
            "information was cut from the 1096×1096 image, leaving 1096×715"
        ),
        citation=(
            f"GIC UPV/EHU, Hyperspectral Remote Sensing Scenes, {EHU_PAGE} "
            "(data courtesy of Prof. Paolo Gamba, University of Pavia)"
        ),
    ),
    SceneInfo(
        name="ksc",
        title="Kennedy Space Center",
        cube=_ehu("2/26/KSC.mat", "KSC"),
        labels=_ehu("a/a6/KSC_gt.mat", "KSC_gt"),
        shape=(512, 614, 176),
        n_labeled=5211,
        class_ids=tuple(range(1, 14)),
        # The names of Ham et al. (2005); the EHU page abbreviates them (CP = cabbage palm).
        class_names=(
            "Scrub",
            "Willow swamp",
            "Cabbage palm hammock",
            "Cabbage palm/oak hammock",
            "Slash pine",
            "Oak/broadleaf hammock",
            "Hardwood swamp",
            "Graminoid marsh",
            "Spartina marsh",
            "Cattail marsh",
            "Salt marsh",
            "Mud flats",
            "Water",
        ),
        class_counts=(761, 243, 256, 252, 161, 229, 105, 431, 520, 404, 419, 503, 927),
        sensor="AVIRIS (airborne), Kennedy Space Center, Florida, 23 March 1996",
        wavelength_nm=(400, 2500),
        gsd_m=18.0,
        bands_note=(
            "224 sensor channels of 10 nm; 176 kept after removing water-absorption and low-SNR "
            "bands"
        ),
        citation=_HAM_2005,
    ),
    SceneInfo(
        name="botswana",
        title="Botswana (Okavango Delta)",
        cube=_ehu("7/72/Botswana.mat", "Botswana"),
        labels=_ehu("5/58/Botswana_gt.mat", "Botswana_gt"),
        shape=(1476, 256, 145),
        n_labeled=3248,
        class_ids=tuple(range(1, 15)),
        class_names=(
            "Water",
            "Hippo grass",
            "Floodplain grasses 1",
            "Floodplain grasses 2",
            "Reeds",
            "Riparian",
            "Firescar",
            "Island interior",
            "Acacia woodlands",
            "Acacia shrublands",
            "Acacia grasslands",
            "Short mopane",
            "Mixed mopane",
            "Exposed soils",
        ),
        class_counts=(270, 101, 251, 215, 269, 269, 259, 203, 314, 248, 305, 181, 268, 95),
        sensor="Hyperion on NASA EO-1 (satellite), Okavango Delta, Botswana, 31 May 2001",
        wavelength_nm=(400, 2500),
        gsd_m=30.0,
        bands_note=(
            "242 sensor channels of 10 nm; 145 kept (10-55, 82-97, 102-119, 134-164, 187-220) "
            "after removing uncalibrated, noisy and water-absorption bands"
        ),
        citation=_HAM_2005,
    ),
)

_REGISTRY: dict[str, SceneInfo] = {info.name: info for info in _SCENES}


def list_scenes() -> list[str]:
    """Names of the known scenes, in registry order."""
    return list(_REGISTRY)


def get_scene_info(name: str) -> SceneInfo:
    """The registry entry for ``name`` (case and ``-``/``_`` are ignored)."""
    key = str(name).strip().lower().replace("-", "_")
    try:
        return _REGISTRY[key]
    except KeyError:
        raise ConfigError(
            f"unknown dataset {name!r}; choose one of: {', '.join(_REGISTRY)}"
        ) from None
