import Foundation
import Logging
import SightlineCore
import Testing
@testable import SightlineModel

/// A checkpoint's tensors as plain values, to rewrite into broken or re-typed files.
struct TensorRecord {
    var name: String
    var dtype: String
    var shape: [Int]
    var bytes: [UInt8]

    static func read(_ path: String) throws -> [TensorRecord] {
        let file = try SafeTensorsFile(path: path)
        return file.tensors.values.sorted { $0.name < $1.name }.map { entry in
            TensorRecord(name: entry.name, dtype: entry.dtypeName, shape: entry.shape,
                         bytes: [UInt8](UnsafeRawBufferPointer(start: file.bytes(of: entry), count: entry.byteCount)))
        }
    }

    /// The safetensors layout: little-endian header length, JSON header, tensor bytes.
    static func write(_ records: [TensorRecord], to path: String, header override: String? = nil) throws {
        var entries: [String] = []
        var offset = 0
        for record in records {
            let shape = record.shape.map(String.init).joined(separator: ",")
            entries.append("\"\(record.name)\":{\"dtype\":\"\(record.dtype)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + record.bytes.count)]}")
            offset += record.bytes.count
        }
        var header = Array((override ?? "{\(entries.joined(separator: ","))}").utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var data = Data()
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: header)
        for record in records { data.append(contentsOf: record.bytes) }
        try data.write(to: URL(fileURLWithPath: path))
    }
}

@Suite("Checkpoint loading")
struct LoaderTests {
    static let source = Fixtures.directory("tiny-quickgelu-p8")
    static let logger = Logger(label: "test")

    /// A copy of the fixture checkpoint in a temporary directory, for a test to break.
    static func copy() throws -> String {
        let directory = try Fixtures.temporaryDirectory()
        for name in ["config.json", "model.safetensors", "vocab.json", "merges.txt", "preprocessor_config.json"] {
            try FileManager.default.copyItem(atPath: "\(source)/\(name)", toPath: "\(directory)/\(name)")
        }
        return directory
    }

    static func loadError(_ directory: String) -> SightlineError? {
        do {
            _ = try CLIPModel(directory: directory, threads: 1, logger: logger)
            return nil
        } catch let error as SightlineError {
            return error
        } catch {
            Issue.record("unexpected error type: \(error)")
            return nil
        }
    }

    static func rewrite(_ directory: String, _ change: (inout [TensorRecord]) -> Void) throws {
        var records = try TensorRecord.read("\(directory)/model.safetensors")
        change(&records)
        try TensorRecord.write(records, to: "\(directory)/model.safetensors")
    }

    @Test("an F32 copy of a checkpoint loads in place and gives the same embeddings")
    func f32() throws {
        let directory = try Self.copy()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.rewrite(directory) { records in
            for i in records.indices where records[i].dtype == "F16" {
                let values = records[i].bytes.withUnsafeBytes { raw in
                    (0..<(raw.count / 2)).map { Float(raw.loadUnaligned(fromByteOffset: $0 * 2, as: Float16.self)) }
                }
                records[i].dtype = "F32"
                records[i].bytes = values.withUnsafeBytes { [UInt8]($0) }
            }
        }
        let model = try CLIPModel(directory: directory, threads: 1, logger: Self.logger)
        #expect(model.info.weightsDType == "F32")
        let golden = try Fixtures.golden("tiny-quickgelu-p8")
        let texts = try model.encodeTexts(golden.texts)
        for (i, expected) in golden.text_embeddings.enumerated() {
            #expect(Fixtures.maxAbsDifference(texts[i], expected) <= 1e-4)
        }
        let images = try model.encodeImages(golden.images.map { Fixtures.image(width: $0.width, height: $0.height, seed: $0.seed) })
        for (i, expected) in golden.image_embeddings.enumerated() {
            #expect(Fixtures.maxAbsDifference(images[i], expected) <= 1e-4)
        }
    }

    @Test("a missing directory or file is named in the error", arguments: ["model.safetensors", "config.json", "vocab.json", "merges.txt"])
    func missingFile(name: String) throws {
        let directory = try Self.copy()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.removeItem(atPath: "\(directory)/\(name)")
        let error = try #require(Self.loadError(directory))
        #expect(error.code == .fileNotFound)
        #expect(error.context["file"] == "\(directory)/\(name)")
        #expect(Self.loadError("\(directory)/nowhere")?.code == .fileNotFound)
    }

