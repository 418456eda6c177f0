import Foundation
import Logging
import SightlineCore
import SightlineModel

extension PrecisionSetting {
    /// Throws when this machine cannot run the precision asked for, before a checkpoint is
    /// read for nothing (`Precision.unsupportedError` says why, naming `field`).
    public func requireRunnable(field: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard case .fixed(let precision) = self, !precision.isSupported else { return }
        throw precision.unsupportedError(field: field, environment: environment)
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
