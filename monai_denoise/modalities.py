"""The imaging modalities: how each is read, mapped to the networks' [0, 1] and back, and made noisy.

One :class:`Modality` per modality is the only place that says so: ``data_prep`` normalises with it, the bundle
template renders its loading, intensity mapping, noise and metadata from it, and the reports name it. Nothing else
branches on a modality's name.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from .errors import DataError


@dataclass(frozen=True)
class Modality:
    """One imaging modality.

    Attributes:
        name: short name, the prefix of its bundles (``mri`` -> ``mri_denoising_*``) and ``--modality`` value.
        title: the modality in prose (``"MRI"``, ``"CT"``, ``"radiograph"``).
        dicom_modalities: DICOM ``Modality`` values its bundles accept (``("CT",)``; ``("CR", "DX")``).
        dicom_series: a folder of DICOM files is one series, a volume (MRI, CT); otherwise each DICOM file is an
            image of its own (radiographs).
        units: the scanner units the images are read in and written back in.
        intensity_keys: top-level config keys (and defaults) of the intensity mapping, e.g. ``{"hu_window": [-1000,
            1000]}``, which the mapping's arguments refer to.
        intensity: the dictionary transform (MONAI config, no ``keys``) that maps an image in ``units`` to the
            networks' [0, 1] scale and is inverted on their output.
        prepare_intensity: its array form in ``data_prep`` (MONAI config; ``@percentiles`` refers to the prepare
            command's percentiles), clipped where the prepared slices are.
        noise: the bundles' ``noise`` section: parameters of the seeded noise of validation and test (``seed``
            included) and, unless ``train_noise`` says otherwise, of training.
        noise_transform: the dictionary noise transform; ``noise_arguments`` maps its arguments to keys of ``noise``.
            It copies the clean image to ``label`` first and takes a ``seed`` (per-item seeded noise).
        noise_reads_meta: the noise transform reads the image's meta data (CT: the pixel spacing in mm), so
            training keeps it until the noise is added.
        clip_labels: clean images can leave [0, 1] (CT: bone above the HU window), so evaluation clips them to it
            as it clips the predictions: the metrics are over the window.
        zoom_out: whether training may zoom slices out before adding noise (not where the noise texture has a
            physical scale, as CT's has).
        whole_slices: the noise needs the whole slice (CT: every ray crosses the whole body), so ``prepare`` keeps
            slices whole instead of cutting pictures into tiles.
        sample: the function that lists the embedded sample's files (``data_prep.sources``), as a dotted name.
        prepare_size: default side of the prepared slices or tiles.
        roi_size: the inference window; a slice or image smaller than it is denoised whole, in one window.
        image_format: the images' ``format`` in the bundles' ``network_data_format`` (``"magnitude"``, ...).
        description: what the bundles' ``description`` says after their title: training and inference.
        data_source: the bundles' ``data_source`` (the embedded sample and its terms).
        data_type: the bundles' ``data_type``: the file types they read.
        image_classes: the bundles' description of an input slice.
        intended_use: the bundles' ``intended_use``.
    """

    name: str
    title: str
    dicom_modalities: tuple[str, ...]
    dicom_series: bool
    units: str
    intensity_keys: dict
    intensity: dict
    prepare_intensity: dict
    noise: dict
    noise_transform: str
    noise_arguments: dict[str, str]
    noise_reads_meta: bool
    clip_labels: bool
    zoom_out: bool
    whole_slices: bool
    sample: str
    prepare_size: int
    roi_size: tuple[int, int]
    image_format: str
    description: str
    data_source: str
    data_type: str
    image_classes: str
    intended_use: str

    def noise_config(self, seed: str | None, section: str = "noise") -> dict:
        """The config of the noise transform on ``image`` with arguments from ``section`` (``"noise"`` or
        ``"train_noise"``) and per-item ``seed`` (a config reference, or None for fresh noise)."""
        return {"_target_": self.noise_transform, "keys": "image", "label_key": "label",
                **{arg: f"@{section}#{key}" for arg, key in self.noise_arguments.items()}, "seed": seed}

    def intensity_config(self, keys: str = "image") -> dict:
        """The config of the intensity mapping on ``keys``."""
        return {**self.intensity, "keys": keys}

    def sample_volumes(self) -> list:
        """The embedded sample of this modality: ``data_prep.sources.SourceVolume`` items, each in one split."""
        module, function = self.sample.rsplit(".", 1)
        return getattr(importlib.import_module(module), function)()

    def check_dicom_modality(self, value: str | None, path: str) -> None:
        """Refuse a DICOM file of another modality (``value``, its ``Modality`` tag) with a line naming it."""
        if value is not None and value not in self.dicom_modalities:
            raise DataError(f"{path}: DICOM modality {value}, this is a {self.title} denoiser "
                            f"({'/'.join(self.dicom_modalities)}); use the {modality_of_dicom(value)} bundles")


MRI = Modality(
    name="mri",
    title="MRI",
    dicom_modalities=("MR",),
    dicom_series=True,
    units="the scanner's magnitude units",
    intensity_keys={"percentiles": [0.5, 99.5]},
    intensity={"_target_": "monai_denoise.transforms.PercentileNormalized", "lower": "@percentiles#0",
               "upper": "@percentiles#1", "clip": False},
    prepare_intensity={"_target_": "monai_denoise.transforms.PercentileNormalize", "lower": "@percentiles#0",
                       "upper": "@percentiles#1", "clip": True},
    noise={"type": "gaussian", "sigma": 0.05, "clip": False, "seed": 20261122},
    noise_transform="monai_denoise.transforms.SyntheticNoised",
    noise_arguments={"kind": "type", "sigma": "sigma", "clip": "clip"},
    noise_reads_meta=False,
    clip_labels=False,
    zoom_out=True,
    whole_slices=False,
    sample="data_prep.sources.sample_volumes",
    prepare_size=192,
    roi_size=(192, 192),
    image_format="magnitude",
    description=("Trained on intensity-normalised 2D slices with synthetic noise; inference denoises 3D volumes and "
                 "4D series slice by slice and restores the input's scale."),
    data_source=("Embedded sample: MNI152 2009a T1 template (nilearn), dipy test_piesno and 15 "
                 "scikit-image photographs in tiles (training), "
                 "dipy S0_10slices b0 (validation), nibabel example4d EPI (test)"),
    data_type="nifti",
    image_classes="single channel magnitude MR slice, normalised to [0, 1] by the 0.5 / 99.5 percentiles",
    intended_use="Research use: denoising MR magnitude images. Not a medical device; not for diagnosis.",
)

CT = Modality(
    name="ct",
    title="CT",
    dicom_modalities=("CT",),
    dicom_series=True,
    units="Hounsfield units (HU)",
    intensity_keys={"hu_window": [-1000.0, 1000.0]},
    intensity={"_target_": "monai_denoise.transforms.WindowNormalized", "low": "@hu_window#0",
               "high": "@hu_window#1"},
    prepare_intensity={"_target_": "monai_denoise.transforms.WindowNormalize", "low": -1000.0, "high": 1000.0},
    noise={"i0": 200000.0, "electronic_std": 10.0, "views": 720, "seed": 20261122},
    noise_transform="monai_denoise.transforms.LowDoseCTNoised",
    noise_arguments={"i0": "i0", "electronic_std": "electronic_std", "views": "views"},
    noise_reads_meta=True,
    clip_labels=True,
    zoom_out=False,
    whole_slices=True,
    sample="data_prep.sources.ct_sample_volumes",
    prepare_size=512,
    roi_size=(512, 512),
    image_format="hounsfield",
    description=("Trained on whole 2D CT slices in Hounsfield units, mapped linearly from the [-1000, 1000] HU window "
                 "to [0, 1], with low-dose noise simulated in the projection domain (Poisson photon counts at I0 "
                 "photons per ray plus electronic noise, filtered back-projection); inference denoises CT slices and "
                 "series slice by slice and writes Hounsfield units."),
    data_source=("Embedded CT sample (pydicom-data 1.0.0 and pydicom 3.0.2, MIT-licensed packages of NEMA and donated "
                 "test images): eCT_Supplemental (NEMA enhanced CT, brain, 2 frames) and J2K_pixelrep_mismatch (head, "
                 "pydicom issue 1149) for training, explicit_VR-UN (abdomen) for validation, bad_sequence (neck, "
                 "pydicom issue 1067) for test. 693_*.dcm are left out: they carry a CQ500 patient id, and CQ500 is "
                 "licensed for non-commercial use only"),
    data_type="dicom, nifti",
    image_classes="single channel CT slice in HU, mapped from the [-1000, 1000] HU window to [0, 1] (bone above 1)",
    intended_use="Research use: denoising low-dose CT images. Not a medical device; not for diagnosis.",
)

XRAY = Modality(
    name="xray",
    title="radiograph",
    dicom_modalities=("CR", "DX"),
    dicom_series=False,
    units="the detector's stored values (linear signal, MONOCHROME2)",
    intensity_keys={},
    intensity={"_target_": "monai_denoise.transforms.WindowNormalized", "low": 0.0, "high": None},
    prepare_intensity={"_target_": "monai_denoise.transforms.WindowNormalize", "low": 0.0, "high": None},
    noise={"photons": 1000.0, "electronic_std": 0.002, "seed": 20261122},
    noise_transform="monai_denoise.transforms.PoissonGaussianNoised",
    noise_arguments={"photons": "photons", "electronic_std": "electronic_std"},
    noise_reads_meta=False,
    clip_labels=False,
    zoom_out=True,
    whole_slices=False,
    sample="data_prep.sources.xray_sample_volumes",
    prepare_size=256,
    roi_size=(4096, 4096),
    image_format="intensity",
    description=("Trained on tiles of radiographs, the detector's linear signal (MONOCHROME1 inverted) divided by its "
                 "full scale (2^BitsStored - 1), with Poisson-Gaussian noise (quantum noise of a photon count plus "
                 "electronic noise); inference denoises each radiograph whole and writes it in its stored range."),
    data_source=("Embedded radiograph sample: NEMA's computed radiographs RG1_UNCR (chest) for training and RG3_UNCR "
                 "(ankle) for test, from pydicom-data 1.0.0 (MIT; NEMA WG04 test images), with 15 scikit-image "
                 "photographs (training) and microaneurysms / page (validation) as extra texture"),
    data_type="dicom, png, tiff",
    image_classes="single channel radiograph, linear detector signal divided by its full scale, in [0, 1]",
    intended_use="Research use: denoising low-dose radiographs. Not a medical device; not for diagnosis.",
)

MODALITIES = {m.name: m for m in (MRI, CT, XRAY)}
"""Every modality by name."""


def modality_of_dicom(value: str) -> str:
    """The name of the modality whose bundles take DICOM ``Modality`` ``value``, or ``"other"``."""
    return next((m.name for m in MODALITIES.values() if value in m.dicom_modalities), "other")


def get_modality(name: str) -> Modality:
    """The modality called ``name``; a DataError listing the known ones otherwise."""
    try:
        return MODALITIES[name]
    except KeyError:
        raise DataError(f"unknown modality {name!r}; expected one of {', '.join(MODALITIES)}") from None
