#!/usr/bin/python3
"""PyTorch side of BertSharp's `train` benchmark: training steps (forward + backward + AdamW) of the same
BERT for pretraining (HF architecture, post-LN, exact GELU, dropout 0.1, tied decoder) on random batches.

  /usr/bin/python3 tools/reference/bench_torch.py --preset mini --head sparse --steps 10 --warmup 3

--head sparse: the MLM head only on the masked positions (Google's gather, what BertSharp does);
--head dense:  logits for every token and CrossEntropyLoss(ignore_index=-100), as HF's BertForPreTraining.
--autocast bf16: forward and loss under torch.autocast("cpu", dtype=torch.bfloat16) (oneDNN's AVX512_BF16 matmuls),
               float32 master weights, gradients and AdamW: what HF Trainer's --bf16 does on a CPU.
Prints one JSON line: median seconds per step, tokens/s, peak RSS. Give it its best environment (the
benchmark suite does): OMP_WAIT_POLICY=PASSIVE, and glibc kept from returning freed memory to the OS
(MALLOC_TRIM_THRESHOLD_/MALLOC_MMAP_THRESHOLD_ large), see /work/shared/reference/ANCHORS.md section 6.
"""
import argparse
import json
import math
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {"tiny": (2, 128), "mini": (4, 256), "small": (4, 512), "medium": (8, 512), "base": (12, 768)}


class Layer(nn.Module):
    def __init__(self, h, heads, inter, p):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.attn_out, self.ln1 = nn.Linear(h, h), nn.LayerNorm(h, eps=1e-12)
        self.inter, self.out, self.ln2 = nn.Linear(h, inter), nn.Linear(inter, h), nn.LayerNorm(h, eps=1e-12)
        self.drop = nn.Dropout(p)

    def forward(self, x, mask):
        b, t, h = x.shape
        d = h // self.heads

        def split(y):
            return y.view(b, t, self.heads, d).permute(0, 2, 1, 3)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d) + mask
        probs = self.drop(torch.softmax(scores, dim=-1))
        ctx = (probs @ v).permute(0, 2, 1, 3).reshape(b, t, h)
        a = self.ln1(self.drop(self.attn_out(ctx)) + x)
        return self.ln2(self.drop(self.out(F.gelu(self.inter(a)))) + a)


class Bert(nn.Module):
    def __init__(self, layers, h, vocab, p=0.1):
        super().__init__()
        heads, inter = h // 64, 4 * h
        self.word, self.pos, self.token_type = nn.Embedding(vocab, h), nn.Embedding(512, h), nn.Embedding(2, h)
        self.ln, self.drop = nn.LayerNorm(h, eps=1e-12), nn.Dropout(p)
        self.layers = nn.ModuleList([Layer(h, heads, inter, p) for _ in range(layers)])
        self.pooler, self.nsp = nn.Linear(h, h), nn.Linear(h, 2)
        self.transform, self.tln = nn.Linear(h, h), nn.LayerNorm(h, eps=1e-12)
        self.mlm_bias = nn.Parameter(torch.zeros(vocab))
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.trunc_normal_(m.weight, std=0.02, a=-0.04, b=0.04)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, ids, types, attn, positions, labels, weights, nsp_labels, dense):
        b, t = ids.shape
        pos = torch.arange(t).unsqueeze(0)
        x = self.drop(self.ln(self.word(ids) + self.token_type(types) + self.pos(pos)))
        mask = (1.0 - attn[:, None, None, :].float()) * -10000.0
        for layer in self.layers:
            x = layer(x, mask)
        pooled = torch.tanh(self.pooler(x[:, 0]))
        nsp_loss = F.cross_entropy(self.nsp(pooled), nsp_labels)
        if dense:
            # HF BertForPreTraining: every position through the decoder, -100 elsewhere.
            h = self.tln(F.gelu(self.transform(x)).float())  # 1.13's autocast has no bf16 LayerNorm backward here
            logits = h @ self.word.weight.t() + self.mlm_bias
            full = torch.full((b, t), -100, dtype=torch.long)
            full.scatter_(1, positions, torch.where(weights > 0, labels, torch.full_like(labels, -100)))
            mlm_loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), full.view(-1), ignore_index=-100)
        else:
            rows = (positions + torch.arange(b)[:, None] * t).reshape(-1)
            h = self.tln(F.gelu(self.transform(x.reshape(-1, x.shape[-1])[rows])).float())
            logits = h @ self.word.weight.t() + self.mlm_bias
            nll = F.cross_entropy(logits, labels.reshape(-1), reduction="none")
            w = weights.reshape(-1)
            mlm_loss = (nll * w).sum() / w.sum()
        return mlm_loss + nsp_loss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="mini", choices=sorted(PRESETS))
    ap.add_argument("--head", default="sparse", choices=["sparse", "dense"])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--predictions", type=int, default=20)
    ap.add_argument("--vocab", type=int, default=30522)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--autocast", default="none", choices=["none", "bf16"])
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    layers, h = PRESETS[a.preset]
    model = Bert(layers, h, a.vocab)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4, eps=1e-6)
    b, t, p = a.batch, a.seq, a.predictions
    ids = torch.randint(5, a.vocab, (b, t))
    types = torch.zeros(b, t, dtype=torch.long)
    types[:, t // 2:] = 1
    attn = torch.ones(b, t, dtype=torch.long)
    positions = torch.sort(torch.stack([torch.randperm(t - 2)[:p] + 1 for _ in range(b)]), dim=1).values
    labels = torch.randint(5, a.vocab, (b, p))
    weights = torch.ones(b, p)
    nsp = torch.randint(0, 2, (b,))
    model.train()
    times = []
    for step in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.autocast == "bf16"):
            loss = model(ids, types, attn, positions, labels, weights, nsp, a.head == "dense")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step >= a.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(json.dumps({"preset": a.preset, "head": a.head, "autocast": a.autocast, "threads": a.threads, "batch": b, "seq": t,
                      "median_step_s": med, "min_step_s": min(times), "tokens_per_s": b * t / med,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                      "loss": loss.item(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
