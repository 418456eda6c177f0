import ArgumentParser
import Foundation
import Logging
import SightlineCore
import SightlineHub
import SightlineSystemd
import Synchronization

/// `sightline model pull|ls|rm`: checkpoints from the Hugging Face hub in the model store.
struct ModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Pull, list and remove model checkpoints.",
        discussion: """
            Pulled models go to $SIGHTLINE_MODEL_DIR, else /var/lib/sightline/models for root \
            (the system service's store: use sudo), else ~/.cache/sightline/models. \
            HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE work as for huggingface_hub.
            """,
        subcommands: [Pull.self, List.self, Remove.self]
    )

    struct Store: ParsableArguments {
        @Option(name: .customLong("model-dir"), help: "The model store to use instead of the default.")
        var modelDirectory: String?

        func store() -> ModelStore {
            let root = modelDirectory.map { URL(fileURLWithPath: $0) }
                ?? ModelStore.defaultRoot(environment: ProcessInfo.processInfo.environment, userID: getuid())
            return ModelStore(root: root, logger: commandLogger("sightline.model"))
        }
    }

    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a CLIP checkpoint, verified against the hub's sizes and SHA-256.",
            discussion: "An interrupted pull resumes where it stopped when run again. Prints the checkpoint directory."
        )

        @Argument(help: "Hub repository id, e.g. openai/clip-vit-base-patch16.")
        var repo: String

        @Option(help: "Branch, tag or commit.")
        var revision = "main"

        @OptionGroup var store: Store

        func run() async throws {
            try await reportingErrors {
                let repo = try RepoID(repo)
                let client = try HubClient(environment: ProcessInfo.processInfo.environment, logger: commandLogger("sightline.hub"))
                let display = PullDisplay(terminal: isatty(2) == 1)
                let directory = try await store.store().pull(repo, revision: revision, client: client) { display.show($0) }
                Output.line(directory.path)
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the models on this machine.")

        @OptionGroup var store: Store

        func run() throws {
            try reportingErrors {
                let roots: [URL]
                if let dir = store.modelDirectory {
                    roots = [URL(fileURLWithPath: dir)]
                } else {
                    roots = ModelResolver.standard(environment: ProcessInfo.processInfo.environment, userID: getuid(), executable: runningExecutable).roots
                }
                var any = false
                for root in roots {
                    let models = try ModelStore(root: root, logger: commandLogger("sightline.model")).list()
                    guard !models.isEmpty else { continue }
                    any = true
                    Output.line(root.path)
                    for model in models {
                        var columns = [model.name, model.state.rawValue, formatBytes(model.bytes)]
                        if let record = model.record {
                            columns.append(String(record.commit.prefix(12)))
                            columns.append("pulled " + ISO8601DateFormatter().string(from: record.pulledAt))
                        }
                        Output.line("  " + columns.joined(separator: "  "))
                    }
                }
                if !any {
                    Output.line("no models; pull one with: sightline model pull openai/clip-vit-base-patch16")
                }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove pulled models from the store.")

        @Argument(help: "Hub repository ids.")
        var repos: [String]

        @OptionGroup var store: Store

        func run() async throws {
            try await reportingErrors {
                let store = store.store()
                for repo in repos {
                    try await store.remove(RepoID(repo))
                    Output.line("removed \(repo)")
                }
            }
        }
    }
}

/// Download progress on standard error: a redrawn bar on a terminal, a line per verified file
/// otherwise (logs and CI output stay readable).
final class PullDisplay: Sendable {
    private let terminal: Bool
    private let started = Mutex<[String: ContinuousClock.Instant]>([:])

    init(terminal: Bool) { self.terminal = terminal }

    func show(_ event: PullEvent) {
        switch event {
        case .upToDate(let commit):
            write("up to date at \(commit.prefix(12))\n")
        case .resolved(let info, let files):
            let total = files.reduce(Int64(0)) { $0 + $1.size }
            write("pulling \(info.repo) at \(info.commit.prefix(12)): \(files.count) files, \(formatBytes(total))\n")
        case .transfer(let progress):
            guard terminal else { return }
            let now = ContinuousClock.now
            let start = started.withLock { $0[progress.file, default: now] }
            started.withLock { $0[progress.file] = start }
            let seconds = Double((now - start).components.attoseconds) / 1e18 + Double((now - start).components.seconds)
            let rate = seconds > 0.2 ? Double(progress.bytes - progress.resumedFrom) / seconds : 0
            let fraction = progress.total > 0 ? Double(progress.bytes) / Double(progress.total) : 1
            let width = 24
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
            write("\r\u{1B}[K\(progress.file) [\(bar)] \(Int(fraction * 100))% \(formatBytes(progress.bytes))/\(formatBytes(progress.total))" + (rate > 0 ? " \(formatBytes(Int64(rate)))/s" : ""))
        case .verified(let file):
            write(terminal ? "\r\u{1B}[K\(file) verified\n" : "\(file) verified\n")
        }
    }

    private func write(_ text: String) {
        Output.errorText(text)
    }
}

func formatBytes(_ bytes: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024, unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}

/// A logger for a command's own messages: plain lines on standard error, warnings and up,
/// so that standard output carries only the command's result.
func commandLogger(_ label: String) -> Logger {
    Logger(label: label) { label in SystemdLogHandler(label: label, format: .plain, level: .warning) }
}

/// Prints a SightlineError as one line on standard error and exits with status 1.
func reportingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as SightlineError {
        Output.error("sightline: \(error.message)")
        throw ExitCode.failure
    }
}

func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as SightlineError {
        Output.error("sightline: \(error.message)")
        throw ExitCode.failure
    }
}
