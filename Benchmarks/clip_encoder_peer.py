#!/usr/bin/env python3
"""PyTorch and ONNX Runtime peer for `sightline-bench encoder`: the same CLIP shapes, random weights, same thread count.

Reads one JSON case per line on stdin, for example
    {"name": "...", "threads": 2, "repeats": 1, "warmup": true, "tower": "vision", "patch": 16, "width": 224, "height": 224, "batch": 8, "dense": false}
    {"name": "...", "threads": 2, "repeats": 1, "warmup": false, "tower": "text", "tokens": 77, "batch": 8}
    {"name": "...", "threads": 2, "tower": "vision", "patch": 16, "width": 1120, "height": 640, "batch": 1, "dense": true,
     "runtime": "onnxruntime", "precision": "int8"}
and answers each with one JSON line: {"name", "precision", "runtime", "ms_per_item", "peak_rss_mb"}
(the median of the repeats, after one untimed pass if "warmup"), so the benchmark can alternate its
own passes with the peer's. A case it cannot run (an unknown runtime or precision, a shape the model
refuses) is answered {"name", "error"} on one line, and the peer reads on.

Optional fields, defaults first:
    "runtime": "torch" | "onnxruntime"
    "precision": for torch "fp32" | "int8" | "bf16"; for onnxruntime "fp32" | "int8"
    "repeats": 3, "warmup": true
torch fp32 is the model as built. torch int8 is PyTorch's dynamic quantisation of every nn.Linear
(qint8 weights, activations quantised per pass). torch bf16 runs the fp32 model under
torch.autocast("cpu", dtype=torch.bfloat16), which only pays where the CPU has AVX512-BF16 or AMX.
onnxruntime exports the same model (same seed, so the same weights) with torch.onnx.export at
opset 17, batch as the only dynamic axis, and runs it in an InferenceSession with the case's threads
as intra-op threads, one inter-op thread, sequential execution; int8 is onnxruntime's
quantize_dynamic of that export with QInt8 weights. Exports are made once per graph (tower, head,
input size) in a child process and kept in a temporary directory for the life of the peer; only
session.run is timed.

Vision cases use transformers' CLIPVisionModelWithProjection at ViT-B shapes (its default attention,
SDPA). Pooled cases run `image_embeds` as CLIPModel.get_image_features does; dense cases run the
ClearCLIP head (last block: query-query attention, no residual, no MLP; post-layernorm and
projection on every token) over interpolated position embeddings, the work Sightline does for
full frames. Text cases run CLIPTextModelWithProjection on `tokens` ids per text.

Each (runtime, precision) runs in a worker process of its own, started at its first case and kept
to the end, so a benchmark may alternate precisions and runtimes pass by pass without rebuilding
anything, and each keeps its own memory figures. A worker holds one model (for onnxruntime, one
session) at a time, as Sightline's benchmark does, built at the first case that needs it and reused
by the cases after it: "peak_rss_mb" is the worker's peak resident memory (weights, runtime,
activations) from after the model is built (an export or a quantisation does not count) to the end
of the case's passes. A worker computes only while the peer waits for its answer.
"""

import contextlib
import ctypes
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import CLIPTextConfig, CLIPTextModelWithProjection, CLIPVisionConfig, CLIPVisionModelWithProjection

PRECISIONS = {"torch": ("fp32", "int8", "bf16"), "onnxruntime": ("fp32", "int8")}


class CaseError(Exception):
    """A case the peer cannot run; answered as {"name", "error"}."""


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


def release_freed_memory():
    # A dropped model (and quantize_dynamic's working copy) is partly held in reference cycles
    # until the collector runs, and glibc keeps freed model-sized blocks in its heap once its
    # mmap threshold has grown past them; either would stay resident and count in the peak of
    # the next model's passes.
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def tower_key(case):
    # The text tower is one shape whatever "patch" says.
    return ("vision", case["patch"]) if case["tower"] == "vision" else ("text",)


def base_model(tower):
    # Seeded at every build, so every precision and runtime of a shape runs the same weights
    # (and a rebuilt model is the one it replaces).
    torch.manual_seed(0)
    if tower[0] == "vision":
        config = CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                  num_attention_heads=12, image_size=224, patch_size=tower[1],
                                  projection_dim=512, hidden_act="quick_gelu")
        return CLIPVisionModelWithProjection(config).eval()
    config = CLIPTextConfig(hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
                            num_attention_heads=8, max_position_embeddings=77, projection_dim=512,
                            hidden_act="quick_gelu")
    return CLIPTextModelWithProjection(config).eval()


