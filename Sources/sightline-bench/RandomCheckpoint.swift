import Foundation
import SightlineCore
import SightlineModel

/// Writes a CLIP checkpoint in the Hugging Face layout with random weights and the shapes of
/// a published architecture, so that benchmarks measure real shapes without real weights
/// (which the build machines cannot download). Weights are drawn as `transformers`
/// initialises them (normal, standard deviation 0.02; layer norms 1 and 0; biases 0), the
/// logit scale is OpenAI's (100), and the tokenizer files are the bundled test model's (the
/// full CLIP vocabulary).
struct RandomCheckpoint {
    var name: String
    var textWidth = 512, textLayers = 12, textHeads = 8
    var visionWidth = 768, visionLayers = 12, visionHeads = 12
    var patchSize = 16, imageSize = 224, projection = 512
    var vocabulary = 49408, context = 77
    /// The MLP widths (four times the tower's width in every shape here) and `hidden_act`.
    var textIntermediate: Int? = nil, visionIntermediate: Int? = nil
    var activation = "quick_gelu"

    static let vitB16 = RandomCheckpoint(name: "clip-vit-b-16-random")
    static let vitB32 = RandomCheckpoint(name: "clip-vit-b-32-random", patchSize: 32)

    /// TinyCLIP (wkcn/TinyCLIP-*), shapes from microsoft/Cream's TinyCLIP open_clip model configs
    /// with open_clip's defaults (64-wide vision heads, MLP ratio 4, exact GELU): see
    /// Tests/Fixtures/clip/README.md for the sources. ViT-8M/16 Text-3M:
    static let tinyCLIP8M16 = RandomCheckpoint(name: "tinyclip-vit-8m-16-random", textWidth: 256, textLayers: 3, textHeads: 4,
                                               visionWidth: 256, visionLayers: 10, visionHeads: 4, activation: "gelu")
    /// ViT-39M/16 Text-19M.
    static let tinyCLIP39M16 = RandomCheckpoint(name: "tinyclip-vit-39m-16-random", textWidth: 512, textLayers: 6, textHeads: 8,
                                                visionWidth: 512, visionLayers: 12, visionHeads: 8, activation: "gelu")
    /// ViT-40M/32 Text-19M.
    static let tinyCLIP40M32 = RandomCheckpoint(name: "tinyclip-vit-40m-32-random", textWidth: 512, textLayers: 6, textHeads: 8,
                                                visionWidth: 512, visionLayers: 12, visionHeads: 8, patchSize: 32, activation: "gelu")
    /// ViT-61M/32 Text-29M.
    static let tinyCLIP61M32 = RandomCheckpoint(name: "tinyclip-vit-61m-32-random", textWidth: 512, textLayers: 9, textHeads: 8,
                                                visionWidth: 640, visionLayers: 12, visionHeads: 10, patchSize: 32, activation: "gelu")

    /// The shapes a benchmark's `--model` may name instead of a checkpoint directory.
    static let byName: [String: RandomCheckpoint] = [
        "random-vit-b16": vitB16, "random-vit-b32": vitB32,
        "random-tinyclip": tinyCLIP8M16, "random-tinyclip-8m-16": tinyCLIP8M16, "random-tinyclip-39m-16": tinyCLIP39M16,
        "random-tinyclip-40m-32": tinyCLIP40M32, "random-tinyclip-61m-32": tinyCLIP61M32,
    ]

    /// The names, for help texts and errors.
    static let names = "random-vit-b16, random-vit-b32, random-tinyclip (= random-tinyclip-8m-16), random-tinyclip-39m-16, "
        + "random-tinyclip-40m-32, random-tinyclip-61m-32"

    var textMLP: Int { textIntermediate ?? 4 * textWidth }
    var visionMLP: Int { visionIntermediate ?? 4 * visionWidth }

    /// `--model`: a named random shape, written once and returned as its directory, or a
    /// checkpoint directory as given.
    static func resolve(_ model: String) throws -> String {
        try byName[model]?.materialise() ?? model
    }

    /// The bundled test model, whose tokenizer and preprocessing files are reused.
    static let tokenizerSource = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Tests/Fixtures/clip/tiny-quickgelu-p8").path

    /// The checkpoint's directory under the system's temporary directory, written once.
    func materialise() throws -> String {
        let directory = NSTemporaryDirectory() + "sightline-bench/\(name)"
        let fm = FileManager.default
        if fm.fileExists(atPath: directory + "/model.safetensors") { return directory }
        let partial = directory + ".partial-\(getpid())"
        try? fm.removeItem(atPath: partial)
        try fm.createDirectory(atPath: partial, withIntermediateDirectories: true)
        for file in ["vocab.json", "merges.txt"] {
            try fm.copyItem(atPath: Self.tokenizerSource + "/" + file, toPath: partial + "/" + file)
        }
        try config().write(to: URL(fileURLWithPath: partial + "/config.json"))
        try preprocessor().write(to: URL(fileURLWithPath: partial + "/preprocessor_config.json"))
        try writeWeights(to: partial + "/model.safetensors")
        try? fm.removeItem(atPath: directory)
        try fm.moveItem(atPath: partial, toPath: directory)
        return directory
    }

