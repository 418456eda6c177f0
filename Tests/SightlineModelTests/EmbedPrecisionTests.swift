import Foundation
import SightlineCore
import SightlineTestSupport
import Testing

/// `sightline embed --precision`, the built binary: fp32 by default (its output is compared
/// with the reference goldens), a precision the CPU cannot run refused naming the CPU, and the
/// AVX2 int8 path (oneDNN capped by `DNNL_MAX_CPU_ISA`) close to fp32 on real photographs.
@Suite("sightline embed --precision")
struct EmbedPrecisionTests {
    static let frames = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/davis-subset/JPEGImages/480p").path
    static let images = ["bmx-trees/00000.jpg", "horsejump-high/00016.jpg", "soapbox/00032.jpg"].map { "\(frames)/\($0)" }
    static let texts = ["a person riding a bike", "a horse jumping over a fence", "a tree"]

    /// Runs `sightline embed` with `environment` added to the test's own.
    static func embed(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String, error: String) {
        let r = try await ChildProcesses.run(BuiltProducts.path("sightline"), ["embed"] + arguments,
                                             environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
        return (r.status, r.stdout, r.stderr)
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text.prefix(200))")
    }

    static func model(_ output: [String: Any]) -> [String: Any] { output["model"] as? [String: Any] ?? [:] }

