"""Distances between pose distributions.

Poses from any two skeletons are compared on the joints they share by name, after removing each
pose's translation (centroid) and scale (root-mean-square distance to the centroid). Rotation is
kept: orientation is part of a pose distribution.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.stats
import torch

from .errors import FlexPoseError
from .poses import normalize_poses
from .skeletons import get_skeleton, mirrored_limb_names, shared_joints

logger = logging.getLogger(__name__)

LIMB_JOINTS = (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)

METRIC_KEYS = ("nn1", "precision", "recall", "density", "coverage", "fd", "mmd")


def protocol_joints(joints: tuple[str, ...]) -> tuple[str, ...]:
    """The joints the evaluation protocol compares among ``joints``: bodies on their limb joints (the 12
    of ``LIMB_JOINTS`` they have), so head, neck and pelvis conventions do not count; faces on all."""
    limbs = tuple(j for j in LIMB_JOINTS if j in joints)
    return limbs if len(limbs) >= 3 else tuple(joints)


@dataclass
class PoseSet:
    """Normalized poses restricted to a common joint list: ``vectors`` is N x 2J."""

    joints: tuple[str, ...]
    keypoints: np.ndarray  # N x J x 2, normalized
    dropped: int = 0

    @property
    def vectors(self) -> np.ndarray:
        return self.keypoints.reshape(len(self.keypoints), -1)


def select_joints(keypoints: np.ndarray, skeleton: str, joints: tuple[str, ...]) -> PoseSet:
    """Keep ``joints`` (by name), drop poses missing any of them (counted), and normalize."""
    s = get_skeleton(skeleton)
    idx = [s.index(j) for j in joints]
    kp = np.asarray(keypoints, np.float64)[:, idx]
    complete = ~np.isnan(kp).any(axis=(1, 2))
    dropped = int((~complete).sum())
    if dropped:
        logger.info("%d of %d %s poses lack some of the compared joints and are left out", dropped, len(kp), s.name)
    return PoseSet(tuple(joints), normalize_poses(kp[complete]), dropped)


def common_joints(skeleton_a: str, skeleton_b: str, joints: str | tuple[str, ...] = "shared") -> tuple[str, ...]:
    """The joints to compare: ``"protocol"`` (``protocol_joints`` of the shared ones: the limbs on bodies,
    all on faces), ``"shared"`` (all shared by name), ``"limbs"`` (the 12 limb joints) or a list."""
    shared = shared_joints(skeleton_a, skeleton_b)
    if joints == "protocol":
        chosen = protocol_joints(tuple(shared))
    elif joints == "shared":
        chosen = tuple(shared)
    elif joints == "limbs":
        chosen = tuple(j for j in LIMB_JOINTS if j in shared)
    else:
        chosen = tuple(joints)
        missing = [j for j in chosen if j not in shared]
        if missing:
            raise FlexPoseError(f"joints {missing} are not shared by {skeleton_a!r} and {skeleton_b!r}")
    if len(chosen) < 3:
        raise FlexPoseError(f"skeletons {skeleton_a!r} and {skeleton_b!r} share only {len(chosen)} joints; need 3")
    return chosen


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return torch.cdist(torch.from_numpy(a), torch.from_numpy(b)).numpy()


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """Frechet distance between Gaussian fits of two sets of vectors."""
    mu1, mu2 = real.mean(0), fake.mean(0)
    c1, c2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    # tr sqrt(c1 c2) = tr sqrt(s c2 s) with s = c1^(1/2): a symmetric PSD form, stable via eigh.
    w, v = scipy.linalg.eigh(c1)
    s = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    tr_covmean = np.sqrt(np.clip(scipy.linalg.eigvalsh(s @ c2 @ s), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * tr_covmean)


def rbf_mmd(real: np.ndarray, fake: np.ndarray, bandwidth: float | None = None) -> float:
    """Unbiased squared MMD with an RBF kernel (bandwidth: median real-real distance)."""
    drr, dff, drf = _pairwise(real, real), _pairwise(fake, fake), _pairwise(real, fake)
    if bandwidth is None:
        bandwidth = float(np.median(drr[np.triu_indices(len(real), 1)]))
    gamma = 1.0 / (2 * bandwidth**2)
    krr, kff, krf = np.exp(-gamma * drr**2), np.exp(-gamma * dff**2), np.exp(-gamma * drf**2)
    n, m = len(real), len(fake)
    return float((krr.sum() - n) / (n * (n - 1)) + (kff.sum() - m) / (m * (m - 1)) - 2 * krf.mean())


def prdc(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """k-NN precision and recall (Kynkaanniemi et al. 2019), density and coverage (Naeem et al. 2020)."""
    return _prdc_from_distances(_pairwise(real, real), _pairwise(fake, fake), _pairwise(real, fake), k)


def _prdc_from_distances(drr: np.ndarray, dff: np.ndarray, d: np.ndarray, k: int) -> dict[str, float]:
    """``prdc`` from the real-real, fake-fake and real-fake (R x F) distances."""
    real_r, fake_r = np.sort(drr, axis=1)[:, k], np.sort(dff, axis=1)[:, k]  # column 0 is the point itself
    inside_real = d < real_r[:, None]
    precision = inside_real.any(0).mean()
    recall = (d < fake_r[None, :]).any(1).mean()
    density = inside_real.sum(0).mean() / k
    coverage = (d.min(1) < real_r).mean()
    return {"precision": float(precision), "recall": float(recall), "density": float(density),
            "coverage": float(coverage)}


def equal_size_rounds(real: np.ndarray, fake: np.ndarray, seed: int = 0,
                      max_rounds: int = 10) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(real, fake)`` pairs of equal size ``n = min(len(real), len(fake))``: ``n`` reference poses
    (seeded) against up to ``max_rounds`` disjoint draws of ``n`` samples. Two-sample measures depend on
    the sizes of the two sets (k-NN radii shrink as a set grows), so they are taken on equal sizes, as
    ``../shared/EVALUATION.md`` does, and averaged over the rounds so that spare samples still count."""
    n = min(len(real), len(fake))
    rng = np.random.default_rng(seed)
    real = real[rng.choice(len(real), n, replace=False)]
    order = rng.permutation(len(fake))
    for i in range(max(1, min(max_rounds, len(fake) // n))):
        yield real, fake[order[i * n:(i + 1) * n]]


def _round_figures(real: np.ndarray, fake: np.ndarray, k: int | None) -> dict[str, float]:
    """nn1 and, with ``k``, the k-NN figures of one pair of sets, from one distance matrix."""
    n, both = len(real), np.concatenate([real, fake])
    d = _pairwise(both, both)
    figures = _prdc_from_distances(d[:n, :n], d[n:, n:], d[:n, n:], k) if k is not None else {}
    figures["nn1"] = _nn1_from_distances(d, n)
    return figures


def _nn1_from_distances(d: np.ndarray, n: int) -> float:
    """Leave-one-out 1-NN accuracy from the distances among both sets (the first ``n`` rows: the first set)."""
    np.fill_diagonal(d, np.inf)
    labels = np.r_[np.zeros(n), np.ones(len(d) - n)]
    return float((labels[d.argmin(1)] == labels).mean())


def leave_one_out_nn1(a: np.ndarray, b: np.ndarray) -> float:
    """One round of the two-sample test: the share of ``a`` and ``b`` whose nearest other vector is from
    their own set (0.5: indistinguishable). ``two_sample_figures`` averages it over equal-sized draws."""
    both = np.concatenate([a, b])
    return _nn1_from_distances(_pairwise(both, both), len(a))


def two_sample_figures(real: np.ndarray, fake: np.ndarray, k: int | None = 5, seed: int = 0,
                       max_rounds: int = 10) -> dict[str, float]:
    """nn1 (leave-one-out 1-nearest-neighbour two-sample accuracy, 0.5 = same law) and, with ``k``, the
    k-NN precision, recall, density and coverage, on equal-sized sets averaged over
    ``equal_size_rounds`` (the protocol's figures: with more samples than reference poses, plain
    ``prdc`` understates recall and overstates coverage)."""
    rounds = [_round_figures(r, f, k) for r, f in equal_size_rounds(real, fake, seed, max_rounds)]
    return {name: float(np.mean([r[name] for r in rounds])) for name in rounds[0]}


def nn1_accuracy(real: np.ndarray, fake: np.ndarray, seed: int = 0, max_rounds: int = 10) -> float:
    """``two_sample_figures``' nn1 alone."""
    return two_sample_figures(real, fake, None, seed, max_rounds)["nn1"]


def limbs_among(skeleton: str, joints: tuple[str, ...]) -> list[tuple[str, str]]:
    """The skeleton's limbs (as name pairs) whose two joints are both in ``joints``."""
    s = get_skeleton(skeleton)
    return [(s.joints[a], s.joints[b]) for a, b in s.limbs if s.joints[a] in joints and s.joints[b] in joints]


def _lengths(keypoints: np.ndarray, joints: tuple[str, ...], limbs: list[tuple[str, str]]) -> np.ndarray:
    a = keypoints[:, [joints.index(x) for x, _ in limbs]]
    b = keypoints[:, [joints.index(y) for _, y in limbs]]
    return np.linalg.norm(a - b, axis=-1)


def plausibility(
    fake: np.ndarray, real: np.ndarray, joints: tuple[str, ...], limbs: list[tuple[str, str]]
) -> dict[str, float]:
    """Left/right limb-length asymmetry (generated, reference, ratio) and the distance between the
    distributions of bone-length ratios (mean 1-Wasserstein over bones of length / total length).

    ``fake`` and ``real`` are N x J x 2 over ``joints``; ``limbs`` are joint-name pairs.
    """
    left, right = mirrored_limb_names(limbs, joints)
    result: dict[str, float] = {}
    if left:
        def asym(kp: np.ndarray) -> float:
            ll, rl = _lengths(kp, joints, left), _lengths(kp, joints, right)
            return float((np.abs(ll - rl) / np.maximum(ll + rl, 1e-12)).mean())

        fa, ra = asym(fake), asym(real)
        result.update({"limb_asymmetry": fa, "limb_asymmetry_reference": ra,
                       "limb_asymmetry_ratio": fa / max(ra, 1e-12)})
    if limbs:
        def ratios(kp: np.ndarray) -> np.ndarray:
            lengths = _lengths(kp, joints, limbs)
            return lengths / np.maximum(lengths.sum(1, keepdims=True), 1e-12)

        fr, rr = ratios(fake), ratios(real)
        result["bone_ratio_w1"] = float(np.mean(
            [scipy.stats.wasserstein_distance(fr[:, i], rr[:, i]) for i in range(fr.shape[1])]))
    return result


def memorization(samples: np.ndarray, shots: np.ndarray, held_out: np.ndarray) -> dict[str, float]:
    """Share of samples whose nearest pose among shots + held-out is a shot, and that share by chance."""
    pool = np.concatenate([shots, held_out])
    nearest = _pairwise(samples, pool).argmin(1)
    share = float((nearest < len(shots)).mean())
    chance = len(shots) / len(pool)
    return {"memorization": share, "memorization_chance": chance, "memorization_ratio": share / chance}


def labelled_by_both(names: tuple[str, ...], a: np.ndarray, skeleton_a: str, b: np.ndarray,
                     skeleton_b: str) -> tuple[str, ...]:
    """``names`` without the joints that one of the two pose sets never labels (e.g. COCO face joints
    left unannotated), so such files are compared on what they do label."""
    def labelled(kp: np.ndarray, skeleton: str) -> set[str]:
        s = get_skeleton(skeleton)
        seen = ~np.isnan(np.asarray(kp, np.float64)).any(-1).all(0)
        return {j for j, v in zip(s.joints, seen) if v}

    both = labelled(a, skeleton_a) & labelled(b, skeleton_b)
    kept = tuple(j for j in names if j in both)
    if len(kept) < len(names):
        logger.info("compared on the %d joints both sets label (%s); never labelled: %s", len(kept), ", ".join(kept),
                    ", ".join(j for j in names if j not in both))
    if len(kept) < 3:
        raise FlexPoseError(f"the two pose sets both label only {len(kept)} joints ({', '.join(kept) or 'none'}); "
                            "need 3")
    return kept


def evaluate_poses(
    samples: np.ndarray,
    samples_skeleton: str,
    reference: np.ndarray,
    reference_skeleton: str,
    shots: np.ndarray | None = None,
    shots_skeleton: str | None = None,
    joints: str | tuple[str, ...] = "shared",
    k: int = 5,
    max_poses: int = 2000,
    seed: int = 0,
) -> dict[str, float]:
    """All metrics of generated ``samples`` against ``reference`` poses (each N x J x 2, any scale).

    Returns ``nn1, precision, recall, density, coverage, fd, mmd`` and plausibility figures, plus
    ``memorization`` when ``shots`` are given (the reference then counts as held-out poses).
    Each set is subsampled to at most ``max_poses`` (seeded), except that memorization counts every
    sample: near-copies of a few shots are rare events, and more samples count them more precisely.
    nn1 and the k-NN figures compare equal-sized sets (``equal_size_rounds``), as the protocol does.
    """
    names = common_joints(samples_skeleton, reference_skeleton, joints)
    if isinstance(joints, str):  # "shared" / "limbs": only the joints both sets label somewhere
        names = labelled_by_both(names, samples, samples_skeleton, reference, reference_skeleton)
    fake_set = select_joints(samples, samples_skeleton, names)
    real_set = select_joints(reference, reference_skeleton, names)
    for label, ps in (("samples", fake_set), ("reference", real_set)):
        if len(ps.keypoints) <= k:
            raise FlexPoseError(
                f"{label}: only {len(ps.keypoints)} poses have all compared joints ({', '.join(names)}); need > {k}"
            )
    rng = np.random.default_rng(seed)
    fake = fake_set.vectors
    real = real_set.vectors
    if len(fake) > max_poses:
        fake = fake[rng.choice(len(fake), max_poses, replace=False)]
    if len(real) > max_poses:
        real = real[rng.choice(len(real), max_poses, replace=False)]
    result: dict[str, float] = two_sample_figures(real, fake, k, seed)
    result["fd"] = frechet_distance(real, fake)
    result["mmd"] = rbf_mmd(real, fake)
    jn = len(names)
    limbs = limbs_among(reference_skeleton, names) or limbs_among(samples_skeleton, names)
    result.update(plausibility(fake.reshape(-1, jn, 2), real.reshape(-1, jn, 2), names, limbs))
    if shots is not None:
        shot_set = select_joints(shots, shots_skeleton or reference_skeleton, names)
        result.update(memorization(fake_set.vectors, shot_set.vectors, real))
    result["compared_joints"] = ", ".join(names)
    result.update({"num_samples": len(fake), "num_reference": len(real), "joints": len(names),
                   "samples_dropped": fake_set.dropped, "reference_dropped": real_set.dropped})
    return result


# (key, label) of the figures ``format_comparison`` shows, in order; memorization is shown against chance.
COMPARED = (("nn1", "nn1 (0.5 = indistinguishable)"), ("precision", "precision"), ("recall", "recall"),
            ("coverage", "coverage"), ("density", "density"))


# One draw of shots moves nn1 by about 0.01-0.02 (../shared/EVALUATION.md); beyond this an adapted
# generator scores worse than its source rather than level with it.
NN1_NOISE = 0.01


def worse_than_source(source: dict[str, float], adapted: dict[str, float]) -> bool:
    """Whether the adapted generator's nn1 against real poses exceeds the source's by more than one draw's noise."""
    return adapted["nn1"] > source["nn1"] + NN1_NOISE


def format_comparison(source: dict[str, float], adapted: dict[str, float]) -> str:
    """The source's and the adapted generator's figures against the same real poses, side by side."""
    rows = [(label, source[key], adapted[key]) for key, label in COMPARED if key in source and key in adapted]
    if all(side.get("memorization_chance", 0) > 0 and "memorization" in side for side in (source, adapted)):
        rows.append(("nearest a shot / chance", source["memorization"] / source["memorization_chance"],
                     adapted["memorization"] / adapted["memorization_chance"]))
    width = max(len(label) for label, *_ in rows)
    lines = [f"{'':<{width}}  source  adapted   change", f"{'-' * width}  ------  -------  -------"]
    lines += [f"{label:<{width}}  {s:6.3f}  {a:7.3f}  {a - s:+7.3f}" for label, s, a in rows]
    return "\n".join(lines)


def format_table(result: dict[str, float]) -> str:
    """A two-column text table of a metrics dict, headline metrics first."""
    order = [k for k in (*METRIC_KEYS, "memorization", "memorization_chance") if k in result]
    order += [k for k in result if k not in order]
    width = max(len(k) for k in order)
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  -------"]
    for key in order:
        value = result[key]
        lines.append(f"{key:<{width}}  {value:.4f}" if isinstance(value, float) else f"{key:<{width}}  {value}")
    return "\n".join(lines)
