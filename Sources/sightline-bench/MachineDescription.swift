import Foundation
import SightlineCore

/// The line every benchmark prints first: figures are only comparable on the same CPU, and
/// the machines these run on differ (AVX2 only on one, AVX-512 with BF16 on another).
enum MachineDescription {
    static var line: String {
        let cpu = CPUFeatures.current
        return "machine: \(cpu.model), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(cpu.names.isEmpty ? "no AVX2" : cpu.names.joined(separator: " "))"
    }
}
