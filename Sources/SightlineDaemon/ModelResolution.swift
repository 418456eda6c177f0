import Foundation
import Logging
import SightlineCore
import SightlineHub
import SightlineModel
import SightlineProtocol

/// Loads the configured model once, at start, and says plainly which model the daemon runs.
public enum ModelResolution {
    /// What the daemon runs with.
    public struct Resolved: Sendable {
        public var summary: ModelSummary
        public var model: CLIPModel?
    }

    /// With no `model.path` the daemon runs without a model (streams are watched, nothing is
    /// grounded). A configured model that cannot be loaded is an error naming the problem.
    /// Loading maps and checks the checkpoint: it runs on a thread of its own.
    public static func load(_ configuration: DaemonConfiguration, logger: Logger) async throws -> Resolved {
        // model.path names a directory; model.repository a hub id looked up in the model
        // stores (`sightline model pull`), the same way `sightline model ls` finds it.
        let named = try configuration.modelPath ?? configuration.modelRepository.map { repository in
            try ModelResolver.standard(
                environment: ProcessInfo.processInfo.environment, userID: geteuid(),
                executable: URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            ).resolve(repository).path
        }
        guard let path = named else {
            return Resolved(summary: ModelSummary(
                name: "none", path: nil, isTestModel: false,
                note: "no model configured: streams are watched but not grounded; get one with `\(ModelSummary.realModelHint)` and set model.path"),
                model: nil)
        }
        let threads = configuration.engineThreads
        let model: CLIPModel = try await withCheckedThrowingContinuation { continuation in
            DedicatedThread.start(name: "sl-model-load") {
                continuation.resume(with: Result { try CLIPModel(directory: path, threads: threads, logger: logger) })
            }
        }
        return Resolved(summary: summary(of: model.info), model: model)
    }

    public static func summary(of info: ModelInfo) -> ModelSummary {
        ModelSummary(
            name: info.name, path: info.directory, isTestModel: info.isTestModel,
            note: info.isTestModel
                ? "the bundled tiny test model, for demos and tests only: its matches mean nothing; get a real one with `\(ModelSummary.realModelHint)`"
                : nil)
    }
}
