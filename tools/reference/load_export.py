#!/usr/bin/python3
"""Loads a folder written by `bertsharp export` the way HF's BertForPreTraining.from_pretrained would, into
the PyTorch reference model (bert_reference.py, HF's architecture and parameter names), and prints the
MLM and NSP logits for the given inputs. `transformers` is not installable here, so this script stands in
for it: it reads config.json with HF's field names, parses model.safetensors by hand (header checks
included), ties the decoder to the word embeddings as HF does, and loads the state dict with strict key
checking, so a missing, extra or misnamed tensor fails.

  /usr/bin/python3 tools/reference/load_export.py FOLDER --inputs inputs.json [--out logits.json]

inputs.json: {"input_ids": [[...], ...], "token_type_ids": [[...]], "attention_mask": [[...]]}
Output JSON: {"prediction_logits": [B, T, V] nested lists, "seq_relationship_logits": [B, 2],
              "model_sha256": hex digest of model.safetensors,
              "tensor_sha256": {name: SHA-256 of the tensor as PyTorch decodes it, as little-endian float32},
              "dtypes": {name: safetensors dtype}}
Computed in float64 from the weights (dropout off). F32 and integer tensors are read by numpy, BF16 and F16 by
torch.frombuffer(dtype=torch.bfloat16 / torch.float16), so the half-precision decoding is PyTorch's own;
config.json's torch_dtype must name the type the tensors are stored in, as transformers writes it.
"""
import argparse
import hashlib
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_reference as ref  # noqa: E402

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32}
TORCH_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64"}


def decode(raw, dtype, shape):
    """The tensor as PyTorch holds it after loading (float32, float16 or bfloat16; integers as they are)."""
    if dtype in ("BF16", "F16"):
        half = torch.bfloat16 if dtype == "BF16" else torch.float16
        return torch.frombuffer(bytearray(raw), dtype=half).reshape(shape)
    arr = np.frombuffer(raw, dtype=np.dtype(DTYPES[dtype]).newbyteorder("<")).reshape(shape)
    return torch.from_numpy(arr.copy())


def read_safetensors(path):
    data = open(path, "rb").read()
    if len(data) < 8:
        raise ValueError(f"{path}: truncated")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"{path}: header length {n} beyond the file")
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    tensors, digests, dtypes, end = {}, {}, {}, 0
    for name, e in sorted(((k, v) for k, v in header.items() if k != "__metadata__"), key=lambda kv: kv[1]["data_offsets"]):
        b, f = e["data_offsets"]
        if b != end or f > len(body):
            raise ValueError(f"{path}: bad offsets for {name}")
        end = f
        t = decode(body[b:f], e["dtype"], e["shape"])
        dtypes[name] = e["dtype"]
        if t.is_floating_point():
            digests[name] = hashlib.sha256(t.to(torch.float32).numpy().astype("<f4").tobytes()).hexdigest()
            t = t.to(torch.float64)
        tensors[name] = t
    if end != len(body):
        raise ValueError(f"{path}: trailing bytes")
    return header.get("__metadata__", {}), tensors, digests, dtypes


def load(folder):
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("model_type") != "bert" or "BertForPreTraining" not in cfg.get("architectures", []):
        raise ValueError("config.json: not a BertForPreTraining config")
    if cfg.get("position_embedding_type", "absolute") != "absolute" or cfg.get("hidden_act") != "gelu":
        raise ValueError("config.json: the reference model implements absolute positions and exact GELU only")
    for k in ref.CONFIG:
        ref.CONFIG[k] = cfg[k]
    ref.H, ref.NH, ref.V, ref.EPS = cfg["hidden_size"], cfg["num_attention_heads"], cfg["vocab_size"], cfg["layer_norm_eps"]
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if not os.path.exists(os.path.join(folder, name)):
            raise ValueError(f"{name} missing")
    with open(os.path.join(folder, "tokenizer_config.json")) as f:
        tok = json.load(f)
    if tok.get("tokenizer_class") != "BertTokenizer" or "do_lower_case" not in tok:
        raise ValueError("tokenizer_config.json: no BertTokenizer / do_lower_case")

    path = os.path.join(folder, "model.safetensors")
    meta, state, digests, dtypes = read_safetensors(path)
    if meta.get("format") != "pt":
        raise ValueError("model.safetensors: metadata format is not 'pt' (HF refuses it)")
    stored = {TORCH_DTYPES[d] for d in dtypes.values() if d in TORCH_DTYPES}
    if stored != {cfg.get("torch_dtype")}:
        raise ValueError(f"config.json: torch_dtype {cfg.get('torch_dtype')!r} but model.safetensors holds {sorted(stored)}")
    # HF ties cls.predictions.decoder.weight to the word embeddings and decoder.bias to cls.predictions.bias;
    # the reference model has no separate decoder parameters, so an exported copy must be identical.
    for tied, to in (("cls.predictions.decoder.weight", "bert.embeddings.word_embeddings.weight"),
                     ("cls.predictions.decoder.bias", "cls.predictions.bias")):
        if tied in state:
            if not torch.equal(state[tied], state[to]):
                raise ValueError(f"{tied} is not tied to {to}")
            del state[tied]
    model = ref.BertForPreTraining()
    model.load_state_dict(state, strict=True)
    model.eval()
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return model, digest, digests, dtypes


def logits(model, inputs):
    ids = torch.tensor(inputs["input_ids"], dtype=torch.long)
    tt = torch.tensor(inputs["token_type_ids"], dtype=torch.long)
    am = torch.tensor(inputs["attention_mask"], dtype=torch.long)
    with torch.no_grad():
        seq, pooled = model.bert(ids, tt, am)
        h = model.cls.predictions.transform(seq)
        mlm = h @ model.bert.embeddings.word_embeddings.weight.t() + model.cls.predictions.bias
        nsp = model.cls.seq_relationship(pooled)
    return mlm, nsp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--out")
    a = ap.parse_args()
    torch.set_default_dtype(torch.float64)
    model, digest, digests, dtypes = load(a.folder)
    with open(a.inputs) as f:
        inputs = json.load(f)
    mlm, nsp = logits(model, inputs)
    result = {"prediction_logits": mlm.tolist(), "seq_relationship_logits": nsp.tolist(), "model_sha256": digest,
              "tensor_sha256": digests, "dtypes": dtypes, "torch_version": torch.__version__}
    text = json.dumps(result)
    if a.out:
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, a.out)
    print(f"loaded {a.folder}: prediction_logits {list(mlm.shape)}, seq_relationship_logits {nsp.tolist()}")


if __name__ == "__main__":
    main()
