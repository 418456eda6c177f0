import Foundation
import SightlineCore

/// The activation inside the MLP blocks, named as in `config.json`'s `hidden_act`.
public enum Activation: String, Sendable {
    /// `x * sigmoid(1.702 x)`: OpenAI's checkpoints.
    case quickGELU = "quick_gelu"
    /// The exact, erf-based GELU: LAION OpenCLIP checkpoints.
    case gelu = "gelu"
}

/// One tower's shape: the text or the vision transformer.
struct TowerConfiguration: Sendable, Equatable {
    var hiddenSize: Int
    var intermediateSize: Int
    var layers: Int
    var heads: Int
    var activation: Activation
    var layerNormEps: Float

    var headDim: Int { hiddenSize / heads }
}

/// What the engine reads from a Hugging Face CLIP `config.json`, with the defaults that
/// `transformers.CLIPConfig` applies to keys the file leaves out.
struct CLIPConfiguration: Sendable, Equatable {
    var text: TowerConfiguration
    var vision: TowerConfiguration
    var vocabSize = 49408
    var maxPositions = 77
    var eosTokenId = 49407
    var imageSize = 224
    var patchSize = 32
    var projectionDim = 512
    var isTestModel = false
    /// The checkpoint's own name (`_name_or_path`, as `transformers` records it), if any.
    var recordedName: String?

    var gridSize: Int { imageSize / patchSize }

    /// ViT-B/32 with OpenAI's text tower: the shapes `transformers.CLIPConfig()` defaults to.
    static func vitB(patchSize: Int) -> CLIPConfiguration {
        CLIPConfiguration(
            text: TowerConfiguration(hiddenSize: 512, intermediateSize: 2048, layers: 12, heads: 8, activation: .quickGELU, layerNormEps: 1e-5),
            vision: TowerConfiguration(hiddenSize: 768, intermediateSize: 3072, layers: 12, heads: 12, activation: .quickGELU, layerNormEps: 1e-5),
            patchSize: patchSize)
    }

    init(text: TowerConfiguration, vision: TowerConfiguration, imageSize: Int = 224, patchSize: Int, projectionDim: Int = 512) {
        self.text = text
        self.vision = vision
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.projectionDim = projectionDim
    }

