"""The critic losses shared by source training and adaptation.

Both critics (coordinates every step, skeleton images when ``use_images``) judge one batch of
[real; fake] unit poses, so each is called once per step (as DistributedDataParallel expects)."""

from __future__ import annotations

import torch

from ..codec import SkeletonImageCodec, unit_to_canvas
from .losses import d_logistic_loss, g_nonsaturating_loss, r1_penalty


def discriminator_loss(disc: torch.nn.Module, codec: SkeletonImageCodec, real: torch.Tensor, fake: torch.Tensor,
                       margin: float, use_images: bool, r1_weight: float = 0.0,
                       mask: torch.Tensor | None = None) -> torch.Tensor:
    """Logistic loss of both critics on real vs fake unit poses, plus ``r1_weight`` x R1 when > 0."""
    batch, res = len(real), codec.resolution
    real_in = real.clone().requires_grad_(r1_weight > 0)
    images = None
    if use_images:
        real_img = codec.encode(unit_to_canvas(real, res, margin)).requires_grad_(r1_weight > 0)
        images = torch.cat([real_img, codec.encode(unit_to_canvas(fake, res, margin))])
    img_logits, coord_logits = disc(images, torch.cat([real_in, fake]), mask)
    loss = d_logistic_loss(coord_logits[:batch], coord_logits[batch:])
    r1_inputs, r1_logits = [real_in], coord_logits[:batch]
    if use_images:
        loss = loss + d_logistic_loss(img_logits[:batch], img_logits[batch:])
        r1_inputs.append(real_img)
        r1_logits = r1_logits + img_logits[:batch]
    if r1_weight > 0:
        loss = loss + r1_weight * r1_penalty(r1_logits, r1_inputs)
    return loss


def generator_adversarial_loss(disc: torch.nn.Module, codec: SkeletonImageCodec, fake: torch.Tensor, margin: float,
                               use_images: bool, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Non-saturating loss of fake unit poses against both critics."""
    images = codec.encode(unit_to_canvas(fake, codec.resolution, margin)) if use_images else None
    img_logits, coord_logits = disc(images, fake, mask)
    loss = g_nonsaturating_loss(coord_logits)
    if use_images:
        loss = loss + g_nonsaturating_loss(img_logits)
    return loss
