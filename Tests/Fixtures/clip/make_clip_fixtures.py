#!/usr/bin/env python3
"""Builds the tiny CLIP checkpoints and golden outputs that SightlineModelTests compare against.

Run from the repository root (needs torch, transformers, safetensors and pillow; the tests do not):

    pip install 'torch==2.13.0+cpu' transformers safetensors pillow
    python3 Tests/Fixtures/clip/make_clip_fixtures.py ../shared/data/clip/bpe_simple_vocab_16e6.txt.gz [fixture ...]

(naming fixtures rebuilds only those). Everything is seeded, so running it again rewrites the same files. The reference for every golden is
`transformers` itself: the checkpoints are written with `save_pretrained`, read back with
`CLIPModel.from_pretrained` / `CLIPTokenizer.from_pretrained` / `CLIPImageProcessorPil.from_pretrained`,
and the goldens come from those objects, so they describe exactly what is committed.
"""

import base64
import gzip
import json
import math
import os
import random
import shutil
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

HERE = os.path.dirname(os.path.abspath(__file__))

# Two configurations that differ in everything the engine reads from config.json.
CONFIGS = {
    "tiny-quickgelu-p8": dict(
        storage=torch.float16,
        projection_dim=16,
        text=dict(hidden_size=16, intermediate_size=48, num_hidden_layers=2, num_attention_heads=2,
                  hidden_act="quick_gelu", layer_norm_eps=1e-5, eos_token_id=2),
        vision=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                    image_size=32, patch_size=8, hidden_act="quick_gelu", layer_norm_eps=1e-5),
    ),
    "tiny-gelu-p14": dict(
        storage=torch.bfloat16,
        projection_dim=24,
        text=dict(hidden_size=24, intermediate_size=40, num_hidden_layers=3, num_attention_heads=3,
                  hidden_act="gelu", layer_norm_eps=1e-6, eos_token_id=49407),
        vision=dict(hidden_size=48, intermediate_size=96, num_hidden_layers=3, num_attention_heads=6,
                    image_size=56, patch_size=14, hidden_act="gelu", layer_norm_eps=1e-6),
    ),
}
TOKENIZER_HOME = "tiny-quickgelu-p8"  # the other configurations link to its vocab.json and merges.txt

# Real shapes, too large to commit (the 49408-row token table alone is 25 MB in F16): their weights
# come from `formula_weights`, which Tests/SightlineModelTests/FormulaCheckpoint.swift repeats,
# so only config.json, preprocessor_config.json and the goldens are committed and the tests write
# the same model.safetensors themselves. Every value is a small integer over a power of two, exact
# in F16, so both sides write identical bytes.
FORMULA_CONFIGS = {
    # TinyCLIP ViT-8M/16 Text-3M (wkcn/TinyCLIP-ViT-8M-16-Text-3M-YFCC15M), shape as published in
    # microsoft/Cream TinyCLIP/src/open_clip/model_configs/TinyCLIP-ViT-8M-16-Text-3M.json (widths,
    # depths, text heads, patch, image size, projection) with open_clip's defaults for what that file
    # leaves out (64-wide vision heads, MLP ratio 4, nn.GELU, LayerNorm eps 1e-5). See README.md.
    "tinyclip-8m-16": dict(
        storage=torch.float16,
        projection_dim=512,
        text=dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=3, num_attention_heads=4,
                  hidden_act="gelu", layer_norm_eps=1e-5),
        vision=dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=10, num_attention_heads=4,
                    image_size=224, patch_size=16, hidden_act="gelu", layer_norm_eps=1e-5),
        # One 16:9 full frame at the trained short side (a 25x14 grid) and one smaller grid (9x7).
        dense_frames=[("frame", 160, 90, 6, 224), ("small-grid", 64, 48, 9, 112)],
        # 512-wide patch embeddings of every patch would be megabytes of JSON: a spread subset.
        patch_subset=8,
    ),
}


