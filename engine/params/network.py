"""The REFINE network ("lite" variant): image features sampled at projected vertices, a graph
convolution stack over mesh edges, and heads for per-vertex offsets and symmetry confidence.

No pretrained weights can be downloaded, so the ResNet-18 trunk (up to layer2) is randomly
initialized, or left out entirely (`encoder=False`: the graph network sees only the vertices).
"""

from __future__ import annotations

import torch
from pytorch3d.ops import GraphConv, vert_align
from torch import nn


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class ResNet18Trunk(nn.Module):
    """ResNet-18 through layer2: (B, 3, H, W) -> (B, 64, H/4, W/4), (B, 128, H/8, W/8)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        self.layer1 = nn.Sequential(_BasicBlock(64, 64, 1), _BasicBlock(64, 64, 1))
        self.layer2 = nn.Sequential(_BasicBlock(64, 128, 2), _BasicBlock(128, 128, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f1 = self.layer1(self.stem(x))
        return f1, self.layer2(f1)


class RefineNetwork(nn.Module):
    """v = v0 + offsets(v0, image); deform() also gives the per-vertex symmetry confidence (V,) in (0, 1).

    Args:
        rest: (V, 3) input vertices (normalized frame).
        faces: (F, 3) int64.
        image: (3, H, W) in [0, 1], the reference photo at the render resolution.
        grid: callable mapping (V, 3) vertices to (V, 2) image coordinates in [-1, 1] (x right,
            y down), i.e. the real camera projection.
        encoder: use the image trunk (True) or the vertices alone (False).
    """

    def __init__(self, rest, faces, image, grid, encoder: bool = True, hidden: int = 128, layers: int = 8) -> None:
        super().__init__()
        self.register_buffer("rest", rest)
        self.register_buffer("image", image[None])
        edges = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
        self.register_buffer("edges", torch.unique(torch.sort(edges, dim=1).values, dim=0))
        self.grid = grid
        self.encoder = ResNet18Trunk() if encoder else None
        feat = 0
        if encoder:
            self.bottleneck = nn.Linear(64 + 128, hidden)
            feat = hidden
        convs = [GraphConv(feat + 3, hidden)] + [GraphConv(hidden, hidden) for _ in range(layers - 1)]
        self.convs = nn.ModuleList(convs)
        self.offset_head = nn.Linear(hidden, 3)
        self.confidence_head = nn.Sequential(nn.Linear(hidden, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 1))

    def forward(self) -> torch.Tensor:
        return self.deform()[0]

    def deform(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(V, 3) vertices and the (V,) per-vertex symmetry confidence in (0, 1)."""
        x = self.rest
        if self.encoder is not None:
            f1, f2 = self.encoder(self.image)
            xy = self.grid(self.rest)[None]
            # vert_align samples at (x, y) in [-1, 1]; the z column is ignored.
            pts = torch.cat([xy, torch.zeros_like(xy[..., :1])], dim=-1)
            feats = vert_align([f1, f2], pts, return_packed=True, align_corners=False)
            x = torch.cat([torch.relu(self.bottleneck(feats)), self.rest], dim=1)
        for conv in self.convs:
            x = torch.relu(conv(x, self.edges))
        confidence = torch.sigmoid(self.confidence_head(x)).squeeze(1)
        return self.rest + self.offset_head(x), confidence
