import Foundation
import Logging
import SightlineCore
import Synchronization
import Testing
@testable import SightlineModel

/// Sightline's outputs against the goldens that transformers produced from the same files.
@Suite("Parity with transformers")
struct ParityTests {
    static let tolerance: Float = 1e-4
    private static let loaded = Mutex<[String: CLIPModel]>([:])

    /// The fixture model, loaded once: a fixture that does not load fails the tests that use
    /// it, with the loader's error, instead of the whole test process.
    static func model(_ config: String) throws -> CLIPModel {
        try loaded.withLock { models in
            if let model = models[config] { return model }
            let model = try CLIPModel(directory: Fixtures.checkpoint(config), threads: 2, logger: Logger(label: "test"))
            models[config] = model
            return model
        }
    }

    @Test("the configuration and logit scale are read as the reference reads them", arguments: Fixtures.configs)
    func info(config: String) throws {
        let golden = try Fixtures.golden(config)
        let info = try Self.model(config).info
        #expect(info.isTestModel)
        #expect(abs(info.logitScale - golden.logit_scale) < 1e-3)
        #expect(info.contextLength == 77)
        if config == "tiny-quickgelu-p8" {
            #expect(info.patchSize == 8 && info.imageSize == 32 && info.embedDim == 16 && info.activation == "quick_gelu")
            #expect(info.weightsDType == "F16" && info.visionLayers == 2 && info.textWidth == 16)
        } else if config == "tinyclip-8m-16" {
            // TinyCLIP ViT-8M/16 Text-3M's shape.
            #expect(info.patchSize == 16 && info.imageSize == 224 && info.embedDim == 512 && info.activation == "gelu")
            #expect(info.weightsDType == "F16" && info.visionLayers == 10 && info.visionWidth == 256)
            #expect(info.textLayers == 3 && info.textWidth == 256)
        } else {
            #expect(info.patchSize == 14 && info.imageSize == 56 && info.embedDim == 24 && info.activation == "gelu")
            #expect(info.weightsDType == "BF16" && info.visionLayers == 3 && info.textWidth == 24)
        }
    }

    @Test("weights made by formula are the bytes transformers read", arguments: Fixtures.configs)
    func formulaWeights(config: String) throws {
        guard let checksums = try Fixtures.golden(config).tensor_checksums else { return }
        #expect(!FileManager.default.fileExists(atPath: Fixtures.directory(config) + "/model.safetensors"), "made by formula, not committed")
        // The file itself, which may have been written by an earlier run.
        let file = try SafeTensorsFile(path: try Fixtures.checkpoint(config) + "/model.safetensors")
        #expect(Set(file.tensors.keys) == Set(checksums.keys))
        for (name, entry) in file.tensors {
            #expect(entry.dtypeName == "F16")
            let values = Array(UnsafeBufferPointer(start: file.bytes(of: entry).assumingMemoryBound(to: Float16.self), count: entry.byteCount / 2))
            #expect(FormulaCheckpoint.checksum(values) == checksums[name], "\(name)")
        }
    }

    @Test("text embeddings", arguments: Fixtures.configs)
    func textEmbeddings(config: String) throws {
        let golden = try Fixtures.golden(config)
        let model = try Self.model(config)
        let batch = try model.encodeTexts(golden.texts)
        #expect(batch.rows == golden.texts.count && batch.dim == model.info.embedDim)
        for (i, expected) in golden.text_embeddings.enumerated() {
            let difference = Fixtures.maxAbsDifference(batch[i], expected)
            #expect(difference <= Self.tolerance, "\(golden.texts[i].prefix(30).debugDescription): max difference \(difference)")
        }
        // One at a time (no padding in the batch) gives the same rows.
        for (i, text) in golden.texts.enumerated() {
            let single = try model.encodeTexts([text])
            #expect(Fixtures.maxAbsDifference(single[0], golden.text_embeddings[i]) <= Self.tolerance)
        }
    }