# The heads are modules rather than functions so that torch.onnx.export traces exactly what the
# torch runtime runs.

class ClearCLIP(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixels):
        vm = self.model.vision_model
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
        return F.normalize(self.model.visual_projection(o[:, 1:, :]), dim=-1)


class Pooled(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixels):
        return F.normalize(self.model(pixel_values=pixels).image_embeds, dim=-1)


class Text(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids):
        return F.normalize(self.model(input_ids=ids).text_embeds, dim=-1)


def head(case, model):
    if case["tower"] == "text":
        return Text(model)
    return ClearCLIP(model) if case["dense"] else Pooled(model)


def example_input(case, batch):
    if case["tower"] == "vision":
        return torch.randn(batch, 3, case["height"], case["width"])
    ids = torch.randint(1, 49406, (batch, case["tokens"]))
    ids[:, 0] = 49406
    ids[:, -1] = 49407  # the end token, where CLIP's text tower pools
    return ids


def graph_name(case):
    if case["tower"] == "vision":
        graph = f"vision-p{case['patch']}-{'dense' if case['dense'] else 'pooled'}-{case['width']}x{case['height']}"
        return graph, (["pixels"], ["embeds"])
    return f"text-{case['tokens']}", (["ids"], ["embeds"])


def export(case, precision, directory):
    """`--export`: write the case's graph as float32 ONNX, and its int8 quantisation if asked, into directory."""
    graph, names = graph_name(case)
    torch.set_num_threads(case["threads"])  # tracing runs a forward pass
    fp32 = os.path.join(directory, graph + ".onnx")
    if not os.path.exists(fp32):
        # The TorchScript exporter (dynamo=False): it writes opset 17, and needs no onnxscript.
        # Traced at batch 1 with batch left dynamic, since tracing runs a forward pass and a
        # batch of 8 dense 16:9 frames costs a minute.
        module = head(case, base_model(tower_key(case)))
        part = fp32 + ".part"
        with torch.no_grad():
            torch.onnx.export(module, (example_input(case, 1),), part, dynamo=False, opset_version=17,
                              input_names=names[0], output_names=names[1],
                              dynamic_axes={names[0][0]: {0: "batch"}, names[1][0]: {0: "batch"}})
        os.replace(part, fp32)  # a failed export leaves nothing that looks cached
        del module
    if precision == "int8":
        int8 = os.path.join(directory, graph + ".int8.onnx")
        if not os.path.exists(int8):
            from onnxruntime.quantization import QuantType, quantize_dynamic
            part = int8 + ".part"
            quantize_dynamic(fp32, part, weight_type=QuantType.QInt8)
            os.replace(part, int8)


class TorchRunner:
    def __init__(self, tower, precision):
        model = base_model(tower)
        if precision == "int8":
            # Copies the model and swaps each nn.Linear for a dynamically quantised one; the
            # float32 original is dropped on return.
            model = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
        self.model = model
        self.bf16 = precision == "bf16"

    def prepare(self, case, threads):
        module = head(case, self.model)
        x = example_input(case, case["batch"])

        def run():
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                return module(x)
        return run


