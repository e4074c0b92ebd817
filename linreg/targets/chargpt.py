"""A character-level transformer of about a million parameters (nanoGPT's shape: pre-norm
blocks of causal self-attention and an MLP, tied input and output embeddings) on the text
bundled beside this file, trained with AdamW (weight decay on matrices only), a linear warm-up
then cosine schedule, and gradient clipping.

Training batches are windows of the text at offsets drawn from the harness's generator, as many
as the run asks for; the eval batches are drawn once, so every evaluation sees the same windows.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from linreg.target import Target, TargetData

TEXT_FILE = "data/linreg_notes.txt"


def load_text() -> str:
    return (Path(__file__).parent / TEXT_FILE).read_text(encoding="utf-8")


class Block(nn.Module):
    def __init__(self, embd: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.ln_1 = nn.LayerNorm(embd)
        self.attn = nn.Linear(embd, 3 * embd)
        self.attn_proj = nn.Linear(embd, embd)
        self.ln_2 = nn.LayerNorm(embd)
        self.mlp = nn.Sequential(
            nn.Linear(embd, 4 * embd), nn.GELU(), nn.Linear(4 * embd, embd), nn.Dropout(dropout)
        )
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, time, embd = x.shape
        q, k, v = self.attn(self.ln_1(x)).split(embd, dim=2)
        q, k, v = (t.view(batch, time, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p)
        y = y.transpose(1, 2).contiguous().view(batch, time, embd)
        x = x + self.resid_dropout(self.attn_proj(y))
        return x + self.mlp(self.ln_2(x))


class Gpt(nn.Module):
    def __init__(self, vocab: int, block: int, layers: int, heads: int, embd: int,
                 dropout: float) -> None:  # fmt: skip
        super().__init__()
        self.token = nn.Embedding(vocab, embd)
        self.position = nn.Embedding(block, embd)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(embd, heads, dropout) for _ in range(layers))
        self.ln_f = nn.LayerNorm(embd)
        self.head = nn.Linear(embd, vocab, bias=False)
        self.head.weight = self.token.weight  # tied, as in nanoGPT
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith("attn_proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * layers))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.drop(self.token(ids) + self.position(positions))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


class Windows:
    """``(inputs, next characters)`` windows of ``ids`` at offsets drawn from ``generator``,
    without end: the harness takes as many as its steps."""

    def __init__(self, ids: torch.Tensor, block: int, batch: int, generator: torch.Generator):
        self.ids, self.block, self.batch, self.generator = ids, block, batch, generator

    def draw(self) -> tuple[torch.Tensor, torch.Tensor]:
        starts = torch.randint(len(self.ids) - self.block, (self.batch,), generator=self.generator)
        offsets = starts.unsqueeze(1) + torch.arange(self.block + 1)
        windows = self.ids[offsets]
        return windows[:, :-1], windows[:, 1:]

    def __iter__(self):
        while True:
            yield self.draw()


class CharGpt(Target):
    name = "chargpt"
    dtypes = ("float32", "float64", "bfloat16")
    sizes = {
        "ci": {"steps": 20, "block": 32, "batch": 8, "layers": 4, "heads": 4, "embd": 144,
               "dropout": 0.1, "lr": 1e-3, "warmup": 4, "eval_batches": 2},
        "full": {"steps": 2000, "block": 128, "batch": 32, "layers": 4, "heads": 4, "embd": 144,
                 "dropout": 0.1, "lr": 1e-3, "warmup": 100, "eval_batches": 8},
    }  # fmt: skip
    eval_every = 10
    clip_grad_norm = 1.0
    data_files = (TEXT_FILE,)

    def __init__(self) -> None:
        self.text = load_text()
        self.vocab = sorted(set(self.text))

    def model(self, size):
        return Gpt(len(self.vocab), size.block, size.layers, size.heads, size.embd, size.dropout)

    def data(self, size, generator):
        index = {char: i for i, char in enumerate(self.vocab)}
        ids = torch.tensor([index[char] for char in self.text], dtype=torch.long)
        split = len(ids) * 9 // 10
        train = Windows(ids[:split], size.block, size.batch, generator)
        held_out = Windows(ids[split:], size.block, size.batch, generator)
        return TargetData(train=train, eval=[held_out.draw() for _ in range(size.eval_batches)])

    def loss(self, size):
        def cross_entropy(logits, targets):
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

        return cross_entropy

    def optimizer(self, params, size):
        decay = [p for p in params if p.dim() >= 2]
        no_decay = [p for p in params if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": 0.1},
                  {"params": no_decay, "weight_decay": 0.0}]  # fmt: skip
        return torch.optim.AdamW(groups, lr=size.lr, betas=(0.9, 0.99))

    def scheduler(self, optimizer, size):
        def factor(step: int) -> float:
            """Linear warm-up to the full rate, then a cosine down to a tenth of it."""
            if step < size.warmup:
                return (step + 1) / size.warmup
            progress = min(1.0, (step - size.warmup) / max(1, size.steps - size.warmup))
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
