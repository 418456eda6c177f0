import Foundation
import Logging
import SightlineCore
import SightlineHub
import SightlineModel
import SightlinePipeline
import SightlineProtocol

/// Loads the configured model once, at start, and says plainly which model the daemon runs.
public enum ModelResolution {
    /// What the daemon runs with.
    public struct Resolved: Sendable {
        public var summary: ModelSummary
        public var model: CLIPModel
        /// How the model was chosen, for the start-up log line.
        public var reason: String
    }

    /// The daemon's model: `model.path` (a directory); else `model.repository` looked up in the
    /// model stores (`sightline model pull`), the same way `sightline model ls` finds it; else,
    /// with neither set, `openai/clip-vit-base-patch16` when a store has it; else the bundled
    /// tiny test model installed with Sightline, announced as such. With none of these the
    /// daemon does not start: the error says how to get a model. A model that is named but
    /// cannot be loaded is an error naming the problem. Loading maps and checks the
    /// checkpoint: it runs on a thread of its own, and so does the precision's self-check
    /// (`model.precision`: `auto` encodes the bundled photographs at fp32 and at each lower
    /// precision the CPU runs, and keeps the fastest that agrees). A precision this CPU cannot
    /// run is an error naming the CPU; the daemon does not fall back from an explicit one.
    public static func load(_ configuration: DaemonConfiguration, resolver: ModelResolver? = nil, logger: Logger) async throws -> Resolved {
        let resolver = resolver ?? ModelResolver.standard(
            environment: ProcessInfo.processInfo.environment, userID: geteuid(),
            executable: URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath())
        let (path, reason) = try choose(configuration, resolver: resolver)
        let threads = configuration.engineThreads
        guard let precision = PrecisionSetting(configuration.modelPrecision) else {
            throw SightlineError(.invalidArgument, DaemonConfiguration.precisionError(configuration.modelPrecision, field: "model.precision"))
        }
        logger.info("loading the model", metadata: ["path": "\(path)", "from": "\(reason)", "precision": "\(precision)"])
        let model = try await WorkerThread.shared.run {
            try CLIPModel.load(directory: path, threads: threads, precision: precision, field: "model.precision", logger: logger)
        }
        return Resolved(summary: summary(of: model.info), model: model, reason: reason)
    }

    /// The checkpoint directory to load and why it was chosen.
    public static func choose(_ configuration: DaemonConfiguration, resolver: ModelResolver) throws -> (path: String, reason: String) {
        if let path = configuration.modelPath { return (path, "model.path") }
        if let repository = configuration.modelRepository {
            return (try resolver.resolve(repository).path, "model.repository \(repository)")
        }
        if let found = try? resolver.resolve(ModelResolver.defaultRepository) {
            return (found.path, "no model configured; \(ModelResolver.defaultRepository) is in the model store")
        }
        if let bundled = resolver.bundledTestModel() {
            return (bundled.path, "no model configured and none in the model stores")
        }
        let searched = resolver.roots.map(\.path).joined(separator: ", ")
        let bundled = resolver.bundledRoot.map { " nor the bundled tiny test model (\($0.path)/\(ModelResolver.bundledTestModelName))" } ?? ""
        throw SightlineError(
            .fileNotFound,
            "no model: none configured (model.path, model.repository), no \(ModelResolver.defaultRepository) in the model stores (\(searched))\(bundled); "
                + "get one with `\(ModelSummary.realModelHint)`, or set model.path to a CLIP checkpoint directory, "
                + "or install Sightline with `sightline install` for its bundled test model",
            context: ["model": "none"])
    }

    public static func summary(of info: ModelInfo) -> ModelSummary {
        ModelSummary(
            name: info.name, path: info.directory, isTestModel: info.isTestModel,
            note: info.isTestModel ? ModelSummary.testModelNote : nil, precision: info.precision.rawValue,
            precisionReason: info.precisionReason, kernels: info.kernels, cpuFeatures: info.cpuFeatures)
    }
}