    /// Each embedding of the output: the texts', then the images' (pooled, or every patch).
    static func embeddings(_ output: [String: Any]) -> [[Float]] {
        func floats(_ value: Any?) -> [Float] { (value as? [NSNumber] ?? []).map(\.floatValue) }
        let texts = (output["texts"] as? [[String: Any]] ?? []).map { floats($0["embedding"]) }
        let images = (output["images"] as? [[String: Any]] ?? []).flatMap { image in
            image["patches"].map { ($0 as? [Any] ?? []).map(floats) } ?? [floats(image["embedding"])]
        }
        return texts + images
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Float {
        let dot = zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
        let norms = (a.reduce(0) { $0 + $1 * $1 } * b.reduce(0) { $0 + $1 * $1 }).squareRoot()
        return dot / max(norms, .leastNormalMagnitude)
    }

    @Test("the default is fp32: the checkpoint's own values, on OpenBLAS")
    func theDefaultIsFP32() async throws {
        let result = try await Self.embed(["--model", Fixtures.directory("tiny-gelu-p14"), "--text", "a tree", "--json"])
        #expect(result.status == 0, "\(result.error)")
        let model = Self.model(try Self.json(result.output))
        #expect(model["precision"] as? String == "fp32" && model["kernels"] as? String == "OpenBLAS", "\(model)")
        #expect(model["precision_reason"] as? String == "fp32 was asked for")
    }

    /// The element-wise kernels' baseline copy (SSE2), asked for with `SIGHTLINE_KERNELS`, gives
    /// what the AVX2 copy gives, to rounding: both run here, whatever the CPU chose.
    @Test("the baseline and AVX2 element-wise kernels agree")
    func theBaselineAndAVX2KernelsAgree() async throws {
        let inputs = ["--model", Fixtures.directory("tiny-quickgelu-p8"), "--json", "--dense", "--full-frame"]
            + Self.texts.flatMap { ["--text", $0] } + Self.images.prefix(1).flatMap { ["--image", $0] }
        let chosen = try await Self.embed(inputs)
        let baseline = try await Self.embed(inputs, environment: ["SIGHTLINE_KERNELS": "x86-64"])
        #expect(chosen.status == 0 && baseline.status == 0, "\(chosen.error) \(baseline.error)")
        let chosenOutput = try Self.json(chosen.output), baselineOutput = try Self.json(baseline.output)
        let flags = CPUFeatures.current.flags
        #expect(Self.model(chosenOutput)["elementwise_kernels"] as? String == (flags.contains("avx2") && flags.contains("fma") ? "avx2+fma" : "x86-64"))
        #expect(Self.model(baselineOutput)["elementwise_kernels"] as? String == "x86-64", "\(Self.model(baselineOutput))")
        let a = Self.embeddings(chosenOutput), b = Self.embeddings(baselineOutput)
        try #require(a.count == b.count && a.count > Self.texts.count + 1)
        let cosines = zip(a, b).map { Self.cosine($0, $1) }
        #expect(cosines.allSatisfy { $0 > 0.99999 }, "\(cosines.min() ?? 0)")
    }

    /// oneDNN without a kernel for a product (made to happen with SIGHTLINE_DEBUG_FAIL_PRECISION):
    /// `auto` passes that precision over with a warning and still loads; asked for explicitly,
    /// it is a clear error.
    @Test("a precision whose kernels cannot be made is passed over by auto, an error when asked for")
    func aPrecisionWhoseKernelsFailIsPassedOver() async throws {
        let inputs = ["--model", Fixtures.directory("tiny-gelu-p14"), "--text", "a tree", "--json"]
        let failing = ["SIGHTLINE_DEBUG_FAIL_PRECISION": "int8"]
        let auto = try await Self.embed(inputs + ["--precision", "auto"], environment: failing)
        #expect(auto.status == 0, "\(auto.error)")
        let model = Self.model(try Self.json(auto.output))
        #expect(["fp32", "bf16"].contains(model["precision"] as? String ?? ""), "\(model)")
        #expect(auto.error.contains("cannot run this precision: passing it over") && auto.error.contains("precision=int8"), "\(auto.error)")
        if model["precision"] as? String == "fp32" {
            #expect((model["precision_reason"] as? String ?? "").contains("int8: oneDNN could not find a matrix product"), "\(model)")
        }
        let asked = try await Self.embed(inputs + ["--precision", "int8"], environment: failing)
        #expect(asked.status != 0)
        #expect(asked.error.contains("oneDNN could not find a matrix product for int8"), "\(asked.error)")
    }

    @Test("auto chooses with the bundled self-check and says why")
    func autoChoosesWithTheSelfCheck() async throws {
        let result = try await Self.embed(["--model", Fixtures.directory("tiny-gelu-p14"), "--text", "a tree", "--json", "--precision", "auto"])
        #expect(result.status == 0, "\(result.error)")
        let model = Self.model(try Self.json(result.output))
        #expect(["fp32", "int8", "bf16"].contains(model["precision"] as? String ?? ""), "\(model)")
        #expect((model["precision_reason"] as? String ?? "").hasPrefix("auto: "), "\(model)")
    }

    @Test("bf16 where oneDNN is capped at AVX2 is refused, naming the CPU")
    func bf16WithoutItsInstructionsIsRefused() async throws {
        let result = try await Self.embed(["--model", Fixtures.directory("tiny-gelu-p14"), "--text", "a tree", "--precision", "bf16"],
                                          environment: ["DNNL_MAX_CPU_ISA": "AVX2"])
        #expect(result.status != 0)
        #expect(result.output.isEmpty, "\(result.output)")
        let cpu = CPUFeatures.current
        #expect(result.error.contains("sightline: --precision bf16 does not run on this CPU (\(cpu.model): \(cpu.names.joined(separator: " "))"),
                "\(result.error)")
        #expect(result.error.contains("oneDNN is capped at AVX2 by DNNL_MAX_CPU_ISA") && result.error.contains("needs AVX512-BF16 or AMX"),
                "\(result.error)")
        #expect(result.error.contains("use auto, fp32 or int8"), "\(result.error)")
    }

    @Test("a bad --precision is a usage error naming the choices")
    func aBadPrecisionIsAUsageError() async throws {
        for bad in ["int4", "BF16", "fp16", ""] {
            let result = try await Self.embed(["--model", Fixtures.directory("tiny-gelu-p14"), "--text", "a tree", "--precision", bad])
            #expect(result.status != 0 && result.output.isEmpty)
            #expect(result.error.contains("--precision must be auto, fp32, int8 or bf16, not \"\(bad)\""), "\(result.error)")
        }
    }

    /// Without VNNI int8 weights keep 7 bits (Docs/model-engine.md): still within a cosine of
    /// 0.99 of fp32 for every text and image, and on average for the patches.
    @Test("int8 on the AVX2 path is close to fp32", arguments: ["tiny-gelu-p14", "tiny-quickgelu-p8"])
    func int8OnTheAVX2PathIsCloseToFP32(_ config: String) async throws {
        let inputs = ["--model", Fixtures.directory(config), "--json"] + Self.texts.flatMap { ["--text", $0] } + Self.images.flatMap { ["--image", $0] }
        let avx2 = ["DNNL_MAX_CPU_ISA": "AVX2"]
        for dense in [false, true] {
            let extra = dense ? ["--dense", "--full-frame"] : []
            let fp32 = try await Self.embed(inputs + extra)
            let int8 = try await Self.embed(inputs + extra + ["--precision", "int8"], environment: avx2)
            #expect(fp32.status == 0 && int8.status == 0, "\(fp32.error) \(int8.error)")
            let int8Output = try Self.json(int8.output)
            #expect(Self.model(int8Output)["precision"] as? String == "int8")
            #expect(Self.model(int8Output)["kernels"] as? String == "oneDNN avx2", "the cap did not reach oneDNN: \(Self.model(int8Output))")
            let reference = Self.embeddings(try Self.json(fp32.output)), lower = Self.embeddings(int8Output)
            try #require(reference.count == lower.count && reference.count >= Self.texts.count + Self.images.count)
            let cosines = zip(reference, lower).map { Self.cosine($0, $1) }
            if dense {
                let patches = cosines.dropFirst(Self.texts.count)
                #expect(patches.reduce(0, +) / Float(patches.count) > 0.99, "\(config) patches: mean \(patches.reduce(0, +) / Float(patches.count))")
                #expect(cosines.prefix(Self.texts.count).allSatisfy { $0 > 0.99 }, "\(config) texts: \(cosines.prefix(Self.texts.count))")
            } else {
                #expect(cosines.allSatisfy { $0 > 0.99 }, "\(config): \(cosines)")
            }
        }
    }
}
