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

    // Which kernels run is oneDNN's dispatcher's to say (`OneDNN` in SightlineModel asks it),
    // not these flags: a cap such as DNNL_MAX_CPU_ISA changes it without changing them.

    /// The features that decide the engine's kernels, in the names people know them by.
    public var names: [String] {
        [("avx2", "AVX2"), ("fma", "FMA"), ("avx512f", "AVX-512"), ("avx512_vnni", "VNNI"), ("avx_vnni", "AVX-VNNI"),
         ("avx512_bf16", "BF16"), ("amx_tile", "AMX")].filter { flags.contains($0.0) }.map(\.1)
    }
}
