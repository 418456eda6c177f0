import Foundation
import SightlineCore
@testable import SightlineModel

/// The weights of the fixtures too large to commit (`FORMULA_CONFIGS` in make_clip_fixtures.py):
/// each element is the same hashed small integer over a power of two as `formula_tensor` there,
/// exact in F16, so the `model.safetensors` written here holds the bytes transformers read when
/// it computed the goldens. The goldens record a checksum per tensor of the file transformers
/// read; the file written here is checked against them before it is used.
enum FormulaCheckpoint {
    /// The fixture's directory with its weights: written once under the temporary directory
    /// (named by the goldens' checksums, so a regenerated fixture gets a new one), then reused.
    static func materialise(_ fixture: String, checksums: [String: String]) throws -> String {
        let key = Fixtures.fnv1a64(Array(checksums.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)\n" }.joined().utf8))
        let directory = NSTemporaryDirectory() + "sightline-fixtures/\(fixture)-\(key)"
        let fm = FileManager.default
        if fm.fileExists(atPath: directory + "/model.safetensors") { return directory }
        let partial = directory + ".partial-\(getpid())"
        try? fm.removeItem(atPath: partial)
        try fm.createDirectory(atPath: partial, withIntermediateDirectories: true)
        let source = Fixtures.clip + "/" + fixture
        for file in ["config.json", "preprocessor_config.json", "vocab.json", "merges.txt"] {
            try fm.copyItem(atPath: URL(fileURLWithPath: source + "/" + file).resolvingSymlinksInPath().path, toPath: partial + "/" + file)
        }
        let config = try CLIPConfiguration(contentsOf: partial + "/config.json")
        let list = tensors(config)
        var values: [[Float16]] = []
        var wrong: [String] = []
        for (name, shape) in list {
            let tensor = Self.values(name: name, shape: shape)
            if checksums[name] != checksum(tensor) { wrong.append(name) }
            values.append(tensor)
        }
        let missing = Set(checksums.keys).subtracting(list.map(\.name))
        guard wrong.isEmpty, missing.isEmpty else {
            throw SightlineError(.invalidFile, "the formula does not reproduce the fixture's weights",
                                 context: ["fixture": fixture, "differ": wrong.prefix(5).joined(separator: ","),
                                           "not made": missing.sorted().prefix(5).joined(separator: ",")])
        }
        try SafeTensorsWriter.writeF16(list.map { ($0.name, $0.shape) }, to: partial + "/model.safetensors") { values[$0] }
        try? fm.removeItem(atPath: directory)
        do {
            try fm.moveItem(atPath: partial, toPath: directory)
        } catch where fm.fileExists(atPath: directory + "/model.safetensors") {
            try? fm.removeItem(atPath: partial)  // another test process got there first
        }
        return directory
    }

    /// The tensors `CLIPModel.save_pretrained` writes for this configuration.
    static func tensors(_ config: CLIPConfiguration) -> [(name: String, shape: [Int])] {
        var t: [(name: String, shape: [Int])] = [("logit_scale", [])]
        func tower(_ prefix: String, _ c: TowerConfiguration) {
            let d = c.hiddenSize, m = c.intermediateSize
            for i in 0..<c.layers {
                let p = "\(prefix).encoder.layers.\(i)"
                for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                    t += [("\(p).self_attn.\(proj).weight", [d, d]), ("\(p).self_attn.\(proj).bias", [d])]
                }
                for norm in ["layer_norm1", "layer_norm2"] { t += [("\(p).\(norm).weight", [d]), ("\(p).\(norm).bias", [d])] }
                t += [("\(p).mlp.fc1.weight", [m, d]), ("\(p).mlp.fc1.bias", [m]), ("\(p).mlp.fc2.weight", [d, m]), ("\(p).mlp.fc2.bias", [d])]
            }
        }
        let text = config.text.hiddenSize, vision = config.vision.hiddenSize, p = config.patchSize
        t += [("text_model.embeddings.token_embedding.weight", [config.vocabSize, text]),
              ("text_model.embeddings.position_embedding.weight", [config.maxPositions, text])]
        tower("text_model", config.text)
        t += [("text_model.final_layer_norm.weight", [text]), ("text_model.final_layer_norm.bias", [text]),
              ("text_projection.weight", [config.projectionDim, text]),
              ("vision_model.embeddings.class_embedding", [vision]),
              ("vision_model.embeddings.patch_embedding.weight", [vision, 3, p, p]),
              ("vision_model.embeddings.position_embedding.weight", [config.gridSize * config.gridSize + 1, vision]),
              ("vision_model.pre_layrnorm.weight", [vision]), ("vision_model.pre_layrnorm.bias", [vision])]
        tower("vision_model", config.vision)
        t += [("vision_model.post_layernorm.weight", [vision]), ("vision_model.post_layernorm.bias", [vision]),
              ("visual_projection.weight", [config.projectionDim, vision])]
        return t
    }

    /// `formula_tensor` in make_clip_fixtures.py, element for element.
    static func values(name: String, shape: [Int]) -> [Float16] {
        let count = shape.reduce(1, *)
        if name == "logit_scale" { return [Float16](repeating: 4.625, count: count) }
        let bound: Int, shift: Int
        var offset: Float = 0
        if name.contains("layer_norm") || name.contains("layrnorm") || name.contains("layernorm") {
            (bound, shift) = (8, 5)
            if name.hasSuffix("weight") { offset = 1 }
        } else if name.hasSuffix("bias") {
            (bound, shift) = (8, 6)
        } else if !name.contains("patch_embedding"), name.contains("embedding") {
            (bound, shift) = (16, 5)
        } else {
            let fanIn = shape.dropFirst().reduce(1, *)
            var quarter = 0
            while 1 << (2 * quarter) < fanIn { quarter += 1 }
            let qk = name.contains("q_proj") || name.contains("k_proj")
            (bound, shift) = (31, quarter + 4 - (qk ? 1 : 0))
        }
        let seed = fnv1a64(Array(name.utf8))
        let modulus = UInt64(2 * bound + 1), scale = 1 / Float(1 << shift)
        var out = [Float16](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { buffer in
            for i in 0..<count {
                var x = seed ^ (UInt64(i) &* 0x9E37_79B9_7F4A_7C15)
                x ^= x >> 30
                x = x &* 0xBF58_476D_1CE4_E5B9
                x ^= x >> 27
                x = x &* 0x94D0_49BB_1331_11EB
                x ^= x >> 31
                let m = Int(x % modulus) - bound
                buffer[i] = Float16(offset + Float(m) * scale)
            }
        }
        return out
    }

    /// `tensor_checksums` in make_clip_fixtures.py: the sum of (k + 1) * bits(element k), mod 2^64.
    static func checksum(_ values: [Float16]) -> String {
        var sum: UInt64 = 0
        for (k, value) in values.enumerated() { sum = sum &+ UInt64(k + 1) &* UInt64(value.bitPattern) }
        let hex = String(sum, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    static func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
        bytes.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
    }

}
