import Foundation
import Logging
import SightlineCore
import SightlineMedia
import Testing
@_spi(Benchmarks) @testable import SightlineModel

/// int8 and bf16 against fp32 on real photographs (the committed DAVIS frames): the bounds of
/// Docs/model-engine.md, on the parity fixtures and on a ViT-B/16-shaped random model.
@Suite(.serialized) struct PrecisionTests {
    static let frames: [RGBImage] = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/davis-subset/JPEGImages/480p").path
        return ["bmx-trees/00000.jpg", "horsejump-high/00016.jpg", "soapbox/00032.jpg"].compactMap { try? ImageFile.read("\(root)/\($0)") }
    }()
    static let texts = ["a person riding a bike", "a horse jumping over a fence", "a soapbox car on a road", "a tree"]
    static var check: PrecisionCheck { PrecisionCheck(images: frames, texts: texts) }
    static let logger = Logger(label: "precision-tests")

    /// Checks the self-check's bounds, and prints the figures (Docs/model-engine.md's table).
    static func expectAgreement(_ agreement: PrecisionAgreement, _ what: String, pooled: Float = 0.999) {
        logger.info("agreement with fp32", metadata: ["case": "\(what)", "figures": "\(agreement.summary)"])
        #expect(agreement.meanPatchCosine >= 0.995, "\(what): \(agreement.summary)")
        #expect(agreement.minimumPatchCosine >= 0.98, "\(what): \(agreement.summary)")
        #expect(agreement.minimumPooledCosine >= pooled, "\(what): \(agreement.summary)")
    }

    /// Without VNNI (AVX2 or AVX-512 alone) int8 weights keep 7 bits (Linear.converted), and
    /// the small fixtures' pooled agreement drops below the self-check's 0.999 (measured: patch
    /// min 0.9940, pooled 0.9982-0.9993); ViT-B/16's shape still meets the full bounds. The
    /// self-check is what keeps a checkpoint that falls short at fp32 there.
    static func expectFixtureAgreement(_ agreement: PrecisionAgreement, _ config: String, _ precision: Precision) {
        if precision == .int8 && !OneDNN.shared.hasInt8DotProduct {
            logger.info("agreement with fp32", metadata: ["case": "\(config) int8 without VNNI", "figures": "\(agreement.summary)"])
            #expect(agreement.meanPatchCosine >= 0.995, "\(config) int8 without VNNI: \(agreement.summary)")
            #expect(agreement.minimumPatchCosine >= 0.99, "\(config) int8 without VNNI: \(agreement.summary)")
            #expect(agreement.minimumPooledCosine >= 0.997, "\(config) int8 without VNNI: \(agreement.summary)")
        } else {
            expectAgreement(agreement, "\(config) \(precision)")
        }
    }

    @Test(arguments: Fixtures.configs) func lowerPrecisionsAgreeWithFP32OnTheParityFixtures(_ config: String) throws {
        try #require(Self.frames.count == 3, "the DAVIS frames did not decode")
        let fp32 = try CLIPModel(directory: try Fixtures.checkpoint(config), threads: 2, logger: Self.logger)
        for precision in Precision.candidates {
            let lower = try fp32.converted(to: precision)
            #expect(lower.info.precision == precision)
            Self.expectFixtureAgreement(try fp32.agreement(of: lower, on: Self.check), config, precision)
        }
    }

    @Test func int8AgreesWithFP32AtViTB16Shape() throws {
        try #require(Self.frames.count == 3, "the DAVIS frames did not decode")
        let fp32 = try CLIPModel.randomViTB(patchSize: 16, threads: 2)
        for precision in Precision.candidates {
            let lower = try fp32.converted(to: precision)
            Self.expectAgreement(try fp32.agreement(of: lower, on: PrecisionCheck(images: Self.frames, texts: [])), "ViT-B/16 \(precision)")
            #expect(lower.weightBytes.vision < fp32.weightBytes.vision * (precision == .int8 ? 3 : 6) / 10)
        }
    }

    /// A copy of a parity fixture whose layer norms scale a few channels 60-fold: the large
    /// outlier channels real CLIP checkpoints are known to have, which per-token int8 cannot
    /// hold alongside the others.
    static func outlierCheckpoint(from config: String = "tiny-gelu-p14") throws -> String {
        let source = Fixtures.directory(config)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-outliers-\(config)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in ["config.json", "merges.txt", "vocab.json", "preprocessor_config.json"] {
            // Copied by content: the fixtures share their tokenizer files through symbolic links.
            try Data(contentsOf: URL(fileURLWithPath: "\(source)/\(name)")).write(to: URL(fileURLWithPath: "\(directory)/\(name)"))
        }
        let file = try SafeTensorsFile(path: "\(source)/model.safetensors")
        let entries = file.tensors.values.sorted { $0.name < $1.name }
        try SafeTensorsWriter.writeF16(entries.map { ($0.name, $0.shape) }, to: "\(directory)/model.safetensors") { i in
            let entry = entries[i], count = entry.shape.reduce(1, *)
            var values = [Float](repeating: 0, count: count)
            values.withUnsafeMutableBufferPointer { WeightReader.convert(file.bytes(of: entry), dtype: entry.dtype!, count: count, into: $0.baseAddress!) }
            if entry.name.hasSuffix("layer_norm1.weight") || entry.name.hasSuffix("layer_norm2.weight") {
                for channel in [1, 7, 11] { values[channel] *= 60 }
            }
            return values.map { Float16($0) }
        }
        return directory
    }

    @Test func theSelfCheckTurnsDownInt8ForACheckpointWithOutlierChannels() throws {
        try #require(Self.frames.count == 3, "the DAVIS frames did not decode")
        let directory = try Self.outlierCheckpoint()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fp32 = try CLIPModel(directory: directory, threads: 2, logger: Self.logger)
        let int8 = try fp32.converted(to: .int8)
        let agreement = try fp32.agreement(of: int8, on: Self.check)
        #expect(!agreement.passes, "int8 agrees with fp32 on the outlier checkpoint after all: \(agreement.summary)")

        let auto = try CLIPModel(directory: directory, threads: 2, precision: .auto, check: Self.check, logger: Self.logger)
        #expect(auto.info.precision != .int8, "\(auto.info.precisionReason)")
        #expect(auto.info.precisionReason.contains("self-check"), "\(auto.info.precisionReason)")
        // The same checkpoint without the outliers passes (with VNNI; without it, as its own
        // agreement says): the check is what turned int8 down.
        let plainFP32 = try CLIPModel(directory: Fixtures.directory("tiny-gelu-p14"), threads: 2, logger: Self.logger)
        let plainAgreement = try plainFP32.agreement(of: try plainFP32.converted(to: .int8), on: Self.check)
        if OneDNN.shared.hasInt8DotProduct { #expect(plainAgreement.passes, "\(plainAgreement.summary)") }
        let plain = try CLIPModel(directory: Fixtures.directory("tiny-gelu-p14"), threads: 2, precision: .auto, check: Self.check, logger: Self.logger)
        if plainAgreement.passes {
            #expect(plain.info.precision == .int8, "\(plain.info.precisionReason)")
        } else {
            #expect(plain.info.precision != .int8, "\(plain.info.precisionReason)")
        }

        // Asked for explicitly, int8 is used as asked, with the failed check in its reason.
        let asked = try CLIPModel(directory: directory, threads: 2, precision: .fixed(.int8), check: Self.check, logger: Self.logger)
        #expect(asked.info.precision == .int8)
        #expect(asked.info.precisionReason.contains("fails the self-check"), "\(asked.info.precisionReason)")
    }

    @Test func fp32IsExactlyTheCheckpointsOwnAndBadSettingsAreClear() throws {
        let fp32 = try CLIPModel(directory: Fixtures.directory("tiny-gelu-p14"), threads: 2, precision: .fixed(.fp32), check: Self.check, logger: Self.logger)
        #expect(fp32.info.precision == .fp32 && fp32.info.kernels == "OpenBLAS")
        let auto = try CLIPModel(directory: Fixtures.directory("tiny-gelu-p14"), threads: 2, precision: .auto, logger: Self.logger)
        #expect(auto.info.precision == .fp32, "auto without check inputs must stay at fp32: \(auto.info.precisionReason)")
        #expect(PrecisionSetting("auto") == .auto && PrecisionSetting("int8") == .fixed(.int8))
        #expect(PrecisionSetting("int4") == nil && PrecisionSetting("") == nil && PrecisionSetting("INT8") == nil)
        if !Precision.bf16.isSupported {
            #expect(throws: SightlineError.self) { try fp32.converted(to: .bf16) }
        }
    }
}
