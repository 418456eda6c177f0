import Foundation
import SightlineCore
import SightlineModel
import SightlineProtocol
import Testing
@testable import SightlinePipeline

/// The self-check inputs built into the programs, and the precision setting as the daemon and
/// the commands take it.
@Suite struct SelfCheckImageTests {
    @Test func theBundledPhotographsDecodeToRealFrames() throws {
        let check = try PrecisionCheck.bundled()
        #expect(check.images.count == 3)
        for image in check.images {
            #expect(image.width == 427 && image.height == 240)
            // A photograph, not a flat or blank picture: the pixels spread widely about their mean.
            let mean = image.pixels.reduce(0) { $0 + Int($1) } / image.pixels.count
            let spread = image.pixels.reduce(0) { $0 + abs(Int($1) - mean) } / image.pixels.count
            #expect(mean > 20 && mean < 235 && spread > 20, "mean \(mean), spread \(spread)")
        }
        #expect(check.images[0] != check.images[1] && check.images[1] != check.images[2])
        #expect(check.texts == PrecisionCheck.bundledTexts && check.texts.count == 5)
    }

    /// The literals are the committed DAVIS frames byte for byte, so their provenance is the
    /// fixtures' (Tests/Fixtures/davis-subset/README.md). Fails when the fixtures change
    /// without Scripts/make-self-check-images.sh being run again.
    @Test func theBundledBytesAreTheCommittedFrames() throws {
        let frames = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/davis-subset/JPEGImages/480p")
        #expect(SelfCheckImages.jpegs.map(\.name) == ["bmx-trees/00000.jpg", "horsejump-high/00016.jpg", "soapbox/00032.jpg"])
        for entry in SelfCheckImages.jpegs {
            let bundled = try #require(Data(base64Encoded: entry.base64, options: .ignoreUnknownCharacters), "\(entry.name)")
            #expect(bundled == (try Data(contentsOf: frames.appendingPathComponent(entry.name))), "\(entry.name)")
        }
    }

    @Test func aDamagedLiteralIsAClearError() {
        #expect {
            try PrecisionCheck.decode((name: "broken.jpg", base64: "/9j/4AAQSkZJRgABAQAAAQABAAD"))
        } throws: { error in
            let message = (error as? SightlineError)?.message ?? ""
            return message.contains("the self-check photograph broken.jpg built into Sightline")
        }
    }

    /// The daemon's configuration checks `model.precision` against its own list (its target
    /// does not import the engine's): the list and the engine's setting must agree.
    @Test func theDaemonsChoicesAreTheEnginesSettings() {
        #expect(DaemonConfiguration.precisions == ["auto"] + Precision.allCases.map(\.rawValue))
        #expect(DaemonConfiguration.precisions.allSatisfy { PrecisionSetting($0)?.description == $0 })
        #expect(DaemonConfiguration.precisionChoices == PrecisionSetting.choices)
    }

    /// Every precision this CPU runs passes; one it cannot run fails before any checkpoint is
    /// read, naming the setting, the CPU and a cap on oneDNN.
    @Test func onlyAPrecisionTheCPUCannotRunIsRefused() throws {
        for setting in [PrecisionSetting.auto, .fixed(.fp32), .fixed(.int8)] {
            try setting.requireRunnable(field: "model.precision")
        }
        let bf16 = PrecisionSetting.fixed(.bf16)
        if Precision.bf16.isSupported {
            try bf16.requireRunnable(field: "model.precision", environment: ["DNNL_MAX_CPU_ISA": "AVX2"])
        } else {
            #expect {
                try bf16.requireRunnable(field: "model.precision", environment: ["DNNL_MAX_CPU_ISA": "AVX2"])
            } throws: { error in
                let message = (error as? SightlineError)?.message ?? ""
                return message.hasPrefix("model.precision bf16 does not run on this CPU (\(CPUFeatures.current.model)")
                    && message.contains("capped at AVX2 by DNNL_MAX_CPU_ISA") && message.contains("AVX512-BF16 or AMX")
            }
        }
    }

    @Test func fp32NeedsNoSelfCheck() throws {
        #expect(try PrecisionSetting.fixed(.fp32).selfCheck() == nil)
        #expect(try PrecisionSetting.auto.selfCheck()?.images.count == 3)
        #expect(try PrecisionSetting.fixed(.int8).selfCheck()?.images.count == 3)
    }
}
