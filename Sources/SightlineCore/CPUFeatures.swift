import Foundation

/// What this CPU offers the engine, read from /proc/cpuinfo: the matrix products dispatch on it
/// at run time (these machines differ: AVX2 only on one, AVX-512 with VNNI and BF16 on another).
public struct CPUFeatures: Sendable, Equatable {
    public let model: String
    public let flags: Set<String>

    public static let current = CPUFeatures(cpuinfo: (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")

    public init(cpuinfo: String) {
        let lines = cpuinfo.split(separator: "\n")
        model = lines.first { $0.hasPrefix("model name") }?.split(separator: ":", maxSplits: 1).last?
            .trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        flags = Set(lines.first { $0.hasPrefix("flags") }?.split(separator: ":", maxSplits: 1).last?
            .split(separator: " ").map(String.init) ?? [])
    }

    /// int8 products without a saturating 16-bit step (AVX512-VNNI, AVX-VNNI or AMX).
    public var hasInt8DotProduct: Bool { flags.contains("avx512_vnni") || flags.contains("avx_vnni") || flags.contains("amx_int8") }
    /// bf16 products in hardware (AVX512-BF16 or AMX); oneDNN has no bf16 matmul without them.
    public var hasBF16: Bool { flags.contains("avx512_bf16") || flags.contains("amx_bf16") }

    /// The features that decide the engine's kernels, in the names people know them by.
    public var names: [String] {
        [("avx2", "AVX2"), ("fma", "FMA"), ("avx512f", "AVX-512"), ("avx512_vnni", "VNNI"), ("avx_vnni", "AVX-VNNI"),
         ("avx512_bf16", "BF16"), ("amx_tile", "AMX")].filter { flags.contains($0.0) }.map(\.1)
    }
}
