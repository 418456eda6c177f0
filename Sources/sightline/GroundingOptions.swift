import ArgumentParser
import Foundation
import Logging
import SightlineCore
import SightlineGrounding
import SightlineHub
import SightlineModel
import SightlinePipeline

/// Options shared by `ground` and `eval`: the model and how grounding is tuned.
struct GroundingOptions: ParsableArguments {
    @Option(name: .long, help: "A CLIP checkpoint directory, or a hub repository id pulled with `sightline model pull`.")
    var model: String

    @Option(name: .customLong("short-side"), help: "Encoder input short side in pixels (rounded to the patch size).")
    var shortSide = 224

    @Option(name: .long, help: "Background words each query is contrasted with, comma-separated; \"\" for none. Default: a built-in list.")
    var background: String?

    @Flag(name: .customLong("no-query-contrast"), help: "Do not contrast queries with each other.")
    var noQueryContrast = false

    @Option(name: .long, help: "Probability a mask pixel needs (0...1).")
    var threshold: Float = 0.5

    @Option(name: .customLong("refine-max-side"), help: "Longer side of the working resolution of mask refinement (PAMR).")
    var refineMaxSide = 320

    @Flag(name: .customLong("no-refine"), help: "Skip mask refinement (PAMR): bilinear upsampling only.")
    var noRefine = false

    @Option(name: .customLong("start-score"), help: "Score an instance needs to start a tube.")
    var startScore: Float = 0.6

    @Option(name: .customLong("continue-score"), help: "Score an instance needs to continue a tube.")
    var continueScore: Float = 0.5

    @Option(name: .customLong("min-duration"), help: "Seconds a tube must span before it is reported.")
    var minDuration = 0.3

    @Option(name: .customLong("grace"), help: "Seconds a tube survives without a match.")
    var grace = 0.5

    @Option(name: .long, help: "Frames per encoder batch.")
    var batch = 4

    @Option(name: .long, help: """
        Precision of the engine's linear layers: auto (the default, as the daemon's model.precision: the fastest \
        that agrees with fp32 on the bundled self-check photographs, else fp32), fp32, int8 or bf16.
        """)
    var precision = "auto"

    var settings: GroundingSettings {
        var s = GroundingSettings()
        if let background {
            s.backgroundWords = background.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        s.contrastWithOtherQueries = !noQueryContrast
        s.shortSide = shortSide
        s.masks.threshold = threshold
        s.masks.refine = !noRefine
        s.masks.refineMaxSide = refineMaxSide
        s.tubes.startScore = startScore
        s.tubes.continueScore = continueScore
        s.tubes.minDuration = minDuration
        s.tubes.gracePeriod = grace
        return s
    }

    func validate() throws {
        guard batch >= 1, batch <= 64 else { throw ValidationError("--batch must be 1...64") }
        _ = try precisionSetting(precision)
        do { try settings.validate() } catch let error as SightlineError { throw ValidationError(error.message) }
    }

    /// Loads the model off the cooperative pool and says plainly when it is a test model.
    func loadModel(logger: Logger) async throws -> CLIPModel {
        let directory = try reportingErrors { try resolveModel(model) }
        let setting = try precisionSetting(precision)
        try reportingErrors { try setting.requireRunnable(field: "--precision") }
        let loaded = try await engineThread.run {
            try CLIPModel.load(directory: directory, threads: nil, precision: setting, field: "--precision", logger: logger)
        }
        if loaded.info.isTestModel {
            printError("sightline: \(loaded.info.name) is a tiny test model with random weights: its matches mean nothing.")
        }
        printError("sightline: engine precision \(loaded.info.precision.rawValue) (\(loaded.info.precisionReason))")
        return loaded
    }
}

/// `--precision` as the engine takes it; anything else is a usage error naming the choices.
func precisionSetting(_ text: String) throws -> PrecisionSetting {
    guard let setting = PrecisionSetting(text) else {
        throw ValidationError("--precision must be \(PrecisionSetting.choices), not \"\(text)\"")
    }
    return setting
}

/// The engine's calls block for the length of a forward pass: they run on this thread, one
/// after another, never on the cooperative pool.
let engineThread = WorkerThread(name: "sl-engine", stackSize: 16 << 20)

/// `--model` of the commands that load a model themselves: a directory that exists is a
/// checkpoint directory (relative paths included); anything else is looked up as the daemon
/// looks up `model.repository`: a hub repository id in the model stores.
func resolveModel(_ name: String) throws -> String {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: name, isDirectory: &isDirectory), isDirectory.boolValue { return name }
    let resolver = ModelResolver.standard(environment: ProcessInfo.processInfo.environment, userID: geteuid(), executable: runningExecutable)
    return try resolver.resolve(name).path
}

func printError(_ line: String) {
    Output.error(line)
}

/// A logger on standard error for the grounding commands.
func groundingLogger(_ label: String) -> Logger {
    var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = .warning
    return logger
}

/// A file-name-safe form of a query: `q2-a-person-riding-a-bike`.
func slug(_ id: String, _ text: String) -> String {
    let words = text.lowercased().unicodeScalars.map { CharacterSet.alphanumerics.contains($0) && $0.isASCII ? Character($0) : "-" }
    let joined = String(words).split(separator: "-").joined(separator: "-")
    return "\(id)-\(joined.prefix(40))".trimmingCharacters(in: CharacterSet(charactersIn: "-"))
}
