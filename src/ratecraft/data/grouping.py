"""Feature groups: given as families (table, YAML, name prefixes) or found by clustering.

A :class:`GroupLayout` maps ordered group names to feature (column) indices and is validated on
construction: every feature in exactly one group, no empty (zero-width) group. Codecs build one
branch, bottleneck or codebook per group from it, and the allocation splits the bit budget
across its groups, so a layout that silently lost or repeated a feature would corrupt both.

Ways to get one:

- :func:`groups_from_families` — the table's own ``families`` (one group ``all`` when absent);
- :func:`groups_from_mapping` / :func:`groups_from_yaml` — ``{group: [feature names]}``;
- :func:`groups_from_prefixes` — ``summary_07`` → ``summary`` (text before the first separator);
- :func:`cluster_groups` — average-linkage hierarchical clustering on ``1 − |corr|``, with the
  number of groups given or chosen by the silhouette score;
- :func:`group_table` — one entry point taking any of the above as ``by``; ``auto`` is the
  table's families when it has some, else :func:`cluster_groups` (groups learned from the data).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Self

import numpy as np
import yaml
from pydantic import Field, model_validator
from scipy.cluster.hierarchy import cut_tree, linkage
from scipy.spatial.distance import squareform

from ratecraft.config import CheckedModel
from ratecraft.data.types import FeatureTable
from ratecraft.errors import BadInputError

__all__ = [
    "GroupLayout",
    "cluster_groups",
    "group_table",
    "groups_from_families",
    "groups_from_mapping",
    "groups_from_prefixes",
    "groups_from_yaml",
]

_MAX_YAML_BYTES = 4 * 1024 * 1024
_MAX_CLUSTER_ROWS = 20_000


class GroupLayout(CheckedModel):
    """Ordered group names → feature indices; every feature exactly once, no empty group.

    ``source`` says how the groups were made (``families``, ``mapping``, ``prefix``,
    ``cluster``, ``labels``) and ``feature_names`` optionally names the columns, for reports.
    """

    n_features: int = Field(ge=1)
    groups: dict[str, list[int]]
    source: str = "labels"
    feature_names: list[str] | None = None

    @model_validator(mode="after")
    def _partition(self) -> Self:
        if not self.groups:
            raise ValueError("a layout needs at least one group")
        owner: dict[int, str] = {}
        for name, indices in self.groups.items():
            if not name.strip():
                raise ValueError("group names must be non-empty")
            if not indices:
                raise ValueError(f"group {name!r} is empty (zero width)")
            for i in indices:
                if not 0 <= i < self.n_features:
                    raise ValueError(
                        f"group {name!r} has feature index {i} outside 0..{self.n_features - 1}"
                    )
                if i in owner:
                    where = f"groups {owner[i]!r} and {name!r}" if owner[i] != name else repr(name)
                    raise ValueError(f"feature {self._label(i)} appears twice (in {where})")
                owner[i] = name
        if len(owner) != self.n_features:
            absent = [self._label(i) for i in range(self.n_features) if i not in owner]
            more = f" and {len(absent) - 5} more" if len(absent) > 5 else ""
            raise ValueError(f"features in no group: {', '.join(absent[:5])}{more}")
        if self.feature_names is not None and len(self.feature_names) != self.n_features:
            raise ValueError(
                f"{len(self.feature_names)} feature names for {self.n_features} features"
            )
        return self

    def _label(self, i: int) -> str:
        names = self.feature_names
        return f"{i} ({names[i]})" if names is not None and 0 <= i < len(names) else str(i)

    @classmethod
    def from_labels(
        cls,
        labels: Sequence[str],
        feature_names: Sequence[str] | None = None,
        source: str = "labels",
    ) -> GroupLayout:
        """A layout from one group label per feature; groups in first-seen order."""
        groups: dict[str, list[int]] = {}
        for i, label in enumerate(labels):
            groups.setdefault(str(label), []).append(i)
        return cls(
            n_features=len(labels),
            groups=groups,
            source=source,
            feature_names=list(feature_names) if feature_names is not None else None,
        )

    @property
    def names(self) -> list[str]:
        return list(self.groups)

    @property
    def sizes(self) -> dict[str, int]:
        return {name: len(idx) for name, idx in self.groups.items()}

    def indices(self, name: str) -> np.ndarray:
        """Column indices of one group (int64)."""
        if name not in self.groups:
            raise BadInputError(f"unknown group {name!r}; groups are {self.names}")
        return np.asarray(self.groups[name], dtype=np.int64)

    def labels(self) -> list[str]:
        """The group name of every feature, in column order."""
        out = [""] * self.n_features
        for name, idx in self.groups.items():
            for i in idx:
                out[i] = name
        return out

    def restrict(self, kept: Sequence[int]) -> GroupLayout:
        """The layout on a column subset (e.g. the features cleaning kept), renumbered.

        ``kept`` are indices into this layout's features, in the new column order; groups left
        with no feature are removed.
        """
        new_index = {old: new for new, old in enumerate(kept)}
        if len(new_index) != len(kept) or any(not 0 <= k < self.n_features for k in kept):
            raise BadInputError("kept indices must be distinct and inside the layout")
        groups = {
            name: [new_index[i] for i in idx if i in new_index] for name, idx in self.groups.items()
        }
        names = self.feature_names
        return GroupLayout(
            n_features=len(kept),
            groups={name: idx for name, idx in groups.items() if idx},
            source=self.source,
            feature_names=[names[k] for k in kept] if names is not None else None,
        )


def groups_from_families(table: FeatureTable) -> GroupLayout:
    """The table's families as groups (first-seen order); one group ``all`` when it has none."""
    return GroupLayout(
        n_features=table.n_features,
        groups={k: v.tolist() for k, v in table.family_indices().items()},
        source="families",
        feature_names=list(table.feature_names or []),
    )


