from .cae import ConvAutoEncoder
from .dncnn import DnCNN
from .drunet import DRUNet
from .residual import ResidualDenoiser
from .resnet_ae import ResidualBlock, ResNetAutoEncoder
from .vae import DenoisingVAE

__all__ = [
    "ConvAutoEncoder",
    "DRUNet",
    "DenoisingVAE",
    "DnCNN",
    "ResNetAutoEncoder",
    "ResidualBlock",
    "ResidualDenoiser",
]
