#!/usr/bin/python3
"""Golden fixture for BertSharp's model: a BERT for pretraining in PyTorch, HuggingFace's architecture
and parameter names, with the MLM head applied only at the masked positions (Google's gather) and the
decoder tied to the word embeddings plus `cls.predictions.bias`.

Run with Debian's python3-torch:  /usr/bin/python3 tools/reference/bert_reference.py [--large]
Writes tests/BertSharp.Tests/Fixtures/bert_golden.safetensors and bert_golden.json. With --large:
bert_golden_large.*, the shapes of real training where kernels take their blocked paths (sequence length
128 with padding, head size 64, 20 masked positions per row), one step and no optimizer states, to keep
the files small.

Everything is computed in float64 from float32 starting weights, so the fixture is the exact answer
our float32 implementation is compared against. Dropout is off. Choices BertSharp shares:
  * attention mask: additive, (1 - mask) * -10000 (Google BERT and older HF);
  * hidden_act "gelu" = exact erf form;
  * MLM loss = mean cross-entropy over the real masked positions (weight 1); NSP loss = mean CE;
    total = MLM + NSP;
  * learning rate for update t (1-based): peak * t / warmup while t <= warmup, then
    peak * max(0, (total - t) / (total - warmup));
  * global gradient-norm clipping to 1.0 (torch.nn.utils.clip_grad_norm_), then torch.optim.AdamW with
    weight decay 0.01 on everything except biases and LayerNorm parameters.
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(1234)
torch.set_default_dtype(torch.float64)

CONFIG = {
    "vocab_size": 99,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "max_position_embeddings": 64,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "initializer_range": 0.02,
    "pad_token_id": 0,
}
OPTIM = {"learning_rate": 1e-3, "warmup_steps": 2, "total_steps": 10, "beta1": 0.9, "beta2": 0.999,
         "epsilon": 1e-6, "weight_decay": 0.01, "max_grad_norm": 1.0, "steps": 3}
B, T, P = 3, 16, 4  # batch, sequence length, max predictions per sequence
LARGE = "--large" in sys.argv
if LARGE:
    CONFIG.update({"hidden_size": 128, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 256,
                   "max_position_embeddings": 128})
    OPTIM["steps"] = 1
    B, T, P = 2, 128, 20
H = CONFIG["hidden_size"]
NH = CONFIG["num_attention_heads"]
V = CONFIG["vocab_size"]
EPS = CONFIG["layer_norm_eps"]


class Linear(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_out, n_in))
        self.bias = nn.Parameter(torch.empty(n_out))

    def forward(self, x):
        return x @ self.weight.t() + self.bias


class LayerNorm(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n))
        self.bias = nn.Parameter(torch.empty(n))

    def forward(self, x):
        return F.layer_norm(x, (x.shape[-1],), self.weight, self.bias, EPS)


class Embedding(nn.Module):
    def __init__(self, n, d):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n, d))

    def forward(self, ids):
        return F.embedding(ids, self.weight)


class BertEmbeddings(nn.Module):
    def __init__(self):
        super().__init__()
        self.word_embeddings = Embedding(V, H)
        self.position_embeddings = Embedding(CONFIG["max_position_embeddings"], H)
        self.token_type_embeddings = Embedding(CONFIG["type_vocab_size"], H)
        self.LayerNorm = LayerNorm(H)

    def forward(self, input_ids, token_type_ids):
        pos = torch.arange(input_ids.shape[1]).unsqueeze(0).expand_as(input_ids)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids) + self.position_embeddings(pos)
        return self.LayerNorm(x)


class BertSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.query = Linear(H, H)
        self.key = Linear(H, H)
        self.value = Linear(H, H)

    def forward(self, x, additive_mask):
        b, t, _ = x.shape
        d = H // NH

        def heads(y):  # [B, T, H] -> [B, NH, T, D]
            return y.view(b, t, NH, d).permute(0, 2, 1, 3)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d) + additive_mask
        probs = torch.softmax(scores, dim=-1)
        ctx = probs @ v
        return ctx.permute(0, 2, 1, 3).reshape(b, t, H)


class BertSelfOutput(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = Linear(H, H)
        self.LayerNorm = LayerNorm(H)

    def forward(self, h, residual):
        return self.LayerNorm(self.dense(h) + residual)


class BertAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.self = BertSelfAttention()
        self.output = BertSelfOutput()

    def forward(self, x, mask):
        return self.output(self.self(x, mask), x)


class BertIntermediate(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = Linear(H, CONFIG["intermediate_size"])

    def forward(self, x):
        return F.gelu(self.dense(x))  # exact erf form


class BertOutput(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = Linear(CONFIG["intermediate_size"], H)
        self.LayerNorm = LayerNorm(H)

    def forward(self, h, residual):
        return self.LayerNorm(self.dense(h) + residual)


class BertLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = BertAttention()
        self.intermediate = BertIntermediate()
        self.output = BertOutput()

    def forward(self, x, mask):
        a = self.attention(x, mask)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer() for _ in range(CONFIG["num_hidden_layers"])])

    def forward(self, x, mask):
        for layer in self.layer:
            x = layer(x, mask)
        return x


class BertPooler(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = Linear(H, H)

    def forward(self, x):
        return torch.tanh(self.dense(x[:, 0]))


class BertModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embeddings = BertEmbeddings()
        self.encoder = BertEncoder()
        self.pooler = BertPooler()

    def forward(self, input_ids, token_type_ids, attention_mask):
        additive = (1.0 - attention_mask.to(torch.float64))[:, None, None, :] * -10000.0
        emb = self.embeddings(input_ids, token_type_ids)
        seq = self.encoder(emb, additive)
        self.debug = {"embedding_output": emb, "sequence_output": seq}  # stored in the fixture to localise errors
        return seq, self.pooler(seq)


class Transform(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = Linear(H, H)
        self.LayerNorm = LayerNorm(H)

    def forward(self, x):
        return self.LayerNorm(F.gelu(self.dense(x)))


class Predictions(nn.Module):
    def __init__(self):
        super().__init__()
        self.transform = Transform()
        self.bias = nn.Parameter(torch.empty(V))


class Cls(nn.Module):
    def __init__(self):
        super().__init__()
        self.predictions = Predictions()
        self.seq_relationship = Linear(H, 2)


class BertForPreTraining(nn.Module):
    def __init__(self):
        super().__init__()
        self.bert = BertModel()
        self.cls = Cls()

    def forward(self, batch):
        seq, pooled = self.bert(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
        # Google's gather: only the masked positions go through the MLM head.
        flat = seq.reshape(-1, H)
        rows = (batch["masked_lm_positions"] + torch.arange(B)[:, None] * T).reshape(-1)
        h = self.cls.predictions.transform(flat[rows])
        mlm_logits = h @ self.bert.embeddings.word_embeddings.weight.t() + self.cls.predictions.bias
        nsp_logits = self.cls.seq_relationship(pooled)
        w = batch["masked_lm_weights"].reshape(-1)
        nll = F.cross_entropy(mlm_logits, batch["masked_lm_ids"].reshape(-1), reduction="none")
        mlm_loss = (nll * w).sum() / w.sum()
        nsp_loss = F.cross_entropy(nsp_logits, batch["next_sentence_labels"])
        return mlm_logits, nsp_logits, mlm_loss, nsp_loss


def make_large_batch():
    # Row 0 fills all 128 positions, row 1 has 97 real tokens and 31 of padding; 20 and 15 masked positions.
    g = torch.Generator().manual_seed(8)
    lengths, first, real = [128, 97], [61, 40], [20, 15]
    input_ids = torch.zeros(B, T, dtype=torch.long)
    token_type = torch.zeros(B, T, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.long)
    positions = torch.zeros(B, P, dtype=torch.long)
    weights = torch.zeros(B, P, dtype=torch.float64)
    ids = torch.zeros(B, P, dtype=torch.long)
    for i, (n, a, r) in enumerate(zip(lengths, first, real)):
        input_ids[i, :n] = torch.randint(5, V, (n,), generator=g)
        input_ids[i, 0] = 2
        input_ids[i, a - 1] = 3
        input_ids[i, n - 1] = 3
        token_type[i, a:n] = 1
        mask[i, :n] = 1
        candidates = [k for k in range(1, n - 1) if k != a - 1]
        pick = sorted(candidates[j] for j in torch.randperm(len(candidates), generator=g)[:r].tolist())
        positions[i, :r] = torch.tensor(pick)
        weights[i, :r] = 1
        ids[i, :r] = input_ids[i, pick]
        input_ids[i, pick] = 4
    nsp = torch.tensor([1, 0], dtype=torch.long)
    return {"input_ids": input_ids, "token_type_ids": token_type, "attention_mask": mask,
            "masked_lm_positions": positions, "masked_lm_ids": ids, "masked_lm_weights": weights,
            "next_sentence_labels": nsp}


def make_batch():
    if LARGE:
        return make_large_batch()
    g = torch.Generator().manual_seed(7)
    lengths = [16, 11, 7]
    first = [9, 5, 3]  # tokens in segment A including [CLS] and its [SEP]
    input_ids = torch.zeros(B, T, dtype=torch.long)
    token_type = torch.zeros(B, T, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.long)
    for i, (n, a) in enumerate(zip(lengths, first)):
        input_ids[i, :n] = torch.randint(5, V, (n,), generator=g)
        input_ids[i, 0] = 2               # [CLS]
        input_ids[i, a - 1] = 3           # [SEP]
        input_ids[i, n - 1] = 3
        token_type[i, a:n] = 1
        mask[i, :n] = 1
    positions = torch.tensor([[1, 4, 12, 13], [2, 6, 0, 0], [1, 4, 5, 0]], dtype=torch.long)
    weights = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]], dtype=torch.float64)
    ids = torch.randint(5, V, (B, P), generator=g) * weights.long()
    for i in range(B):
        for j in range(P):
            if weights[i, j] > 0:
                input_ids[i, positions[i, j]] = 4  # [MASK]
    nsp = torch.tensor([0, 1, 0], dtype=torch.long)
    return {"input_ids": input_ids, "token_type_ids": token_type, "attention_mask": mask,
            "masked_lm_positions": positions, "masked_lm_ids": ids, "masked_lm_weights": weights,
            "next_sentence_labels": nsp}


def init_weights(model):
    # Float32 starting values (what the C# side loads), larger than BERT's 0.02 so that attention and
    # GELU work away from their linear regions, and LayerNorm/bias values away from 1/0 so that a
    # swapped gamma/beta or a dropped bias shows.
    g = torch.Generator().manual_seed(42)
    for name, p in model.named_parameters():
        with torch.no_grad():
            if "LayerNorm.weight" in name:
                v = 1.0 + 0.1 * torch.randn(p.shape, generator=g)
            elif name.endswith("bias"):
                v = 0.1 * torch.randn(p.shape, generator=g)
            else:
                v = 0.1 * torch.randn(p.shape, generator=g)
            p.copy_(v.float().double())


def lr_at(t):
    o = OPTIM
    if t <= o["warmup_steps"]:
        return o["learning_rate"] * t / o["warmup_steps"]
    return o["learning_rate"] * max(0.0, (o["total_steps"] - t) / (o["total_steps"] - o["warmup_steps"]))


def is_no_decay(name):
    return name.endswith("bias") or "LayerNorm" in name


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, (dtype, t) in tensors.items():
        t = t.detach().contiguous()
        if dtype == "F32":
            data = t.to(torch.float32).numpy().astype("<f4").tobytes()
        elif dtype == "I64":
            data = t.to(torch.int64).numpy().astype("<i8").tobytes()
        else:
            raise ValueError(dtype)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def main():
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "BertSharp.Tests", "Fixtures")
    os.makedirs(out_dir, exist_ok=True)
    model = BertForPreTraining()
    init_weights(model)
    batch = make_batch()
    names = [n for n, _ in model.named_parameters()]
    tensors = {k: ("F32" if v.dtype == torch.float64 else "I64", v) for k, v in batch.items()}
    for n, p in model.named_parameters():
        tensors["param/" + n] = ("F32", p.detach().clone())

    mlm_logits, nsp_logits, mlm_loss, nsp_loss = model(batch)
    loss = mlm_loss + nsp_loss
    loss.backward()
    tensors["mlm_logits"] = ("F32", mlm_logits)
    tensors["nsp_logits"] = ("F32", nsp_logits)
    for k, v in model.bert.debug.items():
        tensors[k] = ("F32", v)
    for n, p in model.named_parameters():
        tensors["grad/" + n] = ("F32", p.grad.detach().clone())

    params = dict(model.named_parameters())
    decay = [params[n] for n in names if not is_no_decay(n)]
    no_decay = [params[n] for n in names if is_no_decay(n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": OPTIM["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=OPTIM["learning_rate"], betas=(OPTIM["beta1"], OPTIM["beta2"]), eps=OPTIM["epsilon"])
    losses, grad_norms = [], []
    for t in range(1, OPTIM["steps"] + 1):
        if t > 1:  # step 1 reuses the gradients computed above
            opt.zero_grad(set_to_none=False)
            _, _, ml, nl = model(batch)
            (ml + nl).backward()
            losses.append((ml + nl).item())
        else:
            losses.append(loss.item())
        grad_norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), OPTIM["max_grad_norm"]).item())
        for group in opt.param_groups:
            group["lr"] = lr_at(t)
        opt.step()
    if not LARGE:
        for n, p in model.named_parameters():
            tensors["step3/" + n] = ("F32", p)

    stem = "bert_golden_large" if LARGE else "bert_golden"
    write_safetensors(os.path.join(out_dir, stem + ".safetensors"), tensors)
    meta = {"config": CONFIG, "optimizer": OPTIM, "batch_size": B, "seq_length": T, "max_predictions": P,
            "attention_mask_value": -10000.0, "parameter_names": names,
            "mlm_loss": mlm_loss.item(), "nsp_loss": nsp_loss.item(), "total_loss": loss.item(),
            "losses_per_step": losses, "grad_norms_per_step": grad_norms,
            "learning_rates": [lr_at(t) for t in range(1, OPTIM["steps"] + 1)],
            "torch_version": torch.__version__}
    with open(os.path.join(out_dir, stem + ".json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print(f"mlm {mlm_loss.item():.6f} nsp {nsp_loss.item():.6f} grad norms {grad_norms} losses {losses}")


if __name__ == "__main__":
    main()
