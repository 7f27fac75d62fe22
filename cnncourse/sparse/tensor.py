"""A sparse 3D tensor: active sites ``(batch, z, y, x)`` with one feature row each.

NumPy only (no TensorFlow): the sites and their neighbour tables live on the host; the layers in
:mod:`cnncourse.sparse.layers` consume the features and the tables as tensors.
"""
from __future__ import annotations

import numpy as np

from cnncourse.sparse import rulebook
from cnncourse.sparse.rulebook import validate_coords  # (lives with the tables it guards)

__all__ = ["SparseTensor", "validate_coords"]


class SparseTensor:
    """Active sites of a batch of 3D grids, with a feature row per site.

    Parameters
    ----------
    coords : array_like of int, shape (N, 4)
        Rows ``(batch, z, y, x)``, each site at most once, in any order (kept as given).
    features : array_like of float, shape (N, C), or None
        One row per site. ``None`` for a site set without features (e.g. a coarser level whose
        features a network computes).
    spatial_shape : tuple of 3 int
        ``(D, H, W)`` of the grid.
    batch_size : int, optional
        Number of samples (some may have no sites). Default: largest batch index + 1.

    Attributes
    ----------
    coords : ndarray of int32, shape (N, 4)
    features : ndarray, shape (N, C), or None
    spatial_shape : tuple of 3 int
    batch_size : int

    Neighbour tables are built on first use and cached on the tensor; tensors made by
    :meth:`with_features` share that cache, so every layer at one resolution reuses one table.

    Examples
    --------
    >>> import numpy as np
    >>> st = SparseTensor([[0, 1, 1, 1], [0, 1, 1, 2]], np.ones((2, 3), np.float32), (4, 4, 4))
    >>> st.num_sites, st.num_channels, st.to_dense().shape
    (2, 3, (1, 4, 4, 4, 3))
    >>> st.neighbors(3)[0, [13, 14]].tolist()   # centre, then x + 1
    [0, 1]
    """

    def __init__(self, coords, features, spatial_shape, batch_size=None):
        self.coords, self.spatial_shape, self.batch_size = validate_coords(
            coords, spatial_shape, batch_size)
        if features is not None:
            features = np.asarray(features)
            if features.dtype.kind != "f":
                raise ValueError(f"features must be a floating-point array; got dtype "
                                 f"{features.dtype}")
            if features.ndim != 2:
                raise ValueError(f"features must have shape (N, C); got shape {features.shape}")
            if features.shape[0] != self.coords.shape[0]:
                raise ValueError(f"features has {features.shape[0]} rows but coords has "
                                 f"{self.coords.shape[0]} sites: they must match one to one")
        self.features = features
        self._cache: dict = {}

    # ---- basic properties -----------------------------------------------------------------
    @property
    def num_sites(self) -> int:
        """Number of active sites N."""
        return int(self.coords.shape[0])

    @property
    def num_channels(self) -> int:
        """Number of feature channels C (0 when there are no features)."""
        return 0 if self.features is None else int(self.features.shape[1])

    @property
    def occupancy(self) -> float:
        """Fraction of the ``batch_size * D * H * W`` grid positions that are active."""
        total = self.batch_size * int(np.prod(self.spatial_shape))
        return self.num_sites / total if total else 0.0

    @property
    def batch_index(self) -> np.ndarray:
        """int32 (N,): the sample each site belongs to."""
        return self.coords[:, 0].copy()

    def counts(self) -> np.ndarray:
        """int64 (batch_size,): number of sites in each sample."""
        return np.bincount(self.coords[:, 0], minlength=self.batch_size)

    def __repr__(self) -> str:
        return (f"SparseTensor(sites={self.num_sites}, channels={self.num_channels}, "
                f"spatial_shape={self.spatial_shape}, batch_size={self.batch_size}, "
                f"occupancy={self.occupancy:.3%})")

    # ---- conversions -----------------------------------------------------------------------
    @classmethod
    def from_dense(cls, dense, mask=None) -> "SparseTensor":
        """Sites of a dense batch.

        Parameters
        ----------
        dense : ndarray, shape (B, D, H, W, C) or (B, D, H, W)
            Feature grids (a missing channel axis is added).
        mask : ndarray of bool, shape (B, D, H, W), optional
            Which positions are active. Default: positions where any channel is non-zero.

        Returns
        -------
        SparseTensor
            Sites in lexicographic ``(batch, z, y, x)`` order.
        """
        dense = np.asarray(dense)
        if dense.ndim == 4:
            dense = dense[..., None]
        if dense.ndim != 5:
            raise ValueError(f"dense must have shape (B, D, H, W, C) or (B, D, H, W); got "
                             f"shape {dense.shape}")
        if dense.dtype.kind != "f":
            dense = dense.astype(np.float32)
        if mask is None:
            mask = np.any(dense != 0, axis=-1)
        else:
            mask = np.asarray(mask)
            if mask.dtype != bool:
                raise ValueError(f"mask must be a boolean array; got dtype {mask.dtype}")
            if mask.shape != dense.shape[:4]:
                raise ValueError(f"mask has shape {mask.shape}; expected {dense.shape[:4]} "
                                 "(the dense shape without channels)")
        coords = np.argwhere(mask).astype(np.int32)
        return cls(coords, dense[mask], dense.shape[1:4], batch_size=dense.shape[0])

    def to_dense(self) -> np.ndarray:
        """Dense ``(B, D, H, W, C)`` array: features at the sites, zeros elsewhere."""
        if self.features is None:
            raise ValueError("this SparseTensor has no features to place in a dense grid")
        out = np.zeros((self.batch_size,) + self.spatial_shape + (self.num_channels,),
                       dtype=self.features.dtype)
        c = self.coords
        out[c[:, 0], c[:, 1], c[:, 2], c[:, 3]] = self.features
        return out

    def mask(self) -> np.ndarray:
        """bool ``(B, D, H, W)``: True at the active sites."""
        out = np.zeros((self.batch_size,) + self.spatial_shape, dtype=bool)
        c = self.coords
        out[c[:, 0], c[:, 1], c[:, 2], c[:, 3]] = True
        return out

    def with_features(self, features) -> "SparseTensor":
        """Same sites (and cached tables), other features (shape (N, C'))."""
        out = SparseTensor.__new__(SparseTensor)
        out.coords, out.spatial_shape, out.batch_size = (self.coords, self.spatial_shape,
                                                         self.batch_size)
        out._cache = self._cache
        if features is not None:
            features = np.asarray(features)
            if features.ndim != 2 or features.shape[0] != self.num_sites:
                raise ValueError(f"features must have shape ({self.num_sites}, C); got "
                                 f"{features.shape}")
            if features.dtype.kind != "f":
                raise ValueError(f"features must be a floating-point array; got dtype "
                                 f"{features.dtype}")
        out.features = features
        return out

    # ---- neighbour tables (cached) -----------------------------------------------------------
    def neighbors(self, kernel_size: int = 3) -> np.ndarray:
        """int32 (N, k**3) submanifold table, cached; see :func:`rulebook.neighbor_table`."""
        key = ("neighbors", int(kernel_size))
        if key not in self._cache:
            self._cache[key] = rulebook.neighbor_table(self.coords, self.spatial_shape,
                                                       self.batch_size, kernel_size)
        return self._cache[key]

    def downsample(self, kernel_size: int = 2, stride: int | None = None):
        """Coarser level: ``(coarse, table, transposed)``, cached.

        ``coarse`` is a feature-less SparseTensor of the output sites of a strided convolution
        or pooling (kernel ``kernel_size``, ``stride``, no padding); ``table`` int32
        (M, k**3) lists each output site's input sites (N = missing) and ``transposed`` int32
        (N, k**3) each input site's output sites (M = missing). See
        :func:`rulebook.downsample_table`.
        """
        stride = int(kernel_size if stride is None else stride)
        key = ("down", int(kernel_size), stride)
        if key not in self._cache:
            coarse, shape, table, transposed = rulebook.downsample_table(
                self.coords, self.spatial_shape, self.batch_size, kernel_size, stride)
            level = SparseTensor.__new__(SparseTensor)
            level.coords, level.spatial_shape, level.batch_size = coarse, shape, self.batch_size
            level.features, level._cache = None, {}
            self._cache[key] = (level, table, transposed)
        return self._cache[key]
