import Foundation
import SightlineCore

/// The number format of the engine's linear layers (patch embedding, q/k/v, output projection,
/// both MLP layers, the projections). Layer norms, softmax, attention and the residual stream
/// stay fp32 in every precision.
public enum Precision: String, Sendable, CaseIterable, Codable {
    case fp32
    /// Weights quantised once at load per output channel, activations per token at run time,
    /// int32 accumulation, f32 results (oneDNN).
    case int8
    /// bfloat16 weights and activations, f32 accumulation (oneDNN; needs AVX512-BF16 or AMX).
    case bf16

    /// Whether this CPU can run the precision at all (as oneDNN's dispatcher sees it).
    public var isSupported: Bool {
        switch self {
        case .fp32, .int8: true
        case .bf16: OneDNN.shared.hasBF16
        }
    }

    /// Lower precisions worth trying on this CPU, fastest first (measured with
    /// `sightline-bench encoder`: int8 runs at about twice bf16's rate where VNNI exists).
    public static var candidates: [Precision] { [.int8, .bf16].filter(\.isSupported) }
}

extension Precision {
    /// The environment variables that cap the instruction sets oneDNN dispatches to (its own
    /// names; the tests use them to run the AVX2 kernels on a newer CPU).
    static let dispatchCaps = ["ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"]

    /// The error for a precision this machine cannot run. It names `field` (the setting as the
    /// user wrote it), the CPU, the features it has and any cap on them, because "bf16 is not
    /// supported" on a CPU whose /proc/cpuinfo lists BF16 is a riddle unless it says that
    /// oneDNN was capped.
    public func unsupportedError(field: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> SightlineError {
        let cpu = CPUFeatures.current
        var machine = "\(cpu.model): \(cpu.names.isEmpty ? "no AVX2" : cpu.names.joined(separator: " "))"
        if let cap = Self.dispatchCaps.first(where: { environment[$0]?.isEmpty == false }) {
            machine += "; oneDNN is capped at \(environment[cap]!) by \(cap)"
        }
        let needs = self == .bf16 ? "AVX512-BF16 or AMX" : "instructions oneDNN does not find here"
        let runnable = ["auto", "fp32"] + Precision.candidates.map(\.rawValue)
        let others = runnable.dropLast().joined(separator: ", ") + " or " + runnable.last!
        return SightlineError(.invalidArgument, "\(field) \(rawValue) does not run on this CPU (\(machine)): it needs \(needs); use \(others)",
                              context: ["precision": rawValue])
    }
}

/// `model.precision`: a precision, or `auto` (the fastest one that passes the self-check).
public enum PrecisionSetting: Sendable, Equatable, CustomStringConvertible {
    case auto
    case fixed(Precision)

    public init?(_ text: String) {
        if text == "auto" {
            self = .auto
        } else if let precision = Precision(rawValue: text) {
            self = .fixed(precision)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .auto: "auto"
        case .fixed(let precision): precision.rawValue
        }
    }

    public static let choices = "auto, fp32, int8 or bf16"
}

/// How closely a lower precision reproduces fp32 on the self-check's inputs.
public struct PrecisionAgreement: Sendable, Equatable {
    /// Cosine similarity of each patch's dense embedding to fp32's: mean and minimum over all patches.
    public var meanPatchCosine: Float
    public var minimumPatchCosine: Float
    /// Lowest cosine of a pooled image or text embedding to fp32's.
    public var minimumPooledCosine: Float

    /// The bounds a precision must meet to be chosen by `auto` (Docs/model-engine.md).
    public static let requiredMeanPatchCosine: Float = 0.995
    public static let requiredMinimumPatchCosine: Float = 0.98
    public static let requiredPooledCosine: Float = 0.999

    public var passes: Bool {
        meanPatchCosine >= Self.requiredMeanPatchCosine && minimumPatchCosine >= Self.requiredMinimumPatchCosine
            && minimumPooledCosine >= Self.requiredPooledCosine
    }

    /// What failed, or what held, in words for the log.
    public var summary: String {
        func f(_ value: Float) -> String { String(format: "%.4f", value) }
        return "patch cosine mean \(f(meanPatchCosine)) (needs \(f(Self.requiredMeanPatchCosine))), "
            + "min \(f(minimumPatchCosine)) (needs \(f(Self.requiredMinimumPatchCosine))), "
            + "pooled min \(f(minimumPooledCosine)) (needs \(f(Self.requiredPooledCosine)))"
    }
}

/// The inputs of the load-time self-check: real photographs and texts, encoded at fp32 and at
/// a candidate precision by the checkpoint being loaded.
public struct PrecisionCheck: Sendable {
    public var images: [RGBImage]
    public var texts: [String]

    public init(images: [RGBImage], texts: [String]) {
        self.images = images
        self.texts = texts
    }
}
