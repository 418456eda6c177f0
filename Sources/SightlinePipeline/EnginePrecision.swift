import Foundation
import Logging
import SightlineCore
import SightlineModel

extension PrecisionSetting {
    /// The environment variables that cap the instruction sets oneDNN dispatches to (its own
    /// names; the tests use them to run the AVX2 kernels on a newer CPU).
    static let dispatchCaps = ["ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"]

    /// Throws when this machine cannot run the precision asked for, before a checkpoint is
    /// read for nothing. The error names `field` (the setting as the user wrote it), the CPU,
    /// the features it has and any cap on them, because "bf16 is not supported" on a CPU whose
    /// /proc/cpuinfo lists BF16 is a riddle unless it says that oneDNN was capped.
    public func requireRunnable(field: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard case .fixed(let precision) = self, !precision.isSupported else { return }
        let cpu = CPUFeatures.current
        var machine = "\(cpu.model): \(cpu.names.isEmpty ? "no AVX2" : cpu.names.joined(separator: " "))"
        if let cap = Self.dispatchCaps.first(where: { environment[$0]?.isEmpty == false }) {
            machine += "; oneDNN is capped at \(environment[cap]!) by \(cap)"
        }
        let needs = precision == .bf16 ? "AVX512-BF16 or AMX" : "instructions oneDNN does not find here"
        let runnable = ["auto", "fp32"] + Precision.candidates.map(\.rawValue)
        let others = runnable.dropLast().joined(separator: ", ") + " or " + runnable.last!
        throw SightlineError(.invalidArgument, "\(field) \(precision.rawValue) does not run on this CPU (\(machine)): "
                             + "it needs \(needs); use \(others)",
                             context: ["precision": precision.rawValue])
    }

    /// The self-check a load at this setting needs: the bundled photographs and texts for
    /// `auto` (to choose) and for a lower precision (to warn when it disagrees with fp32);
    /// none for fp32, which is the reference.
    public func selfCheck() throws -> PrecisionCheck? {
        self == .fixed(.fp32) ? nil : try PrecisionCheck.bundled()
    }
}

extension CLIPModel {
    /// Loads the checkpoint in `directory` at the precision `setting` asks for, with the
    /// bundled self-check: what the daemon and the commands that load a model themselves do.
    /// `field` names the setting in errors (`model.precision`, `--precision`). Blocks for the
    /// load and the self-check: call it off the cooperative pool.
    public static func load(directory: String, threads: Int?, precision setting: PrecisionSetting, field: String,
                            logger: Logger) throws -> CLIPModel {
        try setting.requireRunnable(field: field)
        return try CLIPModel(directory: directory, threads: threads, precision: setting, check: try setting.selfCheck(), logger: logger)
    }
}
