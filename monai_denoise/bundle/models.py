"""What differs between the bundles: the network and its description. Everything else is shared.

A bundle's release notes and measured results are data, not code: ``docs/results/<bundle>/changelog.json`` (version
-> change, newest first; the first is the bundle's version) and ``docs/results/<bundle>/measured.md`` (the "Measured"
paragraph of its ``docs/README.md``). A new release or figure is an edit there, then ``monai-denoise bundle render``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..modalities import CT, MRI, XRAY, Modality
from ..noise_models import LOW_DOSE_CT, POISSON_GAUSSIAN


@dataclass(frozen=True)
class BundleSpec:
    """One model's bundle.

    Attributes:
        name: folder name under ``bundles/`` (``<modality>_denoising_<network>``).
        title: one-line description for ``metadata.json``.
        network: the network's short name (``cae``, ``drunet``), shared by its bundles of every modality.
        network_def: the MONAI config of the network, ``(B, 1, H, W)`` in and out.
        overrides: config ids (``"a#b"``) whose values differ from the shared defaults, set in every
            config that has them (e.g. ``"learning_rate"``, ``"validate#inferer"``).
        references: publications of the architecture, for ``metadata.json`` (which adds the adaptation's).
        model_doc: the "Model" paragraph of ``docs/README.md``.
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
    network: str
    network_def: dict
    modality: Modality
    overrides: dict = field(default_factory=dict)
    references: tuple[str, ...] = ()
    model_doc: str = ""
    spatial_shape: tuple = ("16*n", "16*n")
    noise_level_map: bool = False
    self_ensemble: int = 1

    @property
    def changelog(self) -> dict[str, str]:
        """Version -> change, newest first (``docs/results/<name>/changelog.json``)."""
        return json.loads((RESULTS_ROOT / self.name / "changelog.json").read_text())

    @property
    def version(self) -> str:
        """The bundle's version (semver): the newest of its changelog."""
        return next(iter(self.changelog))

    @property
    def measured(self) -> str:
        """The "Measured" paragraph of ``docs/README.md``: figures and the commands that produced them
        (``docs/results/<name>/measured.md``)."""
        return (RESULTS_ROOT / self.name / "measured.md").read_text().rstrip("\n")


RESULTS_ROOT = Path(__file__).resolve().parents[2] / "docs" / "results"
"""Each bundle's release notes and measured results, one folder per bundle."""


R2R_PAPER = ("Pang T. et al., Recorrupted-to-Recorrupted: Unsupervised Deep Learning for Image Denoising, CVPR 2021")

DNCNN_PAPER = ("Zhang K. et al., Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for Image Denoising, "
               "IEEE TIP 2017")


UNET = BundleSpec(
    name="mri_denoising_unet",
    network="unet",
    modality=MRI,
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
    
    
    references=("Ronneberger O. et al., U-Net: Convolutional Networks for Biomedical Image Segmentation, MICCAI 2015",
                "Bachlechner T. et al., ReZero is All You Need: Fast Convergence at Large Depth, UAI 2021"),
    model_doc=("`ResidualDenoiser(UNet)`: MONAI's `UNet` (2D, channels 32-64-128-256, strides 2-2-2, one residual "
               "unit per level, PReLU, batch norm) predicts a correction added to the noisy input through a learnable "
               "gate initialised to 0, so the untrained network is the identity. H and W must be "
               "multiples of 8."),
    
)

UNET_NOISE_MAP = BundleSpec(
    name="mri_denoising_unet_noise_map",
    network="unet_noise_map",
    modality=MRI,
    title="2D residual U-Net conditioned on a noise level map: one network for Gaussian and Rician noise of any level",
    network_def={
        "_target_": "monai_denoise.networks.ResidualDenoiser",
        "backbone": {**UNET.network_def["backbone"], "in_channels": 2},
    },
    
    
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
    
    noise_level_map=True,
)

CAE = BundleSpec(
    name="mri_denoising_cae",
    network="cae",
    modality=MRI,
    title="The plain convolutional autoencoder of the origin study (Conv 64-128, max-pooling, sigmoid output)",
    network_def={"_target_": "monai_denoise.networks.ConvAutoEncoder", "spatial_dims": 2, "in_channels": 1,
                 "out_channels": 1, "channels": [64, 128]},
    
    
    overrides={"learning_rate": 0.001},
    references=("Gondara L., Medical Image Denoising Using Convolutional Denoising Autoencoders, ICDMW 2016",),
    model_doc=("`ConvAutoEncoder`, exactly the origin study's CAE: Conv 64 (3x3, ReLU), max-pool 2, Conv 128, max-pool "
               "2, Conv 128, upsample 2, Conv 64, upsample 2, Conv 1 with a sigmoid. It predicts the clean slice "
               "directly (no skip connections, no residual). H and W must be multiples of 4."),
    
)

VAE = BundleSpec(
    name="mri_denoising_vae",
    network="vae",
    modality=MRI,
    title="Denoising variational autoencoder with a convolutional latent (loss = reconstruction + beta * KL)",
    network_def={"_target_": "monai_denoise.networks.DenoisingVAE", "spatial_dims": 2, "in_channels": 1,
                 "out_channels": 1, "latent_channels": "@latent_channels", "channels": [32, 64], "strides": [2, 2],
                 "num_res_units": 1, "output_act": "RELU"},
    
    
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
    
)

RESNET_AE = BundleSpec(
    name="mri_denoising_resnet_ae",
    network="resnet_ae",
    modality=MRI,
    title="Residual autoencoder: strided encoder, 4 residual blocks (Conv-BN-ReLU-Conv-BN + identity), decoder",
    network_def={"_target_": "monai_denoise.networks.ResNetAutoEncoder", "spatial_dims": 2, "in_channels": 1,
                 "out_channels": 1, "channels": 64, "num_blocks": 4},
    
    
    overrides={"learning_rate": 0.001},
    references=("He K. et al., Deep Residual Learning for Image Recognition, CVPR 2016",),
    model_doc=("`ResNetAutoEncoder`: stem convolution (64 channels), one strided convolution down, 4 residual blocks "
               "(Conv-BN-ReLU-Conv-BN + identity, then ReLU), one transposed convolution up and an output "
               "convolution; it predicts the clean slice."),
    
)

DNCNN = BundleSpec(
    name="mri_denoising_dncnn",
    network="dncnn",
    modality=MRI,
    title="DnCNN-style residual network that predicts the noise and subtracts it (Zhang et al. 2017)",
    network_def={"_target_": "monai_denoise.networks.DnCNN", "spatial_dims": 2, "in_channels": 1,
                 "out_channels": 1, "channels": 48, "depth": 10},
    
    
    overrides={"learning_rate": 0.001},
    references=(DNCNN_PAPER,),
    model_doc=("`DnCNN` (Zhang et al. 2017): Conv+ReLU, 8 x (Conv+BN+ReLU), Conv, 48 channels at full resolution; "
               "the network predicts the noise, which is subtracted from the input (residual learning). "
               "Any H and W."),
    
)

DRUNET = BundleSpec(
    name="mri_denoising_drunet",
    network="drunet",
    modality=MRI,
    title="DRUNet-style residual U-Net without normalisation (Zhang et al. 2021), gated global residual",
    network_def={
        "_target_": "monai_denoise.networks.ResidualDenoiser",
        "backbone": {"_target_": "monai_denoise.networks.DRUNet", "spatial_dims": 2, "in_channels": 1,
                     "out_channels": 1, "channels": [16, 32, 64, 128], "num_res_blocks": 2},
    },
    
    
    overrides={"learning_rate": 0.001},
    references=("Zhang K. et al., Plug-and-Play Image Restoration with Deep Denoiser Prior, IEEE TPAMI 2021",
                DNCNN_PAPER),
    model_doc=("`ResidualDenoiser(DRUNet)`: a DRUNet-style U-Net (Zhang et al. 2021) with 4 scales (16-32-64-128 "
               "channels), 2 residual blocks (conv-ReLU-conv + identity, no normalisation, no bias) per scale, "
               "strided-convolution down, transposed-convolution up and additive skips, behind the same gated "
               "global residual as the U-Net bundle. H and W must be multiples of 8."),
    
)

def modality_bundle(spec: BundleSpec, modality: Modality, overrides: dict, model_doc: str,
                    self_ensemble: int = 1) -> BundleSpec:
    """``spec``'s network for another ``modality``: named ``<modality>_denoising_<network>``, with the modality's
    reading, intensity mapping, noise and metadata, and ``overrides`` on top of ``spec``'s own; ``self_ensemble`` as
    :class:`BundleSpec`'s."""
    return replace(spec, name=f"{modality.name}_denoising_{spec.network}", modality=modality,
                   overrides={**spec.overrides, **overrides}, model_doc=model_doc, self_ensemble=self_ensemble)


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
    
    )

CT_DRUNET = modality_bundle(
    DRUNET, CT, CT_TRAIN_DOSE,
    DRUNET.model_doc + " Trained blind on whole CT slices with projection-domain low-dose noise of I0 from 3e4 to "
                       "8e5 photons per ray, each slice zoomed by 0.5 to 1.5 with its pixel spacing first.",
    
    self_ensemble=8)

XRAY_CAE = modality_bundle(
    CAE, XRAY, XRAY_TRAIN_DOSE,
    CAE.model_doc + " Trained on radiograph tiles, the linear detector signal divided by its full scale.",
    
    )

XRAY_DRUNET = modality_bundle(
    DRUNET, XRAY, XRAY_TRAIN_DOSE,
    DRUNET.model_doc + " Trained blind on radiograph tiles with Poisson-Gaussian noise of 150 to 6000 photons at "
                       "full scale.",
    
    self_ensemble=8)

BUNDLES = {spec.name: spec for spec in (UNET, UNET_NOISE_MAP, CAE, VAE, RESNET_AE, DNCNN, DRUNET, CT_CAE, CT_DRUNET,
                                        XRAY_CAE, XRAY_DRUNET)}
