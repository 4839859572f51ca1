#!/usr/bin/python3
"""Golden fixture for BertSharp's BertForSequenceClassification: the reference BERT encoder and pooler
(bert_reference.py, HF names) with HF's classification head on top, pooled [CLS] -> dropout (off) ->
classifier (Linear, `classifier.weight` [labels, H], `classifier.bias`), mean cross-entropy over the rows
whose label is not -1 (ignore_index, the padding rows of a partial batch). Float64 from float32 weights.

Run with Debian's python3-torch:  /usr/bin/python3 tools/reference/classifier_reference.py
Writes tests/BertSharp.Tests/Fixtures/classifier_golden.safetensors (params, inputs, logits, loss, every gradient).
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_reference as ref  # noqa: E402

torch.manual_seed(4321)
torch.set_default_dtype(torch.float64)
LABELS = 3
B, T = 4, 12


class BertForSequenceClassification(nn.Module):
    def __init__(self):
        super().__init__()
        self.bert = ref.BertModel()
        self.classifier = ref.Linear(ref.H, LABELS)

    def forward(self, ids, tt, am, labels):
        _, pooled = self.bert(ids, tt, am)
        logits = self.classifier(pooled)
        return logits, F.cross_entropy(logits, labels, ignore_index=-1)


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "BertSharp.Tests", "Fixtures",
                       "classifier_golden.safetensors")
    model = BertForSequenceClassification()
    ref.init_weights(model)
    g = torch.Generator().manual_seed(11)
    lengths = [12, 9, 5, 3]
    ids = torch.zeros(B, T, dtype=torch.long)
    tt = torch.zeros(B, T, dtype=torch.long)
    am = torch.zeros(B, T, dtype=torch.long)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(5, ref.V, (n,), generator=g)
        ids[i, 0], ids[i, n - 1] = 2, 3
        am[i, :n] = 1
    tt[0, 6:12] = 1
    labels = torch.tensor([2, 0, -1, 1], dtype=torch.long)
    logits, loss = model(ids, tt, am, labels)
    loss.backward()
    tensors = {"input_ids": ("I64", ids), "token_type_ids": ("I64", tt), "attention_mask": ("I64", am),
               "labels": ("I64", labels), "logits": ("F32", logits), "loss": ("F32", loss.reshape(1))}
    for n, p in model.named_parameters():
        tensors["param/" + n] = ("F32", p.detach().clone())
        tensors["grad/" + n] = ("F32", p.grad.detach().clone())
    ref.write_safetensors(out, tensors)
    print(f"loss {loss.item():.8f} logits {logits.tolist()}")


if __name__ == "__main__":
    main()
