"""A small digit classifier: the judge of whether conditioning worked.

Explained in the chapter :chapter:`Generating digits on demand <book/cvae_labels>` (see
its section *Does conditioning work?*) and reused to read the completions of the
structured-prediction chapter.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvae.checks import check_positive_int
from cvae.data import NUM_CLASSES, check_images, check_labels


class DigitClassifier(nn.Module):
    """Two convolution + max-pool stages and a linear read-out.

    Trained with :func:`cvae.training.fit` like every other model: ``loss_terms``
    returns the per-example cross-entropy (``loss``) and 0/1 error (``error``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Dropout(0.25),
        )
        self.readout = nn.Linear(32 * 7 * 7, NUM_CLASSES)

    def forward(self, images: Tensor) -> Tensor:
        """Class logits ``(B, 10)`` of images ``(B, 1, 28, 28)``, pixels in [0, 1]."""
        return self.readout(self.features(images))

    def loss_terms(self, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """Per-example cross-entropy and 0/1 error."""
        logits = self(images)
        loss = F.cross_entropy(logits, labels, reduction="none")
        return {"loss": loss, "error": (logits.argmax(1) != labels).float()}

    @torch.no_grad()
    def predict(self, images: Tensor, batch_size: int = 1000) -> Tensor:
        """Most probable class of each image, in evaluation mode."""
        check_images("images", images)
        check_positive_int("batch_size", batch_size)
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        chunks = images.split(batch_size)
        labels = torch.cat([self(chunk.to(device)).argmax(1).cpu() for chunk in chunks])
        self.train(was_training)
        return labels


def agreement(predicted: Tensor, labels: Tensor) -> float:
    """Fraction of ``predicted`` classes equal to ``labels`` (accuracy, or the rate at
    which generated digits are recognised as the class they were conditioned on)."""
    check_labels("predicted", predicted)
    if not len(check_labels("labels", labels, count=len(predicted))):
        raise ValueError("labels is empty: there is no agreement to measure")
    return float((predicted.cpu() == labels.cpu()).float().mean())
