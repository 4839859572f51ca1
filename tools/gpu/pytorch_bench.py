"""PyTorch baseline for issue 15 on the GPU machine: HuggingFace BertForPreTraining, bf16 autocast, AdamW (fused),
batch 128 (tiny/mini/small) or 64 (base) x length 128, 20 predictions per sequence, eager mode. Two MLM heads:
'dense' (the model's default, logits at every position) and 'gathered' (the head on the masked positions only, as
BertSharp and Google's BERT do). Writes tokens/s, ms/step and peak memory per preset to the JSON path given."""
import json, sys, time
import torch
import torch.nn.functional as F
from transformers import BertConfig, BertForPreTraining

PRESETS = {"tiny": (2, 128), "mini": (4, 256), "small": (4, 512), "base": (12, 768)}
SEQ, PRED, VOCAB = 128, 20, 30522
out = sys.argv[1] if len(sys.argv) > 1 else "pytorch.json"
dev = torch.device("cuda")
torch.backends.cuda.matmul.allow_tf32 = False
rows = []
for preset, (layers, hidden) in PRESETS.items():
    batch = 64 if preset == "base" else 128
    for head in ("dense", "gathered"):
        try:
            torch.manual_seed(0)
            cfg = BertConfig(vocab_size=VOCAB, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=max(2, hidden // 64),
                             intermediate_size=4 * hidden, max_position_embeddings=512)
            model = BertForPreTraining(cfg).to(dev).train()
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01, fused=True)
            ids = torch.randint(5, VOCAB, (batch, SEQ), device=dev)
            types = (torch.arange(SEQ, device=dev) >= SEQ // 2).long().expand(batch, SEQ)
            mask = torch.ones(batch, SEQ, dtype=torch.long, device=dev)
            pos = (1 + 6 * torch.arange(PRED, device=dev)).expand(batch, PRED)
            targets = torch.randint(5, VOCAB, (batch, PRED), device=dev)
            nsp = torch.randint(0, 2, (batch,), device=dev)
            labels = torch.full((batch, SEQ), -100, device=dev).scatter_(1, pos, targets)

            def step():
                opt.zero_grad(set_to_none=True)
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    if head == "dense":
                        loss = model(input_ids=ids, token_type_ids=types, attention_mask=mask, labels=labels, next_sentence_label=nsp).loss
                    else:
                        seq_out, pooled = model.bert(input_ids=ids, token_type_ids=types, attention_mask=mask, return_dict=False)[:2]
                        gathered = seq_out.gather(1, pos.unsqueeze(-1).expand(-1, -1, hidden))
                        mlm = model.cls.predictions(gathered)
                        loss = F.cross_entropy(mlm.float().view(-1, VOCAB), targets.view(-1)) + \
                               F.cross_entropy(model.cls.seq_relationship(pooled).float(), nsp)
                loss.backward()
                opt.step()

            for _ in range(3): step()
            torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
            steps = 20
            t0 = time.perf_counter()
            for _ in range(steps): step()
            torch.cuda.synchronize()
            sec = (time.perf_counter() - t0) / steps
            r = {"preset": preset, "head": head, "precision": "bf16-autocast", "batch": batch, "seq": SEQ,
                 "tokens_per_s": batch * SEQ / sec, "ms_per_step": sec * 1e3,
                 "peak_memory_mib": torch.cuda.max_memory_allocated() / 2**20}
            print(f'torch {preset:6} {head:8} {r["tokens_per_s"]:>10.0f} tokens/s {r["ms_per_step"]:7.2f} ms/step {r["peak_memory_mib"]:7.0f} MiB', flush=True)
            rows.append(r)
            del model, opt
            torch.cuda.empty_cache()
        except Exception as e:  # report and go on: one run must say everything
            print(f"torch {preset} {head}: FAILED {type(e).__name__}: {e}", flush=True)
            rows.append({"preset": preset, "head": head, "error": f"{type(e).__name__}: {e}"})
json.dump({"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "rows": rows}, open(out, "w"), indent=1)