def groups_from_mapping(
    mapping: Mapping[str, Sequence[str]],
    feature_names: Sequence[str],
    *,
    ignore: Collection[str] = (),
) -> GroupLayout:
    """Groups from ``{group: [feature names]}``; every feature must be listed exactly once.

    Names in ``ignore`` (e.g. the features cleaning dropped) may appear in the mapping and are
    skipped; a group left empty by that is removed. Unknown names are an error.
    """
    if not isinstance(mapping, Mapping) or not mapping:
        raise BadInputError("a group mapping must be a non-empty {group: [feature names]} mapping")
    column = {name: i for i, name in enumerate(feature_names)}
    if len(column) != len(feature_names):
        raise BadInputError("feature names must be unique to group them by name")
    ignored = set(ignore)
    groups: dict[str, list[int]] = {}
    for group, members in mapping.items():
        if (
            not isinstance(group, str)
            or isinstance(members, str | bytes)
            or not isinstance(members, Sequence)
        ):
            raise BadInputError(f"group {group!r} must map a name to a list of feature names")
        unknown = [m for m in members if m not in column and m not in ignored]
        if unknown:
            raise BadInputError(f"group {group!r} names unknown feature(s) {unknown[:5]}")
        idx = [column[m] for m in members if m in column]
        if idx or not members:
            groups[group] = idx  # an explicitly empty group stays, and fails validation
    return GroupLayout(
        n_features=len(feature_names),
        groups=groups,
        source="mapping",
        feature_names=list(feature_names),
    )


def groups_from_yaml(
    path: str | os.PathLike[str], feature_names: Sequence[str], *, ignore: Collection[str] = ()
) -> GroupLayout:
    """:func:`groups_from_mapping` with the mapping read from a YAML file (safe loader)."""
    p = Path(path)
    try:
        if p.stat().st_size > _MAX_YAML_BYTES:
            raise BadInputError(f"{p}: group file larger than {_MAX_YAML_BYTES} bytes")
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadInputError(f"{p}: cannot read group mapping ({first})") from None
    if not isinstance(doc, dict):
        raise BadInputError(f"{p}: expected a mapping {{group: [feature names]}}")
    return groups_from_mapping(doc, feature_names, ignore=ignore)


def groups_from_prefixes(feature_names: Sequence[str], separator: str = "_") -> GroupLayout:
    """Group by the text before the first ``separator``: ``summary_07`` → ``summary``.

    A name without the separator is its own group's name (so ``x`` and ``x_1`` group together).
    """
    if not separator:
        raise BadInputError("the prefix separator must be a non-empty string")
    labels = [name.split(separator, 1)[0] or name for name in feature_names]
    return GroupLayout.from_labels(labels, feature_names, source="prefix")


