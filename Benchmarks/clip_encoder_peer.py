#!/usr/bin/env python3
"""PyTorch peer for `sightline-bench encoder`: the same CLIP shapes, random weights, same thread count.

Reads one JSON case per line on stdin, for example
    {"name": "...", "threads": 2, "repeats": 1, "warmup": true, "tower": "vision", "patch": 16, "width": 224, "height": 224, "batch": 8, "dense": false}
    {"name": "...", "threads": 2, "repeats": 1, "warmup": false, "tower": "text", "tokens": 77, "batch": 8}
and answers each with one JSON line: {"name", "ms_per_item", "peak_rss_mb"} (the median of the
repeats, after one untimed pass if "warmup"), so the benchmark can alternate its own passes with
the peer's.

Vision cases use transformers' CLIPVisionModelWithProjection in float32 (its default attention,
SDPA). Pooled cases run `image_embeds` as CLIPModel.get_image_features does; dense cases run the
ClearCLIP head (last block: query-query attention, no residual, no MLP; post-layernorm and
projection on every token) over interpolated position embeddings, the work Sightline does for
full frames. Text cases run CLIPTextModelWithProjection on `tokens` ids per text.
"""

import json
import resource
import sys
import time

import torch
import torch.nn.functional as F
from transformers import CLIPTextConfig, CLIPTextModelWithProjection, CLIPVisionConfig, CLIPVisionModelWithProjection


def reset_peak_rss():
    # Linux: writing 5 to clear_refs resets the peak resident set size (VmHWM).
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@torch.inference_mode()
def clearclip(model, pixels):
    vm = model.vision_model
    h = vm.embeddings(pixels, interpolate_pos_encoding=True)
    h = vm.pre_layrnorm(h)
    for layer in vm.encoder.layers[:-1]:
        h = layer(h, None)
    last = vm.encoder.layers[-1]
    x = last.layer_norm1(h)
    attn = last.self_attn
    b, t, d = x.shape
    heads = attn.num_heads
    q = attn.q_proj(x).view(b, t, heads, d // heads).transpose(1, 2)
    v = attn.v_proj(x).view(b, t, heads, d // heads).transpose(1, 2)
    o = F.scaled_dot_product_attention(q, q, v).transpose(1, 2).reshape(b, t, d)
    o = vm.post_layernorm(attn.out_proj(o))
    return F.normalize(model.visual_projection(o[:, 1:, :]), dim=-1)


@torch.inference_mode()
def pooled(model, pixels):
    return F.normalize(model(pixel_values=pixels).image_embeds, dim=-1)


@torch.inference_mode()
def text(model, ids):
    return F.normalize(model(input_ids=ids).text_embeds, dim=-1)


def timed(run, repeats, warmup):
    if warmup:
        run()  # allocator, kernels, caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def main():
    torch.manual_seed(0)
    models = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        case = json.loads(line)
        torch.set_num_threads(case["threads"])
        reset_peak_rss()
        if case["tower"] == "vision":
            key = ("vision", case["patch"])
            if key not in models:
                models.clear()
                config = CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                          num_attention_heads=12, image_size=224, patch_size=case["patch"],
                                          projection_dim=512, hidden_act="quick_gelu")
                models[key] = CLIPVisionModelWithProjection(config).eval()
            model = models[key]
            pixels = torch.randn(case["batch"], 3, case["height"], case["width"])
            run = (lambda: clearclip(model, pixels)) if case["dense"] else (lambda: pooled(model, pixels))
        else:
            key = ("text",)
            if key not in models:
                models.clear()
                config = CLIPTextConfig(hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
                                        num_attention_heads=8, max_position_embeddings=77, projection_dim=512,
                                        hidden_act="quick_gelu")
                models[key] = CLIPTextModelWithProjection(config).eval()
            model = models[key]
            ids = torch.randint(1, 49406, (case["batch"], case["tokens"]))
            ids[:, 0] = 49406
            ids[:, -1] = 49407
            run = lambda: text(model, ids)
        seconds = timed(run, case.get("repeats", 3), case.get("warmup", True))
        print(json.dumps({"name": case["name"], "ms_per_item": 1000 * seconds / case["batch"],
                          "peak_rss_mb": peak_rss_mb()}), flush=True)


if __name__ == "__main__":
    main()