    private func config() throws -> Data {
        let text: [String: Any] = [
            "hidden_size": textWidth, "intermediate_size": textMLP, "num_attention_heads": textHeads,
            "num_hidden_layers": textLayers, "max_position_embeddings": context, "vocab_size": vocabulary,
            "hidden_act": activation, "layer_norm_eps": 1e-5, "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 1,
        ]
        let vision: [String: Any] = [
            "hidden_size": visionWidth, "intermediate_size": visionMLP, "num_attention_heads": visionHeads,
            "num_hidden_layers": visionLayers, "patch_size": patchSize, "image_size": imageSize, "num_channels": 3,
            "hidden_act": activation, "layer_norm_eps": 1e-5,
        ]
        let config: [String: Any] = [
            "_name_or_path": name, "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": projection,
            "logit_scale_init_value": 4.6052, "text_config": text, "vision_config": vision,
        ]
        return try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
    }

    private func preprocessor() throws -> Data {
        let config: [String: Any] = [
            "crop_size": ["height": imageSize, "width": imageSize], "do_center_crop": true, "do_convert_rgb": true,
            "do_normalize": true, "do_rescale": true, "do_resize": true,
            "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
            "image_processor_type": "CLIPImageProcessor", "resample": 3, "rescale_factor": 1.0 / 255,
            "size": ["shortest_edge": imageSize],
        ]
        return try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
    }

    enum Fill { case normal, ones, zeros, value(Float) }

    private var tensors: [(String, [Int], Fill)] {
        var t: [(String, [Int], Fill)] = []
        func tower(_ prefix: String, width: Int, layers: Int, mlp: Int) {
            for i in 0..<layers {
                let p = "\(prefix).encoder.layers.\(i)"
                for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                    t.append(("\(p).self_attn.\(proj).weight", [width, width], .normal))
                    t.append(("\(p).self_attn.\(proj).bias", [width], .zeros))
                }
                for norm in ["layer_norm1", "layer_norm2"] {
                    t.append(("\(p).\(norm).weight", [width], .ones))
                    t.append(("\(p).\(norm).bias", [width], .zeros))
                }
                t.append(("\(p).mlp.fc1.weight", [mlp, width], .normal))
                t.append(("\(p).mlp.fc1.bias", [mlp], .zeros))
                t.append(("\(p).mlp.fc2.weight", [width, mlp], .normal))
                t.append(("\(p).mlp.fc2.bias", [width], .zeros))
            }
        }
        t.append(("logit_scale", [], .value(4.6052)))
        t.append(("text_model.embeddings.token_embedding.weight", [vocabulary, textWidth], .normal))
        t.append(("text_model.embeddings.position_embedding.weight", [context, textWidth], .normal))
        tower("text_model", width: textWidth, layers: textLayers, mlp: textMLP)
        t.append(("text_model.final_layer_norm.weight", [textWidth], .ones))
        t.append(("text_model.final_layer_norm.bias", [textWidth], .zeros))
        t.append(("text_projection.weight", [projection, textWidth], .normal))
        let grid = imageSize / patchSize
        t.append(("vision_model.embeddings.class_embedding", [visionWidth], .normal))
        t.append(("vision_model.embeddings.patch_embedding.weight", [visionWidth, 3, patchSize, patchSize], .normal))
        t.append(("vision_model.embeddings.position_embedding.weight", [grid * grid + 1, visionWidth], .normal))
        t.append(("vision_model.pre_layrnorm.weight", [visionWidth], .ones))
        t.append(("vision_model.pre_layrnorm.bias", [visionWidth], .zeros))
        tower("vision_model", width: visionWidth, layers: visionLayers, mlp: visionMLP)
        t.append(("vision_model.post_layernorm.weight", [visionWidth], .ones))
        t.append(("vision_model.post_layernorm.bias", [visionWidth], .zeros))
        t.append(("visual_projection.weight", [projection, visionWidth], .normal))
        return t
    }

    /// Weights drawn in tensor order from one seed, F16.
    private func writeWeights(to path: String) throws {
        let list = tensors
        var rng = SeededRandom(seed: 0x5EED_C11B)
        try SafeTensorsWriter.writeF16(list.map { ($0.0, $0.1) }, to: path) { i in
            let (_, shape, fill) = list[i]
            let count = shape.reduce(1, *)
            var values = [Float16](repeating: 0, count: count)
            switch fill {
            case .normal: for i in 0..<count { values[i] = Float16(rng.nextNormal() * 0.02) }
            case .ones: for i in 0..<count { values[i] = 1 }
            case .zeros: break
            case .value(let v): for i in 0..<count { values[i] = Float16(v) }
            }
            return values
        }
    }
}
