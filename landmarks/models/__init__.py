"""Models: the registry (`registry`) and one family per file, each registering small builders
with `@register_model`: perceptron, linear, mlp, cnn_small, lenet, lenet1998 (LeCun et al. 1998 as
published), resnet_cifar, convnet_cifar, imagenet (torchvision's AlexNet, VGG-16, ResNet-18/34/50
and Krizhevsky's 2012 AlexNet), nature_dqn (Mnih et al. 2015's Q-network)."""

from landmarks.models.registry import MODELS, count_parameters, create_model, list_models, register_model
from landmarks.models import (  # noqa: E402,F401,I001  (importing the families registers their builders)
    cnn_small, convnet_cifar, imagenet, lenet, lenet1998, linear, mlp, nature_dqn, perceptron, resnet_cifar,
)

__all__ = ["MODELS", "count_parameters", "create_model", "list_models", "register_model"]
