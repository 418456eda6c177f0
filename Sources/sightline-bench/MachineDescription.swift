import Foundation

/// The line every benchmark prints first: figures are only comparable on the same CPU, and
/// the machines these run on differ (AVX2 only on one, AVX-512 with BF16 on another).
enum MachineDescription {
    static var line: String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let lines = info.split(separator: "\n")
        let model = lines.first { $0.hasPrefix("model name") }?.split(separator: ":", maxSplits: 1).last?
            .trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        let flags = Set(lines.first { $0.hasPrefix("flags") }?.split(separator: ":", maxSplits: 1).last?.split(separator: " ").map(String.init) ?? [])
        let features = [("avx2", "AVX2"), ("fma", "FMA"), ("avx512f", "AVX-512"), ("avx512_vnni", "VNNI"), ("avx512_bf16", "BF16"), ("amx_tile", "AMX")]
            .filter { flags.contains($0.0) }.map(\.1)
        return "machine: \(model), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(features.isEmpty ? "no AVX2" : features.joined(separator: " "))"
    }
}
