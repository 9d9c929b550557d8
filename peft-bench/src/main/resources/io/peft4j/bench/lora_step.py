"""The PyTorch-Python side of peft4j's PythonReference benchmark.

One LoRA train step on a BERT encoder shaped like all-MiniLM-L6-v2 (or a tiny one), written in
plain torch so that it needs nothing but Debian's python3-torch (no transformers, no peft). The
layers follow Hugging Face's eager BertModel, and the LoRA layer follows peft's lora.Linear:

  embeddings  LayerNorm(word + position + token_type), dropout
  self-attn   q, k, v Linears; softmax((q / sqrt(d)) k^T + mask bias); dropout; probs v
  attn output dense, dropout, LayerNorm(. + residual)
  ffn         dense, exact (erf) GELU, dense, dropout, LayerNorm(. + residual)
  LoRA        on query and value: base(x) + B(A(x)) * (alpha / r), base frozen

The step matches peft4j's (MiniLmLoraFigures's train step): train mode (dropout active), loss = mean of the
last hidden state squared, backward, AdamW over the LoRA parameters only (lr 1e-5, betas
0.9/0.999, eps 1e-8, weight decay 0, as io.peft4j.core.train.AdamW's defaults), zeroed grads.
Weights are random: speed is what is measured, not the values.

Protocol: prints `ready torch=<version> threads=<n> trainable=<count> blas=<library path>
blas_core=<OpenBLAS kernel> blas_config=<OpenBLAS build, spaces as _>`; then for each stdin line
`step` runs one train step and prints `seconds <float>` (time.perf_counter around the step);
exits on `quit` or EOF.
"""

import argparse
import math
import sys
import time

import torch
from torch import nn


class LoraLinear(nn.Module):
    """peft's lora.Linear with lora_dropout 0: base(x) + lora_B(lora_A(x)) * scaling."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        self.scaling = alpha / r
        # peft: A kaiming-uniform(a=sqrt(5)), B zeros. B gets small random values instead so the
        # first steps already do the full update work (AdamW skips nothing either way).
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.normal_(self.lora_B.weight, std=0.02)

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x)) * self.scaling


class SelfAttention(nn.Module):
    def __init__(self, hidden, heads, p):
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(p)

    def split(self, x):
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x, bias):
        q = self.split(self.query(x))
        k = self.split(self.key(x))
        v = self.split(self.value(x))
        # q is scaled before q k^T, as in peft4j's Attention (same product, smaller array)
        scores = torch.matmul(q / math.sqrt(self.head_dim), k.transpose(-1, -2)) + bias
        probs = self.dropout(torch.softmax(scores, dim=-1))
        ctx = torch.matmul(probs, v).transpose(1, 2).contiguous()
        return ctx.view(x.shape[0], x.shape[1], -1)


class AddNorm(nn.Module):
    """LayerNorm(dropout(dense(x)) + residual): BertSelfOutput and BertOutput."""

    def __init__(self, inner, hidden, p, eps):
        super().__init__()
        self.dense = nn.Linear(inner, hidden)
        self.dropout = nn.Dropout(p)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Layer(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.attention = SelfAttention(a.hidden, a.heads, a.attn_dropout)
        self.attention_output = AddNorm(a.hidden, a.hidden, a.hidden_dropout, a.eps)
        self.intermediate = nn.Linear(a.hidden, a.intermediate)
        self.output = AddNorm(a.intermediate, a.hidden, a.hidden_dropout, a.eps)

    def forward(self, x, bias):
        attended = self.attention_output(self.attention(x, bias), x)
        inner = nn.functional.gelu(self.intermediate(attended))  # exact erf GELU
        return self.output(inner, attended)


class Bert(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.word_embeddings = nn.Embedding(a.vocab, a.hidden)
        self.position_embeddings = nn.Embedding(a.max_positions, a.hidden)
        self.token_type_embeddings = nn.Embedding(2, a.hidden)
        self.LayerNorm = nn.LayerNorm(a.hidden, eps=a.eps)
        self.dropout = nn.Dropout(a.hidden_dropout)
        self.layers = nn.ModuleList([Layer(a) for _ in range(a.layers)])
        for m in self.modules():  # BERT's init: normal(0, 0.02); values do not matter for speed
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, ids, mask, types):
        positions = torch.arange(ids.shape[1]).unsqueeze(0)
        h = self.word_embeddings(ids) + self.token_type_embeddings(types) + self.position_embeddings(positions)
        h = self.dropout(self.LayerNorm(h))
        # Hugging Face's extended mask: 0 for real tokens, a large negative value for padding. Added
        # even when it is all zeros, as HF's eager attention does (peft4j skips that add).
        bias = (1.0 - mask[:, None, None, :].to(h.dtype)) * -1e9
        for layer in self.layers:
            h = layer(h, bias)
        return h


def blas_library():
    """The BLAS this torch loaded (Debian's torch uses the libblas.so.3 alternative: the netlib
    reference BLAS unless OpenBLAS is installed, which makes GEMMs several times slower)."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1]
                if "libblas" in path or "openblas" in path or "libmkl" in path:
                    return path
    except OSError:
        pass
    return "unknown"