    @Test("preprocessing reproduces CLIPImageProcessor's resampled pixels exactly", arguments: Fixtures.configs)
    func preprocessing(config: String) throws {
        let golden = try Fixtures.golden(config)
        let preprocessor = try Self.model(config).preprocessor
        for (spec, expected) in zip(golden.images, golden.preprocessed) {
            let image = try Fixtures.makeImage(width: spec.width, height: spec.height, seed: spec.seed)
            let size = preprocessor.resizedSize(width: image.width, height: image.height)
            #expect(size.width == expected.resized_width && size.height == expected.resized_height, "\(spec.name)")
            let resized = ImageResampler.resize(image, width: size.width, height: size.height, filter: preprocessor.configuration.filter)
            #expect(Fixtures.fnv1a64(resized.pixels) == expected.resized_fnv1a64, "\(spec.name): resampled pixels differ")
            let processed = preprocessor.standard(image)
            if let cropped = expected.cropped {
                #expect(processed.pixels == [UInt8](Data(base64Encoded: cropped)!), "\(spec.name): cropped pixels differ")
            }
            if let cropped = expected.cropped_fnv1a64 {
                #expect(Fixtures.fnv1a64(processed.pixels) == cropped, "\(spec.name): cropped pixels differ")
            }
        }
    }

    @Test("image embeddings for square, wide, tall, small and exact-size images", arguments: Fixtures.configs)
    func imageEmbeddings(config: String) throws {
        let golden = try Fixtures.golden(config)
        let model = try Self.model(config)
        let images = try golden.images.map { try Fixtures.makeImage(width: $0.width, height: $0.height, seed: $0.seed) }
        let batch = try model.encodeImages(images)
        #expect(batch.rows == images.count)
        for (i, expected) in golden.image_embeddings.enumerated() {
            let difference = Fixtures.maxAbsDifference(batch[i], expected)
            #expect(difference <= Self.tolerance, "\(golden.images[i].name): max difference \(difference)")
        }
        let single = try model.encodeImages([images[1]])
        #expect(Fixtures.maxAbsDifference(single[0], golden.image_embeddings[1]) <= Self.tolerance)
    }

    @Test("position embeddings interpolated to another grid match interpolate_pos_encoding", arguments: Fixtures.configs)
    func positionInterpolation(config: String) throws {
        let expected = try Fixtures.golden(config).interpolated_position_embeddings
        let vision = try Self.model(config).vision
        let positions = vision.positions(height: expected.grid_height, width: expected.grid_width)
        withExtendedLifetime(positions) {
            let actual = UnsafeBufferPointer(start: positions.pointer, count: positions.count)
            #expect(actual.count == expected.values.count)
            #expect(Fixtures.maxAbsDifference(actual, expected.values) <= 1e-5)
        }
    }

    @Test("full-frame ClearCLIP patch embeddings with interpolated positions", arguments: Fixtures.configs)
    func dense(config: String) throws {
        let golden = try Fixtures.golden(config)
        let model = try Self.model(config)
        for expected in golden.dense {
            let image = try Fixtures.makeImage(width: expected.width, height: expected.height, seed: expected.seed)
            let resized = model.preprocessor.fullFrame(image, shortSide: expected.short_side, patchSize: model.info.patchSize)
            #expect(resized.width == expected.resized_width && resized.height == expected.resized_height, "\(expected.image)")
            #expect(Fixtures.fnv1a64(resized.pixels) == expected.resized_fnv1a64, "\(expected.image): resampled pixels differ")
            let grid = model.denseGrid(width: image.width, height: image.height, shortSide: expected.short_side)
            #expect(grid.width == expected.grid_width && grid.height == expected.grid_height)

            let dense = try model.encodeDense([image], shortSide: expected.short_side)[0]
            #expect(dense.gridWidth == expected.grid_width && dense.gridHeight == expected.grid_height && dense.dim == model.info.embedDim)
            let difference = Fixtures.maxAbsDifference(Fixtures.patches(dense.values, at: expected.patch_indices, dim: dense.dim), expected.values)
            #expect(difference <= Self.tolerance, "\(expected.image): max difference \(difference)")
        }
    }