    @Test("a truncated safetensors file names the file and the first tensor cut off")
    func truncated() throws {
        let directory = try Self.copy()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/model.safetensors"
        let lastInFile = try SafeTensorsFile(path: path).tensors.values.max { $0.offset < $1.offset }!.name
        let full = try Data(contentsOf: URL(fileURLWithPath: path))
        try full.prefix(full.count - 1).write(to: URL(fileURLWithPath: path))
        let error = try #require(Self.loadError(directory))
        #expect(error.code == .invalidFile && error.message.contains("truncated"))
        #expect(error.context["file"] == path)
        #expect(error.context["tensor"] == lastInFile)

        try full.prefix(100).write(to: URL(fileURLWithPath: path))
        let headerCut = try #require(Self.loadError(directory))
        #expect(headerCut.code == .invalidFile && headerCut.message.contains("truncated") && headerCut.context["file"] == path)

        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        #expect(Self.loadError(directory)?.message.contains("truncated") == true)
    }

    @Test("a corrupt header is refused, naming the tensor whose entry is wrong")
    func corruptHeader() throws {
        let directory = try Self.copy()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/model.safetensors"
        let records = try TensorRecord.read(path)

        try TensorRecord.write(records, to: path, header: "{\"logit_scale\": {\"dtype\": \"F16\", \"shape\": [], \"data_off")
        let notJSON = try #require(Self.loadError(directory))
        #expect(notJSON.code == .invalidFile && notJSON.message.contains("corrupt") && notJSON.context["file"] == path)

        try TensorRecord.write(records, to: path, header: "{\"logit_scale\": {\"dtype\": \"F16\", \"shape\": \"scalar\", \"data_offsets\": [0, 2]}}")
        let badShape = try #require(Self.loadError(directory))
        #expect(badShape.code == .invalidFile && badShape.context["tensor"] == "logit_scale")

        try TensorRecord.write(records, to: path, header: "{\"logit_scale\": {\"dtype\": \"F16\", \"shape\": [4], \"data_offsets\": [0, 2]}}")
        let sizeMismatch = try #require(Self.loadError(directory))
        #expect(sizeMismatch.code == .invalidFile && sizeMismatch.context["tensor"] == "logit_scale" && sizeMismatch.message.contains("8 bytes"))

        try TensorRecord.write(records, to: path, header: "[1, 2, 3]")
        #expect(Self.loadError(directory)?.code == .invalidFile)
    }