def cluster_groups(
    values: np.ndarray,
    n_groups: int | None = None,
    *,
    feature_names: Sequence[str] | None = None,
    max_groups: int = 12,
    seed: int = 0,
    max_rows: int = _MAX_CLUSTER_ROWS,
) -> GroupLayout:
    """Groups of mutually correlated features, by hierarchical clustering on ``1 − |corr|``.

    Average linkage (UPGMA) on the distance ``1 − |Pearson correlation|``; the tree is cut into
    exactly ``n_groups`` clusters, or, when ``n_groups`` is None, into the k in
    ``2..min(max_groups, n_features − 1)`` with the best silhouette score (ties → fewer groups).
    Constant features correlate with nothing (distance 1). Groups are named ``cluster_0``,
    ``cluster_1``… in order of their first feature. Deterministic for a ``seed``, which only
    picks the rows used when there are more than ``max_rows``.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise BadInputError(f"clustering needs samples × features with ≥ 2 samples, got {x.shape}")
    if not np.isfinite(x).all():
        raise BadInputError("clustering input has NaN or inf; clean the table first")
    n_features = x.shape[1]
    if n_groups is not None and not (isinstance(n_groups, int) and 1 <= n_groups <= n_features):
        raise BadInputError(f"n_groups must be an integer in 1..{n_features}, got {n_groups!r}")
    if x.shape[0] > max_rows:
        rows = np.random.default_rng(seed).choice(x.shape[0], size=max_rows, replace=False)
        x = x[np.sort(rows)]
    if n_features == 1 or n_groups == 1 or (n_groups is None and n_features < 3):
        return GroupLayout.from_labels(["cluster_0"] * n_features, feature_names, "cluster")

    distance = _correlation_distance(x)
    tree = linkage(squareform(distance, checks=False), method="average")
    if n_groups is None:
        n_groups = _best_k(tree, distance, min(max_groups, n_features - 1))
    raw = cut_tree(tree, n_clusters=n_groups).ravel()
    order = {c: k for k, c in enumerate(dict.fromkeys(raw.tolist()))}  # by first feature
    labels = [f"cluster_{order[c]}" for c in raw.tolist()]
    return GroupLayout.from_labels(labels, feature_names, source="cluster")


def group_table(
    table: FeatureTable,
    by: str | os.PathLike[str] | Mapping[str, Sequence[str]] = "families",
    *,
    n_groups: int | None = None,
    seed: int = 0,
    ignore: Collection[str] = (),
) -> GroupLayout:
    """One entry point: ``by`` is ``auto``, ``families``, ``prefix``, ``cluster``, a mapping or a
    YAML path.

    ``auto``: the table's families when it has any, else ``cluster`` (source ``cluster``).
    ``n_groups`` and ``seed`` apply to ``cluster``; ``ignore`` to mappings and YAML files.
    """
    names = list(table.feature_names or [])
    if isinstance(by, Mapping):
        return groups_from_mapping(by, names, ignore=ignore)
    if by == "auto":
        by = "families" if table.families is not None else "cluster"
    if by == "families":
        return groups_from_families(table)
    if by == "prefix":
        return groups_from_prefixes(names)
    if by == "cluster":
        return cluster_groups(table.values, n_groups, feature_names=names, seed=seed)
    if isinstance(by, os.PathLike) or str(by).endswith((".yaml", ".yml")):
        return groups_from_yaml(by, names, ignore=ignore)
    raise BadInputError(
        f"unknown grouping {str(by)!r}; use auto, families, prefix, cluster, a mapping or a "
        ".yaml file"
    )


def _correlation_distance(x: np.ndarray) -> np.ndarray:
    """``1 − |corr|`` with constant features at distance 1 from everything, zero diagonal."""
    centered = x - x.mean(axis=0)
    norm = np.sqrt((centered**2).sum(axis=0))
    live = norm > 1e-12 * (1.0 + np.abs(x).max(axis=0)) * np.sqrt(x.shape[0])
    unit = np.where(live, centered / np.where(live, norm, 1.0), 0.0)
    corr = np.clip(np.abs(unit.T @ unit), 0.0, 1.0)
    distance = 1.0 - corr
    np.fill_diagonal(distance, 0.0)
    return (distance + distance.T) / 2.0  # exact symmetry for squareform


def _best_k(tree: np.ndarray, distance: np.ndarray, k_max: int) -> int:
    """The cut with the highest silhouette score (precomputed distances); ties → smaller k."""
    from sklearn.metrics import silhouette_score  # a heavy import, only needed here

    best_k, best = 2, -np.inf
    cuts = cut_tree(tree, n_clusters=list(range(2, k_max + 1)))
    for column, k in enumerate(range(2, k_max + 1)):
        score = silhouette_score(distance, cuts[:, column], metric="precomputed")
        if score > best + 1e-12:
            best_k, best = k, score
    return best_k