class OnnxRunner:
    # Exports are kept per graph (tower, head and input size) in the peer's temporary directory
    # for its life, so repeats and revisits of a shape do not re-export; exports and sessions
    # take any batch.
    directory = None

    def __init__(self, tower, precision):
        # The tower is in the case; the export builds its own model from the same seed.
        self.precision = precision
        self.session_key = None
        self.session = None

    def exported(self, case):
        graph, names = graph_name(case)
        path = os.path.join(self.directory, graph + (".onnx" if self.precision == "fp32" else ".int8.onnx"))
        if not os.path.exists(path):
            # In a child process: tracing holds the torch model, its graph and the serialised
            # protobuf at once, and the quantiser loads the whole export into Python; the worker's
            # own memory (and so "peak_rss_mb") then holds only the session. The worker waits for
            # the child, so only one heavy process runs at a time.
            child = subprocess.run([sys.executable, os.path.abspath(__file__), "--export", json.dumps(case),
                                    self.precision, self.directory], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            sys.stderr.write(child.stdout)
            if child.returncode != 0 or not os.path.exists(path):
                last = [line for line in child.stdout.splitlines() if line.strip()][-1:] or [""]
                raise CaseError(f"onnx export of {graph} ({self.precision}) failed (exit {child.returncode}): {last[0]}")
        return path, names[0][0]

    def prepare(self, case, threads):
        import onnxruntime as ort
        path, input_name = self.exported(case)
        if self.session_key != (path, threads):
            self.session = None  # one session at a time, as one torch model at a time
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            # The benchmark asks OpenMP not to spin (OMP_WAIT_POLICY=PASSIVE) unless told to;
            # onnxruntime's own thread pool spins by default, so follow the same setting.
            if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE":
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            self.session_key = (path, threads)
        feeds = {input_name: example_input(case, case["batch"]).numpy()}
        return lambda: self.session.run(None, feeds)[0]


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


def variant(case):
    runtime = case.get("runtime", "torch")
    precision = case.get("precision", "fp32")
    if runtime not in PRECISIONS:
        raise CaseError(f"unknown runtime {runtime!r} (one of {', '.join(PRECISIONS)})")
    if precision not in PRECISIONS[runtime]:
        raise CaseError(f"unknown precision {precision!r} for {runtime} (one of {', '.join(PRECISIONS[runtime])})")
    return runtime, precision


class Peer:
    """A worker's cases: one runtime and precision, one model at a time."""

    def __init__(self):
        self.models = {}

    def answer(self, case):
        runtime, precision = variant(case)
        if case.get("tower") not in ("vision", "text"):
            raise CaseError(f"unknown tower {case.get('tower')!r} (vision, text)")
        threads = case["threads"]
        torch.set_num_threads(threads)
        key = (tower_key(case), runtime, precision)
        if key not in self.models:
            # One model at a time: drop the previous before building the next, so neither the
            # memory figures nor the machine carry more than one.
            self.models.clear()
            release_freed_memory()
            kind = TorchRunner if runtime == "torch" else OnnxRunner
            self.models[key] = kind(key[0], precision)
        # Exporters and quantisers may print; stdout carries only the answers.
        with contextlib.redirect_stdout(sys.stderr):
            run = self.models[key].prepare(case, threads)
        release_freed_memory()
        reset_peak_rss()
        seconds = timed(run, case.get("repeats", 3), case.get("warmup", True))
        return {"name": case["name"], "precision": precision, "runtime": runtime,
                "ms_per_item": 1000 * seconds / case["batch"], "peak_rss_mb": peak_rss_mb()}


class Worker:
    """The peer's end of one worker process: a case line in, an answer line out."""

    def __init__(self, runtime, precision, onnx_directory):
        self.label = f"{runtime} {precision}"
        self.process = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", onnx_directory],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def ask(self, line):
        try:
            self.process.stdin.write(line.rstrip("\n") + "\n")
            self.process.stdin.flush()
            answer = self.process.stdout.readline()
        except OSError:  # a broken pipe: it has gone
            answer = ""
        if not answer:
            raise CaseError(f"the {self.label} worker exited (code {self.process.wait()}); its reason is on stderr")
        return answer.rstrip("\n")

    def close(self):
        try:
            self.process.stdin.close()
        except OSError:
            pass
        self.process.wait()


def error_answer(case, error):
    if not isinstance(error, CaseError):
        traceback.print_exc(file=sys.stderr)
    return json.dumps({"name": case.get("name") if isinstance(case, dict) else None,
                       "error": str(error) if isinstance(error, CaseError) else f"{type(error).__name__}: {error}"})


def lines():
    for line in sys.stdin:
        if line.strip():
            yield line


def serve():
    """`--worker DIR`: answer cases (all of one runtime and precision) with models of this process."""
    OnnxRunner.directory = sys.argv[2]
    peer = Peer()
    for line in lines():
        case = {}
        try:
            case = json.loads(line)
            answer = json.dumps(peer.answer(case))
        except Exception as error:  # answer, and stay up for the next case
            answer = error_answer(case, error)
        print(answer, flush=True)


def main():
    if sys.argv[1:2] == ["--export"]:
        export(json.loads(sys.argv[2]), sys.argv[3], sys.argv[4])
        return
    if sys.argv[1:2] == ["--worker"]:
        serve()
        return
    # Shared by the workers, so the int8 worker quantises the export the fp32 worker made.
    onnx_directory = tempfile.mkdtemp(prefix="sightline-peer-onnx-")
    workers = {}
    try:
        for line in lines():
            case = {}
            try:
                case = json.loads(line)
                key = variant(case)
                if key not in workers:
                    workers[key] = Worker(*key, onnx_directory)
                try:
                    answer = workers[key].ask(line)
                except CaseError:
                    del workers[key]  # started again at its next case
                    raise
            except Exception as error:  # answer, and stay up for the next case
                answer = error_answer(case, error)
            print(answer, flush=True)
    finally:
        for worker in workers.values():
            worker.close()
        shutil.rmtree(onnx_directory, ignore_errors=True)


if __name__ == "__main__":
    main()