# ---------------------------------------------------------------------------------------------
# Tokenizer files, derived from the BPE table exactly as OpenAI's simple_tokenizer.py does.

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2 ** 8):
        if b not in bs:
            bs.append(b)
            cs.append(2 ** 8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def write_tokenizer_files(bpe_path, out_dir):
    lines = gzip.open(bpe_path).read().decode("utf-8").split("\n")
    merges = lines[1:49152 - 256 - 2 + 1]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    for merge in merges:
        vocab.append("".join(merge.split()))
    vocab.extend(["<|startoftext|>", "<|endoftext|>"])
    assert len(vocab) == 49408 and len(set(vocab)) == 49408
    with open(os.path.join(out_dir, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({v: i for i, v in enumerate(vocab)}, f, ensure_ascii=False, separators=(",", ":"))
    with open(os.path.join(out_dir, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        f.write("\n".join(merges))
        f.write("\n")
    return merges


def openai_bpe_ids(text, merges, encoder):
    """OpenAI's simple_tokenizer BPE for plain ASCII text: a cross-check of the files above."""
    import regex
    ranks = {tuple(m.split()): i for i, m in enumerate(merges)}
    byte_enc = bytes_to_unicode()
    pat = regex.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""", regex.IGNORECASE)
    ids = []
    for token in regex.findall(pat, " ".join(text.split()).strip().lower()):
        token = "".join(byte_enc[b] for b in token.encode("utf-8"))
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
            if best not in ranks:
                break
            first, second = best
            new, i = [], 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new.extend(word[i:])
                    break
                new.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new.append(first + second)
                    i += 2
                else:
                    new.append(word[i])
                    i += 1
            word = tuple(new)
        ids.extend(encoder[w] for w in word)
    return ids


def token_strings():
    fixed = [
        "", " ", "   ", "\t", "\n", "\r\n", "a", "A", "a photo of a cat", "A Photo Of A CAT",
        "a person riding a bike", "a white car", "hello, world!", "Hello,World!!", "don't", "DON'T",
        "it's", "they're", "we've", "I'm", "you'll", "he'd", "x's", "''s", "'s", "rock'n'roll", "'hello'",
        "café", "naïve résumé", "Crème brûlée à la carte", "e\u0301le\u0300ve", "A\u030a", "\u212b",
        "東京タワー", "你好世界", "こんにちは世界", "안녕하세요", "\u1100\u1161\u11a8", "Привет, мир!",
        "Ελληνικά ΣΊΣΥΦΟΣ", "ΣΑΣ σας", "مرحبا بالعالم", "שלום עולם", "हिन्दी भाषा", "ไทย", "İstanbul",
        "straße STRASSE", "ﬁne ﬂower", "ＡＢＣ１２３", "x² + y³ = z⁴", "½ ¾ ⅓", "Ⅻ ⅻ", "٣٤٥ ۴۵۶",
        "🚲🚗🚶", "😀😀😀", "👨\u200d👩\u200d👧", "🏳️\u200d🌈", "🇺🇸🇫🇷", "👍🏽 nice", "❤️", "a🚲b",
        "1234567890", "3.14159", "1,000,000", "$100", "50%", "#hashtag @user", "https://example.com/a?b=c&d=e",
        "e-mail", "snake_case_name", "camelCaseName", "ALLCAPS", "MiXeD cAsE", "  leading and trailing  ",
        "tabs\tand\nnewlines", "multiple     spaces", "\u00a0nbsp\u00a0", "\u3000ideographic\u3000space",
        "zero\u200bwidth", "soft\u00adhyphen", "\u2028line\u2029sep", "\x00\x01\x7f", "!!!", "...", "?!?!",
        "'''", "---", "(parenthesis) [brackets] {braces}", "<html>&amp;</html>", "\"quoted\"", "“curly” ‘quotes’",
        "—em dash–en dash", "∑∫√∞≠", "©®™", "<|startoftext|>", "<|endoftext|>", "a <|endoftext|> b",
        "<|startoftext|>x<|endoftext|>", "<|ENDOFTEXT|>", "<|endoftext", "a<|ENDOFTEXT|>!", "!<|Startoftext|>?",
        "x <|endoftext|>y", "<|endoftext|><|endoftext|>", "supercalifragilisticexpialidocious",
        "pneumonoultramicroscopicsilicovolcanoconiosis", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "lolololololololol", "zzzzzzzzzzzzz", "the the the the", "New York City", "São Paulo", "Zürich",
        "Ærøskøbing", "Łódź", "Đà Nẵng", "İı", "ǅ ǈ ǋ", "ﬃ", "ŉ", "\U0001d400\U0001d401", "𝓗𝓮𝓵𝓵𝓸",
        " ".join(["word"] * 100),
        "1" * 120,
        "a" * 300,
        "A long sentence that keeps going and going, describing a street scene with taxis, bicycles, "
        "pedestrians, traffic lights, shop windows, umbrellas, dogs on leashes and a man in a dark suit "
        "who is waiting for the bus while it begins to rain over the city in the late afternoon light.",
        "🚲" * 60,
        "東京" * 50,
    ]
    pools = [
        ["cat", "Dog", "BIKE", "rider", "Person", "car", "street", "tree", "red", "blue", "the", "a", "of",
         "running", "jumps", "over", "lazy", "fox", "camera", "night"],
        [",", ".", "!", "?", "'", "'s", "'t", "-", "/", ":", ";", "(", ")", "&", "#", "@", "…", "«", "»"],
        ["0", "7", "42", "2024", "3.5", "100%", "1st", "x2", "٣", "²"],
        ["é", "ü", "ñ", "ø", "ç", "Å", "ß", "œ", "ğ", "ș", "e\u0301", "ă"],
        ["日本", "中文", "한국", "Россия", "Ἀθῆναι", "עברית", "عربي", "ภาษา", "देव"],
        ["🚲", "🚗", "😀", "🐕", "🌧️", "👩\u200d💻", "✨", "🔥"],
        [" ", "  ", "\t", "\n", "\u00a0", "   "],
    ]
    rng = random.Random(20240601)
    generated = []
    for _ in range(160):
        n = rng.randint(1, 24)
        parts = []
        for _ in range(n):
            pool = pools[rng.choices(range(len(pools)), weights=[8, 3, 2, 2, 1, 1, 4])[0]]
            parts.append(rng.choice(pool))
            if rng.random() < 0.6:
                parts.append(" ")
        generated.append("".join(parts))
    strings = fixed + generated
    assert len(strings) >= 200
    return strings


# ---------------------------------------------------------------------------------------------
# Deterministic test images: the Swift tests build the same pixels from the same formula.

def test_image(width, height, seed):
    """Smooth gradients plus hashed noise, so resampling has both edges and structure to get right."""
    img = np.zeros((height, width, 3), dtype=np.uint8)
    for y in range(height):
        for x in range(width):
            for c in range(3):
                n = (x * 73856093 ^ y * 19349663 ^ c * 83492791 ^ seed * 2654435761) & 0xFFFFFFFF
                n = ((n ^ (n >> 13)) * 1274126177) & 0xFFFFFFFF
                n ^= n >> 16
                noise = n & 0xFF
                if c == 0:
                    grad = (x * 255) // max(1, width - 1)
                elif c == 1:
                    grad = (y * 255) // max(1, height - 1)
                else:
                    grad = ((x + y) * 255) // max(1, width + height - 2)
                img[y, x, c] = (grad * 3 + noise) // 4
    return img


def full_frame_size(width, height, short_side, patch):
    """Full-frame mode: keep the aspect ratio, both sides a multiple of the patch size near short_side."""
    short, long = min(width, height), max(width, height)
    new_short = max(patch, int(math.floor(short_side / patch + 0.5)) * patch)
    new_long = max(patch, int(math.floor(long * short_side / short / patch + 0.5)) * patch)
    return (new_long, new_short) if width >= height else (new_short, new_long)


def normalise(pixels_hwc, processor):
    x = pixels_hwc.astype(np.float64) * processor.rescale_factor
    x = x.astype(np.float32)
    mean = np.array(processor.image_mean, dtype=np.float32)
    std = np.array(processor.image_std, dtype=np.float32)
    return ((x - mean) / std).transpose(2, 0, 1)


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


# ---------------------------------------------------------------------------------------------
# ClearCLIP dense head, written against the transformers modules.

@torch.no_grad()
def clearclip_dense(model, pixel_values):
    vm = model.vision_model
    h = vm.embeddings(pixel_values, interpolate_pos_encoding=True)
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
    weights = torch.softmax((q @ q.transpose(-1, -2)) * attn.scale, dim=-1)
    o = (weights @ v).transpose(1, 2).reshape(b, t, d)
    o = attn.out_proj(o)  # no residual, no MLP
    o = vm.post_layernorm(o)
    o = model.visual_projection(o)
    return F.normalize(o[:, 1:, :], dim=-1)


def randomise(model, seed):
    """Weights with enough spread that attention, layer norms and biases all matter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "logit_scale":
                p.fill_(math.log(100.0))
            elif "layer_norm" in name or "layrnorm" in name or "layernorm" in name:
                if name.endswith("weight"):
                    p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
                else:
                    p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "embedding" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p.shape[-1] if p.dim() == 2 else p[0].numel()
                gain = 2.5 if ("q_proj" in name or "k_proj" in name) else 1.0
                p.copy_(gain * torch.randn(p.shape, generator=g) / math.sqrt(fan_in))


def splitmix64(x):
    """SplitMix64's finaliser on a uint64 array (numpy wraps on overflow, as Swift's &* does)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def formula_tensor(name, shape):
    """The value of every element of tensor `name`: a hashed integer m in [-M, M], over 2^s.

    Spread like `randomise`: layer-norm weights 1 +- 0.25 and biases +- 0.25, other biases
    +- 0.125, embeddings +- 0.5, matrices (and the patch convolution) uniform with a standard
    deviation near 1/sqrt(fan_in), q and k twice that, so that attention is neither flat nor one-hot.
    """
    count = int(np.prod(shape)) if len(shape) else 1
    seed = np.uint64(int(fnv1a64(name.encode()), 16))
    index = np.arange(count, dtype=np.uint64)
    x = splitmix64(seed ^ (index * np.uint64(0x9E3779B97F4A7C15)))
    offset = 0.0
    if name == "logit_scale":
        return np.full(shape, 4.625)  # exp(4.625) = 102.0
    if "layer_norm" in name or "layrnorm" in name or "layernorm" in name:
        bound, shift = 8, 5
        offset = 1.0 if name.endswith("weight") else 0.0
    elif name.endswith("bias"):
        bound, shift = 8, 6
    elif "patch_embedding" not in name and "embedding" in name:
        bound, shift = 16, 5
    else:
        fan_in = int(np.prod(shape[1:]))
        quarter = 0
        while 4 ** quarter < fan_in:
            quarter += 1
        bound, shift = 31, quarter + 4  # 2^shift ~ sqrt(fan_in) * 31 / sqrt(3)
        if "q_proj" in name or "k_proj" in name:
            shift -= 1
    m = (x % np.uint64(2 * bound + 1)).astype(np.int64) - bound
    return (offset + m.astype(np.float64) / float(2 ** shift)).reshape(shape)


def formula_weights(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.from_numpy(formula_tensor(name, tuple(p.shape))))


def tensor_checksums(path):
    """Per stored tensor: sum over elements k of (k + 1) * (the element's 16 bits), mod 2^64."""
    from safetensors.numpy import load_file
    sums = {}
    for name, array in sorted(load_file(path).items()):
        bits = array.reshape(-1).view(np.uint16).astype(np.uint64)
        weights = np.arange(1, bits.size + 1, dtype=np.uint64)
        sums[name] = "%016x" % int(np.sum(bits * weights, dtype=np.uint64))
    return sums


def patch_subset(grid_width, grid_height, count):
    """The four corners, then evenly spaced patches: indices into the row-major grid."""
    n = grid_width * grid_height
    chosen = [0, grid_width - 1, n - grid_width, n - 1]
    chosen += [(i * n) // (count - 3) + (i % grid_width) for i in range(1, count - 3)]
    return sorted(set(min(i, n - 1) for i in chosen))


def floats(t):
    return [round(float(v), 7) for v in t.reshape(-1).tolist()]


def make_config(name, spec, seed, merges_for_check, encoder_for_check):
    formula = name in FORMULA_CONFIGS
    final = os.path.join(HERE, name)
    if os.path.exists(final):
        shutil.rmtree(final)
    os.makedirs(final)
    # A formula checkpoint is written and read back in a scratch directory; only its small files
    # are kept in the fixture directory.
    out = tempfile.mkdtemp(prefix="sightline-" + name + "-") if formula else final
    config = CLIPConfig(text_config=spec["text"], vision_config=spec["vision"], projection_dim=spec["projection_dim"])
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    if formula:
        formula_weights(model)
    else:
        randomise(model, seed)
    model.to(spec["storage"]).save_pretrained(out, safe_serialization=True)
    with open(os.path.join(out, "config.json")) as f:
        cfg = json.load(f)
    cfg["sightline_test_model"] = True
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    for extra in ("generation_config.json",):
        if os.path.exists(os.path.join(out, extra)):
            os.remove(os.path.join(out, extra))
    size = spec["vision"]["image_size"]
    CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size}).save_pretrained(out)
    if name == TOKENIZER_HOME:
        write_tokenizer_files(sys.argv[1], out)
    else:
        for f in ("vocab.json", "merges.txt"):
            os.symlink(os.path.join("..", TOKENIZER_HOME, f), os.path.join(final, f))
            if formula:
                os.symlink(os.path.join(HERE, TOKENIZER_HOME, f), os.path.join(out, f))

    # Everything below is read back from the files just written.
    model = CLIPModel.from_pretrained(out, dtype=torch.float32).eval()
    tokenizer = CLIPTokenizer.from_pretrained(out)
    processor = CLIPImageProcessorPil.from_pretrained(out)
    patch = model.config.vision_config.patch_size
    golden = {"config": name, "logit_scale": float(model.logit_scale.detach().exp())}

    texts = ["a photo of a cat", "a person riding a bike", "", "A WHITE CAR, parked.", "🚲 on the street",
             "naïve café", " ".join(["long"] * 90)]
    batch = tokenizer(texts, padding=True, truncation=True, max_length=77, return_tensors="pt")
    with torch.no_grad():
        text = model.get_text_features(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).pooler_output
    golden["texts"] = texts
    golden["text_embeddings"] = [floats(row) for row in F.normalize(text, dim=-1)]

    images = [dict(name="square", width=64, height=64, seed=1), dict(name="wide", width=97, height=53, seed=2),
              dict(name="tall", width=45, height=80, seed=3), dict(name="small", width=20, height=30, seed=4),
              dict(name="exact", width=size, height=size, seed=5)]
    golden["images"] = images
    pixel_values, preprocessed = [], []
    for spec_img in images:
        arr = test_image(spec_img["width"], spec_img["height"], spec_img["seed"])
        out_pv = processor(images=Image.fromarray(arr), return_tensors="np")["pixel_values"][0]
        # The uint8 stage of the same pipeline, to compare resampling bit for bit.
        resized = np.array(processor.resize(np.moveaxis(arr, -1, 0), size=processor.size,
                                            resample=processor.resample)).transpose(1, 2, 0)
        top = (resized.shape[0] - size) // 2
        left = (resized.shape[1] - size) // 2
        if top >= 0 and left >= 0:
            cropped = resized[top:top + size, left:left + size]
            assert np.array_equal(normalise(cropped, processor), out_pv), "normalisation differs from the processor"
        else:
            cropped = None
        entry = dict(image=spec_img["name"], resized_width=int(resized.shape[1]), resized_height=int(resized.shape[0]),
                     resized_fnv1a64=fnv1a64(resized.tobytes()))
        if spec.get("patch_subset"):
            # 224x224 crops in base64 would be most of the file: their hash instead.
            entry["cropped_fnv1a64"] = fnv1a64(cropped.tobytes()) if cropped is not None else None
        else:
            entry["cropped"] = base64.b64encode(cropped.tobytes()).decode() if cropped is not None else None
        entry["pixel_values_sum"] = float(out_pv.astype(np.float64).sum())
        preprocessed.append(entry)
        pixel_values.append(out_pv)
    golden["preprocessed"] = preprocessed
    with torch.no_grad():
        image = model.get_image_features(pixel_values=torch.from_numpy(np.stack(pixel_values))).pooler_output
    golden["image_embeddings"] = [floats(row) for row in F.normalize(image, dim=-1)]

    dense = []
    frames = spec.get("dense_frames") or [("frame", 160, 90, 6, size), ("portrait", 50, 70, 7, size + patch),
                                          ("same-grid", 64, 64, 8, size), ("small-grid", 64, 48, 9, size - patch)]
    subset = spec.get("patch_subset")
    for img_name, w, h, seed_img, short_side in frames:
        arr = test_image(w, h, seed_img)
        new_w, new_h = full_frame_size(w, h, short_side, patch)
        resized = np.array(Image.fromarray(arr).resize((new_w, new_h), resample=Image.Resampling.BICUBIC))
        pv = torch.from_numpy(normalise(resized, processor)[None])
        patches = clearclip_dense(model, pv)[0]
        with torch.no_grad():
            pooled = model.get_image_features(pixel_values=pv, interpolate_pos_encoding=True).pooler_output
        entry = dict(image=img_name, width=w, height=h, seed=seed_img, short_side=short_side,
                     resized_width=new_w, resized_height=new_h, resized_fnv1a64=fnv1a64(resized.tobytes()),
                     grid_width=new_w // patch, grid_height=new_h // patch)
        if subset:
            entry["patch_indices"] = patch_subset(new_w // patch, new_h // patch, subset)
            patches = patches[entry["patch_indices"]]
        entry["values"] = floats(patches)
        entry["pooled"] = floats(F.normalize(pooled, dim=-1)[0])
        dense.append(entry)
    golden["dense"] = dense
    # ClearCLIP on the centre-cropped input of the "wide" image: the trained grid, no interpolation.
    cropped_patches = clearclip_dense(model, torch.from_numpy(pixel_values[1][None]))[0]
    if subset:
        indices = patch_subset(size // patch, size // patch, subset)
        golden["dense_center_crop"] = dict(image="wide", patch_indices=indices, values=floats(cropped_patches[indices]))
    else:
        golden["dense_center_crop"] = dict(image="wide", values=floats(cropped_patches))

    emb = model.vision_model.embeddings
    grid = (3, 7)
    fake = torch.zeros(1, grid[0] * grid[1] + 1, model.config.vision_config.hidden_size)
    with torch.no_grad():
        interp = emb.interpolate_pos_encoding(fake, grid[0] * patch, grid[1] * patch)
    golden["interpolated_position_embeddings"] = dict(grid_height=grid[0], grid_width=grid[1], values=floats(interp[0]))

    if formula:
        # What the Swift side's copy of the formula must reproduce, tensor by tensor.
        golden["tensor_checksums"] = tensor_checksums(os.path.join(out, "model.safetensors"))
        for f in ("config.json", "preprocessor_config.json"):
            shutil.copyfile(os.path.join(out, f), os.path.join(final, f))
        shutil.rmtree(out)

    with open(os.path.join(HERE, "goldens", name + ".json"), "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")
    return tokenizer


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: make_clip_fixtures.py path/to/bpe_simple_vocab_16e6.txt.gz [fixture ...]")
    os.makedirs(os.path.join(HERE, "goldens"), exist_ok=True)
    # Named fixtures only, when given: the others (and tokens.json) are left as they are.
    only = set(sys.argv[2:])
    tokenizer = None
    for i, (name, spec) in enumerate(list(CONFIGS.items()) + list(FORMULA_CONFIGS.items())):
        if only and name not in only:
            continue
        t = make_config(name, spec, 1000 + i, None, None)
        tokenizer = tokenizer or t
    if only and TOKENIZER_HOME not in only:
        return

    # Token ids, from the reference tokenizer reading the committed vocab.json and merges.txt.
    strings = token_strings()
    ids = [tokenizer(s, truncation=True, max_length=77)["input_ids"] for s in strings]
    with open(os.path.join(HERE, TOKENIZER_HOME, "vocab.json"), encoding="utf-8") as f:
        encoder = json.load(f)
    merges = gzip.open(sys.argv[1]).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    checked = 0
    for s, got in zip(strings, ids):
        if s.isascii() and "<|" not in s and s.isprintable():
            want = [49406] + openai_bpe_ids(s, merges, encoder)[:75] + [49407]
            assert got == want, (s, got, want)
            checked += 1
    print(f"tokenizer files agree with OpenAI's BPE on {checked} ASCII strings")
    with open(os.path.join(HERE, "goldens", "tokens.json"), "w", encoding="utf-8") as f:
        json.dump([dict(text=s, ids=i) for s, i in zip(strings, ids)], f, ensure_ascii=False, indent=0)
        f.write("\n")


if __name__ == "__main__":
    main()
