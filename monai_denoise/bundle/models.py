"""What differs between the bundles: the network and its description. Everything else is shared."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class BundleSpec:
    """One model's bundle.

    Attributes:
        name: folder name under ``bundles/``.
        title: one-line description for ``metadata.json``.
        network_def: the MONAI config of the network, ``(B, 1, H, W)`` in and out.
        version: bundle version (semver); bump it and add a changelog line when anything changes.
        changelog: version -> change.
        overrides: top-level config keys that differ from the shared defaults (e.g. learning rate).
    """

    name: str
    title: str
    network_def: dict
    version: str
    changelog: dict[str, str]
    overrides: dict = field(default_factory=dict)


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
    version="0.1.0",
    changelog={"0.1.0": "first release: residual U-Net, Gaussian sigma 0.05 on normalised MRI slices"},
)

BUNDLES = {spec.name: spec for spec in (UNET,)}