def blas_kernel(path):
    """OpenBLAS's kernel (the core it dispatched to, e.g. SkylakeX or Haswell) and build config, via
    its own openblas_get_corename / openblas_get_config; "n/a" for another BLAS. The environment
    can pin the kernel (OPENBLAS_CORETYPE), so the figure must say which one ran."""
    try:
        import ctypes
        lib = ctypes.CDLL(path)
        lib.openblas_get_corename.restype = ctypes.c_char_p
        lib.openblas_get_config.restype = ctypes.c_char_p
        core = lib.openblas_get_corename().decode().strip()
        config = lib.openblas_get_config().decode().strip()
        return core, "_".join(config.split())
    except (OSError, AttributeError, ValueError):
        return "n/a", "n/a"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vocab", type=int, default=30522)
    p.add_argument("--hidden", type=int, default=384)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--intermediate", type=int, default=1536)
    p.add_argument("--max-positions", type=int, default=512)
    p.add_argument("--hidden-dropout", type=float, default=0.1)
    p.add_argument("--attn-dropout", type=float, default=0.1)
    p.add_argument("--eps", type=float, default=1e-12)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=float, default=16)
    p.add_argument("--lr", type=float, default=1e-5)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)  # only allowed before any parallel work; best effort
    except RuntimeError:
        pass
    torch.manual_seed(a.seed)

    model = Bert(a)
    model.requires_grad_(False)  # frozen base
    for layer in model.layers:
        layer.attention.query = LoraLinear(layer.attention.query, a.rank, a.alpha)
        layer.attention.value = LoraLinear(layer.attention.value, a.rank, a.alpha)
    model.train()  # dropout active, as peft4j's forward(training=true)
    params = [q for q in model.parameters() if q.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    ids = torch.randint(1000, a.vocab, (a.batch, a.seq))  # no special tokens, as Bench.randomIds
    mask = torch.ones(a.batch, a.seq, dtype=torch.long)
    types = torch.zeros(a.batch, a.seq, dtype=torch.long)

    blas = blas_library()
    core, config = blas_kernel(blas) if blas != "unknown" else ("n/a", "n/a")
    print("ready torch=%s threads=%d trainable=%d blas=%s blas_core=%s blas_config=%s" % (
        torch.__version__, torch.get_num_threads(), sum(q.numel() for q in params), blas, core, config), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            break
        if command != "step":
            print("error unknown command %r (expected step or quit)" % command, flush=True)
            continue
        start = time.perf_counter()
        optimizer.zero_grad()
        loss = model(ids, mask, types).square().mean()
        loss.backward()
        optimizer.step()
        print("seconds %.6f" % (time.perf_counter() - start), flush=True)


if __name__ == "__main__":
    main()
