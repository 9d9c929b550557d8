"""Hugging Face peft + transformers half of the side-by-side LoRA step (peft4j's half is
io.peft4j.bench.LoraStepOnDevice; gpu/run-on-device.sh runs both on the same device).

The same step on both sides: a model with random weights of a real model's shape (transformers'
BertConfig / Qwen2Config, random init), float32, LoRA r=8, alpha 16, dropout 0 on the attention's
query and value projections (peft's LoraConfig), train mode, loss = mean square of the model's
output (BERT: last hidden state; Qwen2: logits), backward, torch.optim.AdamW(lr 1e-5, betas
0.9/0.999, eps 1e-8, weight decay 0) over the LoRA parameters, zero_grad; the step ends with
loss.item(), so its time includes every kernel it queued.

  minilm        all-MiniLM-L6-v2's encoder shape, batch 16 x 128
  qwen2.5-0.5b  Qwen2.5-0.5B's decoder shape, batch 4 x 512

Prints one JSON line on stdout: median step time, and on a GPU the device memory in use
(torch.cuda.mem_get_info: total - free) at its peak over the steps minus before the model was
built (what the peft4j side measures), plus torch's own max_memory_allocated. Without transformers
or peft it prints `skipped: no transformers` (or `no peft`) on stderr and exits 0.

Usage: hf_peft_step.py <minilm|qwen2.5-0.5b> [steps=20] [--device cpu|cuda] [--tiny]
"""

import argparse
import json
import statistics
import sys
import time

WARMUP_STEPS = 3
SEED = 7


def shapes(model, tiny):
    if tiny:
        return 2, 16
    return (16, 128) if model == "minilm" else (4, 512)


def build(model, tiny, transformers):
    if model == "minilm":
        if tiny:
            cfg = transformers.BertConfig(vocab_size=1200, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                          intermediate_size=64, max_position_embeddings=64)
        else:
            cfg = transformers.BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6,
                                          num_attention_heads=12, intermediate_size=1536, max_position_embeddings=512,
                                          type_vocab_size=2, layer_norm_eps=1e-12, hidden_act="gelu")
        return transformers.BertModel(cfg, add_pooling_layer=False), ["query", "value"], cfg.vocab_size
    if tiny:
        cfg = transformers.Qwen2Config(vocab_size=1200, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                                       rms_norm_eps=1e-6, rope_theta=1_000_000.0, tie_word_embeddings=True)
    else:
        cfg = transformers.Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864,
                                       num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                                       max_position_embeddings=32768, rms_norm_eps=1e-6, rope_theta=1_000_000.0,
                                       tie_word_embeddings=True)
    return transformers.Qwen2ForCausalLM(cfg), ["q_proj", "v_proj"], cfg.vocab_size


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", choices=["minilm", "qwen2.5-0.5b"])
    p.add_argument("steps", nargs="?", type=int, default=20)
    p.add_argument("--device", default="cuda")
    p.add_argument("--tiny", action="store_true")
    a = p.parse_args()
    if a.steps < 1:
        p.error("steps must be >= 1, got %d" % a.steps)
    try:
        import torch
    except ImportError:
        print("skipped: no torch", file=sys.stderr)
        return 0
    try:
        import transformers
    except ImportError:
        print("skipped: no transformers", file=sys.stderr)
        return 0
    try:
        import peft
    except ImportError:
        print("skipped: no peft", file=sys.stderr)
        return 0

    device = torch.device(a.device)
    gpu = device.type == "cuda"
    if gpu and not torch.cuda.is_available():
        print("hf_peft_step.py: --device %s but torch sees no CUDA device" % a.device, file=sys.stderr)
        return 3
    torch.manual_seed(SEED)

    def used():
        if not gpu:
            return 0
        free, total = torch.cuda.mem_get_info(device)
        return total - free

    if gpu:
        torch.zeros(1, device=device)  # the CUDA context, before the baseline
        torch.cuda.reset_peak_memory_stats(device)
    before = used()
    peak = before
    batch, seq = shapes(a.model, a.tiny)
    base, targets, vocab = build(a.model, a.tiny, transformers)
    base.to(device=device, dtype=torch.float32)
    model = peft.get_peft_model(base, peft.LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=targets))
    model.train()
    params = [q for q in model.parameters() if q.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    gen = torch.Generator().manual_seed(SEED)
    ids = torch.randint(min(1000, vocab // 2), vocab, (batch, seq), generator=gen).to(device)
    mask = torch.ones(batch, seq, dtype=torch.long, device=device)

    def step():
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=False)
        if a.model == "minilm":
            out = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state
        else:
            out = model(input_ids=ids, attention_mask=mask).logits
        loss = out.square().mean()
        loss.backward()
        optimizer.step()
        loss.item()
        return time.perf_counter() - start

    for _ in range(WARMUP_STEPS):
        step()
        peak = max(peak, used())
    times = []
    for _ in range(a.steps):
        times.append(step())
        peak = max(peak, used())
    attn = getattr(base.config, "_attn_implementation", None)
    print(json.dumps({
        "side": "hf-peft", "model": a.model + ("-tiny" if a.tiny else ""), "device": str(device),
        "dtype": "float32", "batch": batch, "seq": seq, "trainable": sum(q.numel() for q in params),
        "steps": a.steps, "median_ms": round(statistics.median(times) * 1e3, 3), "min_ms": round(min(times) * 1e3, 3),
        "gpu_mem_used_peak_minus_baseline_mib": round((peak - before) / 1048576.0, 1) if gpu else None,
        "torch_max_memory_allocated_mib": round(torch.cuda.max_memory_allocated(device) / 1048576.0, 1) if gpu else None,
        "attn_implementation": attn,
        "engine": "torch %s, transformers %s, peft %s" % (torch.__version__, transformers.__version__, peft.__version__),
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