    /// Shapes whose element count ([2^32, 2^32]) or byte count ([2^31, 2^31] of F32) is 2^64:
    /// wrapped, either is 0 and matched an empty span, so the header passed with a huge shape.
    @Test("a shape whose element or byte count overflows is refused, not wrapped",
          arguments: ["[4294967296, 4294967296]", "[2147483648, 2147483648]"])
    func overflowingShape(shape: String) throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/model.safetensors"
        try TensorRecord.write([], to: path, header: "{\"huge\": {\"dtype\": \"F32\", \"shape\": \(shape), \"data_offsets\": [0, 0]}}")
        #expect {
            _ = try SafeTensorsFile(path: path)
        } throws: { error in
            guard let error = error as? SightlineError else { return false }
            return error.code == .invalidFile && error.context["tensor"] == "huge" && error.message.contains("more")
        }
    }

    @Test("a tensor with the wrong shape names the file, the tensor and both shapes")
    func wrongShape() throws {
        let directory = try Self.copy()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let name = "vision_model.encoder.layers.1.mlp.fc1.weight"
        try Self.rewrite(directory) { records in
            let i = records.firstIndex { $0.name == name }!
            records[i].shape = [records[i].shape[1], records[i].shape[0]]
        }
        let error = try #require(Self.loadError(directory))
        #expect(error.code == .modelMismatch)
        #expect(error.context["file"] == "\(directory)/model.safetensors" && error.context["tensor"] == name)
        #expect(error.message.contains("[32, 64]") && error.message.contains("[64, 32]"))
    }

    @Test("a needed tensor in a dtype the engine does not read names it", arguments: ["Q4_K", "I64", "F64"])
    func unknownDType(dtype: String) throws {
        let directory = try Self.copy()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let name = "text_model.final_layer_norm.bias"
        try Self.rewrite(directory) { records in
            let i = records.firstIndex { $0.name == name }!
            records[i].dtype = dtype
            records[i].bytes = [UInt8](repeating: 0, count: records[i].shape.reduce(1, *) * (dtype == "Q4_K" ? 1 : 8))
        }
        let error = try #require(Self.loadError(directory))
        #expect(error.code == .modelMismatch && error.context["tensor"] == name && error.context["file"] == "\(directory)/model.safetensors")
        #expect(error.message.contains(dtype))
    }

    @Test("a missing tensor is named; extra tensors such as old position_ids buffers are ignored")
    func missingTensor() throws {
        let directory = try Self.copy()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.rewrite(directory) { records in
            records.append(TensorRecord(name: "text_model.embeddings.position_ids", dtype: "I64", shape: [1, 77],
                                        bytes: [UInt8](repeating: 0, count: 77 * 8)))
        }
        _ = try CLIPModel(directory: directory, threads: 1, logger: Self.logger)
        try Self.rewrite(directory) { records in records.removeAll { $0.name == "text_projection.weight" } }
        let error = try #require(Self.loadError(directory))
        #expect(error.code == .modelMismatch && error.context["tensor"] == "text_projection.weight")
        #expect(error.context["file"] == "\(directory)/model.safetensors")
    }

    @Test("config.json problems are named: unknown model_type, bad values, not JSON")
    func badConfig() throws {
        let directory = try Self.copy()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/config.json"
        let original = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        func write(_ change: (inout [String: Any]) -> Void) throws {
            var json = original
            change(&json)
            try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        }
        try write { $0["model_type"] = "siglip" }
        let modelType = try #require(Self.loadError(directory))
        #expect(modelType.code == .modelMismatch && modelType.message.contains("siglip") && modelType.context["file"] == path)

        try write { $0.removeValue(forKey: "model_type") }
        #expect(Self.loadError(directory)?.code == .modelMismatch)

        try write { json in
            var vision = json["vision_config"] as! [String: Any]
            vision["hidden_act"] = "swish"
            json["vision_config"] = vision
        }
        let activation = try #require(Self.loadError(directory))
        #expect(activation.message.contains("swish") && activation.context["file"] == path)

        try write { json in
            var text = json["text_config"] as! [String: Any]
            text["num_attention_heads"] = 3
            json["text_config"] = text
        }
        #expect(Self.loadError(directory)?.message.contains("num_attention_heads") == true)

        try write { json in
            var vision = json["vision_config"] as! [String: Any]
            vision["hidden_size"] = 64
            vision["num_attention_heads"] = 4
            json["vision_config"] = vision
        }
        // The configuration is consistent but the weights are not: the first tensor that disagrees is named.
        let shapes = try #require(Self.loadError(directory))
        #expect(shapes.code == .modelMismatch && shapes.context["tensor"] != nil)

        try Data("{\"model_type\": ".utf8).write(to: URL(fileURLWithPath: path))
        let notJSON = try #require(Self.loadError(directory))
        #expect(notJSON.code == .invalidFile && notJSON.context["file"] == path)
    }

    @Test("preprocessor_config.json problems are named")
    func badPreprocessorConfig() throws {
        let directory = try Self.copy()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/preprocessor_config.json"
        try Data("{\"resample\": 0}".utf8).write(to: URL(fileURLWithPath: path))
        let resample = try #require(Self.loadError(directory))
        #expect(resample.code == .modelMismatch && resample.context["file"] == path)

        try Data("{\"crop_size\": {\"height\": 40, \"width\": 40}}".utf8).write(to: URL(fileURLWithPath: path))
        let crop = try #require(Self.loadError(directory))
        #expect(crop.message.contains("40x40") && crop.context["file"] == path)

        try Data("{\"image_std\": [1, 0, 1]}".utf8).write(to: URL(fileURLWithPath: path))
        #expect(Self.loadError(directory)?.context["file"] == path)

        // Without the file, CLIP's defaults at the model's own image size apply.
        try FileManager.default.removeItem(atPath: path)
        let model = try CLIPModel(directory: directory, threads: 1, logger: Self.logger)
        let golden = try Fixtures.golden("tiny-quickgelu-p8")
        let image = golden.images[1]
        let embedding = try model.encodeImages([Fixtures.image(width: image.width, height: image.height, seed: image.seed)])
        #expect(Fixtures.maxAbsDifference(embedding[0], golden.image_embeddings[1]) <= 1e-4)
    }

    @Test("bad arguments are errors, not crashes")
    func badArguments() throws {
        let model = try CLIPModel(directory: Self.source, threads: 1, logger: Self.logger)
        #expect(throws: SightlineError.self) { try model.encodeDense([RGBImage(width: 10, height: 10)], shortSide: 4) }
        #expect(throws: SightlineError.self) { try model.encodeTokens([[49406, 60000, 49407]]) }
        #expect(throws: SightlineError.self) { try model.encodeTokens([[]]) }
        #expect(try model.encodeTexts([]).rows == 0)
        #expect(try model.encodeImages([]).rows == 0)
        #expect(try model.encodeDense([], shortSide: 32).isEmpty)
        // A 1x1 image still becomes a full input.
        #expect(try model.encodeImages([RGBImage(width: 1, height: 1)]).rows == 1)
        #expect(try model.encodeDense([RGBImage(width: 1, height: 3)], shortSide: 8)[0].gridHeight == 3)
    }
}
