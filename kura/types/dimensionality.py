"""Clusters placed on the 2D map."""

from __future__ import annotations

from .cluster import Cluster


class ProjectedCluster(Cluster):
    x_coord: float
    y_coord: float
    level: int