    @Test("pooled embeddings of full frames (no crop, interpolated positions)", arguments: Fixtures.configs)
    func fullFramePooled(config: String) throws {
        let golden = try Fixtures.golden(config)
        let model = try Self.model(config)
        for expected in golden.dense {
            let image = try Fixtures.makeImage(width: expected.width, height: expected.height, seed: expected.seed)
            let pooled = try model.encodeImages([image], framing: .fullFrame(shortSide: expected.short_side))
            let difference = Fixtures.maxAbsDifference(pooled[0], expected.pooled)
            #expect(difference <= Self.tolerance, "\(expected.image): max difference \(difference)")
        }
    }

    @Test("ClearCLIP patch embeddings of the centre-cropped input", arguments: Fixtures.configs)
    func denseCenterCrop(config: String) throws {
        let golden = try Fixtures.golden(config)
        let model = try Self.model(config)
        let spec = golden.images.first { $0.name == golden.dense_center_crop.image }!
        let dense = try model.encodeDense([try Fixtures.makeImage(width: spec.width, height: spec.height, seed: spec.seed)], framing: .centerCrop)[0]
        let side = model.info.imageSize / model.info.patchSize
        #expect(dense.gridWidth == side && dense.gridHeight == side)
        let expected = golden.dense_center_crop
        #expect(Fixtures.maxAbsDifference(Fixtures.patches(dense.values, at: expected.patch_indices, dim: dense.dim), expected.values) <= Self.tolerance)
    }

    @Test("large batches (split by rows, then by columns) on two and three threads match too",
          arguments: Fixtures.configs, [2, 3])
    func largeBatches(config: String, threads: Int) throws {
        let golden = try Fixtures.golden(config)
        let model = try CLIPModel(directory: Fixtures.checkpoint(config), threads: threads, logger: Logger(label: "test"))
        let copies = 4
        let images = try golden.images.map { try Fixtures.makeImage(width: $0.width, height: $0.height, seed: $0.seed) }
        let batch = try model.encodeImages(Array(repeating: images, count: copies).flatMap { $0 })
        for i in 0..<(images.count * copies) {
            #expect(Fixtures.maxAbsDifference(batch[i], golden.image_embeddings[i % images.count]) <= Self.tolerance)
        }
        let texts = try model.encodeTexts(Array(repeating: golden.texts, count: 12).flatMap { $0 })
        #expect(texts.rows == golden.texts.count * 12)
        for i in 0..<texts.rows {
            #expect(Fixtures.maxAbsDifference(texts[i], golden.text_embeddings[i % golden.texts.count]) <= Self.tolerance)
        }
        let frame = golden.dense[0]
        let frames = Array(repeating: try Fixtures.makeImage(width: frame.width, height: frame.height, seed: frame.seed), count: 9)
        for dense in try model.encodeDense(frames, shortSide: frame.short_side) {
            #expect(Fixtures.maxAbsDifference(Fixtures.patches(dense.values, at: frame.patch_indices, dim: dense.dim), frame.values) <= Self.tolerance)
        }
    }

    @Test("frames of different shapes in one call come back in order", arguments: Fixtures.configs)
    func mixedDenseBatch(config: String) throws {
        let golden = try Fixtures.golden(config)
        let model = try Self.model(config)
        // Every golden frame twice, interleaved, each with its own short side.
        let order = golden.dense.indices + golden.dense.indices.reversed()
        for shortSide in Set(golden.dense.map(\.short_side)) {
            let chosen = order.filter { golden.dense[$0].short_side == shortSide }
            let images = try chosen.map { golden.dense[$0] }.map { try Fixtures.makeImage(width: $0.width, height: $0.height, seed: $0.seed) }
            let results = try model.encodeDense(images, shortSide: shortSide)
            #expect(results.count == chosen.count)
            for (result, index) in zip(results, chosen) {
                let expected = golden.dense[index]
                #expect(Fixtures.maxAbsDifference(Fixtures.patches(result.values, at: expected.patch_indices, dim: result.dim), expected.values) <= Self.tolerance)
            }
        }
    }
}