    init(contentsOf path: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SightlineError(.fileNotFound, "cannot read the model configuration", context: ["file": path])
        }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw SightlineError(.invalidFile, "the model configuration is not a JSON object", context: ["file": path])
        }
        try self.init(json: root, path: path)
    }

    init(json root: [String: Any], path: String) throws {
        let modelType = root["model_type"] as? String
        guard modelType == "clip" else {
            throw SightlineError(
                .modelMismatch,
                "model_type \(modelType.map { "\"\($0)\"" } ?? "is missing"); Sightline reads CLIP checkpoints (model_type \"clip\")",
                context: ["file": path])
        }
        // Old exports keep the towers in *_config_dict, which transformers lets override *_config.
        func section(_ key: String) throws -> [String: Any] {
            var merged: [String: Any] = [:]
            for name in [key, key + "_dict"] {
                guard let value = root[name], !(value is NSNull) else { continue }
                guard let dict = value as? [String: Any] else {
                    throw SightlineError(.invalidFile, "\(name) is not a JSON object", context: ["file": path])
                }
                merged.merge(dict) { _, new in new }
            }
            return merged
        }
        let textJSON = try section("text_config")
        let visionJSON = try section("vision_config")
        let reader = ConfigReader(path: path)

        text = TowerConfiguration(
            hiddenSize: try reader.int(textJSON, "hidden_size", in: "text_config", default: 512),
            intermediateSize: try reader.int(textJSON, "intermediate_size", in: "text_config", default: 2048),
            layers: try reader.int(textJSON, "num_hidden_layers", in: "text_config", default: 12),
            heads: try reader.int(textJSON, "num_attention_heads", in: "text_config", default: 8),
            activation: try reader.activation(textJSON, in: "text_config"),
            layerNormEps: try reader.float(textJSON, "layer_norm_eps", in: "text_config", default: 1e-5))
        vision = TowerConfiguration(
            hiddenSize: try reader.int(visionJSON, "hidden_size", in: "vision_config", default: 768),
            intermediateSize: try reader.int(visionJSON, "intermediate_size", in: "vision_config", default: 3072),
            layers: try reader.int(visionJSON, "num_hidden_layers", in: "vision_config", default: 12),
            heads: try reader.int(visionJSON, "num_attention_heads", in: "vision_config", default: 12),
            activation: try reader.activation(visionJSON, in: "vision_config"),
            layerNormEps: try reader.float(visionJSON, "layer_norm_eps", in: "vision_config", default: 1e-5))
        vocabSize = try reader.int(textJSON, "vocab_size", in: "text_config", default: 49408)
        maxPositions = try reader.int(textJSON, "max_position_embeddings", in: "text_config", default: 77)
        eosTokenId = try reader.int(textJSON, "eos_token_id", in: "text_config", default: 49407)
        imageSize = try reader.squareInt(visionJSON, "image_size", in: "vision_config", default: 224)
        patchSize = try reader.squareInt(visionJSON, "patch_size", in: "vision_config", default: 32)
        projectionDim = try reader.int(root, "projection_dim", in: "config", default: 512)
        isTestModel = root["sightline_test_model"] as? Bool ?? false
        recordedName = (root["_name_or_path"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        let channels = try reader.int(visionJSON, "num_channels", in: "vision_config", default: 3)

        for (tower, config) in [("text_config", text), ("vision_config", vision)] {
            guard config.hiddenSize > 0, config.intermediateSize > 0, config.layers > 0, config.heads > 0,
                  config.hiddenSize % config.heads == 0
            else {
                throw SightlineError(
                    .modelMismatch, "\(tower): hidden_size \(config.hiddenSize) must be a positive multiple of num_attention_heads \(config.heads)",
                    context: ["file": path])
            }
        }
        guard channels == 3 else {
            throw SightlineError(.modelMismatch, "vision_config.num_channels is \(channels); Sightline feeds RGB images", context: ["file": path])
        }
        guard patchSize > 0, imageSize >= patchSize, imageSize % patchSize == 0 else {
            throw SightlineError(.modelMismatch, "vision_config.image_size \(imageSize) must be a multiple of patch_size \(patchSize)", context: ["file": path])
        }
        guard maxPositions > 2, vocabSize > 0, projectionDim > 0 else {
            throw SightlineError(.modelMismatch, "max_position_embeddings, vocab_size and projection_dim must be positive", context: ["file": path])
        }
    }
}

/// Typed reads of JSON values, each failure naming the file and the key.
struct ConfigReader {
    let path: String

    func int(_ json: [String: Any], _ key: String, in section: String, default value: Int) throws -> Int {
        guard let raw = json[key], !(raw is NSNull) else { return value }
        guard let number = raw as? NSNumber, number.doubleValue == number.doubleValue.rounded() else {
            throw SightlineError(.invalidFile, "\(section).\(key) must be an integer", context: ["file": path])
        }
        return number.intValue
    }

    func float(_ json: [String: Any], _ key: String, in section: String, default value: Float) throws -> Float {
        guard let raw = json[key], !(raw is NSNull) else { return value }
        guard let number = raw as? NSNumber else {
            throw SightlineError(.invalidFile, "\(section).\(key) must be a number", context: ["file": path])
        }
        return number.floatValue
    }

    /// `image_size` and `patch_size` may be written as [n, n]; non-square values are refused.
    func squareInt(_ json: [String: Any], _ key: String, in section: String, default value: Int) throws -> Int {
        if let pair = json[key] as? [NSNumber] {
            guard pair.count == 2, pair[0] == pair[1] else {
                throw SightlineError(.modelMismatch, "\(section).\(key) must be square", context: ["file": path])
            }
            return pair[0].intValue
        }
        return try int(json, key, in: section, default: value)
    }

    func activation(_ json: [String: Any], in section: String) throws -> Activation {
        guard let raw = json["hidden_act"], !(raw is NSNull) else { return .quickGELU }
        guard let name = raw as? String, let activation = Activation(rawValue: name) else {
            throw SightlineError(
                .modelMismatch, "\(section).hidden_act \(raw) is not supported (quick_gelu or gelu)", context: ["file": path])
        }
        return activation
    }
}
