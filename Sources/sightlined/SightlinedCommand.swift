import ArgumentParser
import Foundation
import Logging
import SightlineCore
import SightlineDaemon
import SightlineProtocol
import SightlineSystemd

#if canImport(Glibc)
import Glibc
#endif

/// `sightlined`: the Sightline daemon.
@main
struct SightlinedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sightlined",
        abstract: "The Sightline daemon: watches video streams and pushes grounding events for standing queries over a Unix socket.",
        discussion: """
            Settings come from embedded defaults, then the configuration file, then SIGHTLINE_* environment variables, \
            then these flags. Docs/configuration.md describes every setting.
            """,
        version: Daemon.version
    )

    @Option(name: .long, help: "Configuration file (default: $SIGHTLINE_CONFIG, /etc/sightline/sightlined.toml as a service, ~/.config/sightline/sightlined.toml).")
    var config: String?

    @Option(name: .long, help: "Unix socket to listen on.")
    var socket: String?

    @Option(name: .customLong("state-dir"), help: "Directory for streams and standing queries.")
    var stateDirectory: String?

    @Option(name: .long, help: "CLIP checkpoint directory.")
    var model: String?

    @Option(name: .long, help: "Precision of the engine's linear layers (model.precision): auto (the fastest that agrees with fp32 on the bundled self-check, else fp32), fp32, int8 or bf16.")
    var precision: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String?

    @Option(name: .customLong("metrics-address"), help: "host:port to serve Prometheus metrics on.")
    var metricsAddress: String?

    @Flag(name: .customLong("check-config"), help: "Print the resolved configuration and exit.")
    var checkConfig = false

    func run() async throws {
        EarlyHangup.catchUntilServing()
        let environment = ProcessInfo.processInfo.environment
        let run = RunEnvironment(variables: environment, uid: geteuid(), home: NSHomeDirectory())
        let loader = ConfigurationLoader(explicitFile: config, environment: environment, run: run, socket: socket,
                                         stateDirectory: stateDirectory, model: model, precision: precision, logLevel: logLevel,
                                         metricsAddress: metricsAddress)
        let settings: DaemonConfiguration
        do {
            settings = try loader.load()
        } catch {
            Self.fail(error)
        }
        if checkConfig {
            print(Self.describe(settings))
            return
        }
        let logLevel = LogLevelControl(Logger.Level(rawValue: settings.logLevel) ?? .info)
        ServiceManagerHooks.bootstrapLogging(control: logLevel)
        let logger = Logger(label: "sightlined")
        let resolved: ModelResolution.Resolved
        do {
            resolved = try await ModelResolution.load(settings, logger: logger)
        } catch let error as SightlineError {
            logger.critical("cannot load the model: \(error.message)", metadata: Self.modelMetadata(settings))
            throw ExitCode(1)
        } catch {
            logger.critical("cannot load the model: \(error)", metadata: Self.modelMetadata(settings))
            throw ExitCode(1)
        }
        let summary = resolved.summary
        if summary.isTestModel {
            logger.warning("running the bundled tiny test model (\(resolved.reason)): \(ModelSummary.testModelNote)",
                           metadata: ["model": "\(summary.path ?? "")"])
        } else {
            logger.notice("model loaded", metadata: ["name": "\(summary.name)", "path": "\(summary.path ?? "")", "from": "\(resolved.reason)"])
        }
        logger.notice("engine precision \(summary.precision ?? "fp32")", metadata: [
            "reason": "\(summary.precisionReason ?? "")", "kernels": "\(summary.kernels ?? "")", "cpu": "\(summary.cpuFeatures.joined(separator: " "))",
        ])
        let model = resolved.model
        let makeGrounder = EngineHangForTesting.wrap({
            try PipelineGrounder(model: model, configuration: settings, logger: logger)
        }, environment: environment, logger: logger)
        let fileGrounding = FileGrounding(model: model, logger: logger)
        do {
            try await Daemon(configuration: settings, model: summary, hooks: try ServiceManagerHooks.make(logger: logger, logLevel: logLevel),
                             makeGrounder: makeGrounder, fileGrounding: fileGrounding,
                             loadConfiguration: { () throws(SightlineError) in try loader.load() }, logger: logger).run()
        } catch let error as SightlineError {
            logger.critical("\(error.message)", metadata: error.context.isEmpty ? nil : error.context.mapValues { "\($0)" })
            throw ExitCode(1)
        }
    }

    /// The configured model for the failure's log line; none when nothing was configured
    /// (the message then says where the daemon looked).
    static func modelMetadata(_ settings: DaemonConfiguration) -> Logger.Metadata? {
        guard let model = settings.modelPath ?? settings.modelRepository else { return nil }
        return ["model": "\(model)"]
    }

    static func fail(_ error: SightlineError) -> Never {
        // A configuration error quotes the value it refuses, which may be a camera's URI.
        FileHandle.standardError.write(Data("sightlined: \(maskingCredentials(error.message))\n".utf8))
        Foundation.exit(1)
    }

    /// Every setting as `--check-config` prints it, credentials in URIs masked.
    static func describe(_ c: DaemonConfiguration) -> String {
        var lines = [
            "socket.path = \(c.socketPath)",
            "socket.mode = 0o\(String(c.socketMode, radix: 8))",
            "socket.group = \(c.socketGroup ?? "(daemon's group)")",
            "socket.read_access = \(c.readAccess.rawValue)",
            "socket.max_connections = \(c.maxConnections)",
            "socket.max_connections_per_user = \(c.maxConnectionsPerUser)",
            "state.directory = \(c.stateDirectory)",
            "model.path = \(c.modelPath ?? "(unset)")",
            "model.repository = \(c.modelRepository ?? "(unset)")",
            "model.threads = \(c.engineThreads)",
            "model.precision = \(c.modelPrecision)",
            "scheduler.max_batch = \(c.maxBatch)",
            "scheduler.frames_per_stream = \(c.framesPerStream)",
            "scheduler.max_latency = \(c.maxLatency)\(c.maxLatency == 0 ? " (no bound)" : "")",
            "matches.update_interval = \(c.updateInterval)",
            "motion.carry = \(c.motionCarry)",
            "motion.refresh = \(c.motionRefresh)",
            "streams.default_fps = \(c.defaultFPS)",
            "streams.default_short_side = \(c.defaultShortSide)\(c.defaultShortSide == 0 ? " (the source's size)" : "")",
            "streams.max = \(c.maxStreams)",
            "queries.default_threshold = \(c.defaultThreshold)",
            "queries.default_min_duration = \(c.defaultMinDuration)",
            "queries.max = \(c.maxQueries)",
            "subscribers.queue = \(c.subscriberQueue)",
            "subscribers.stuck_after = \(c.subscriberStuckSeconds)",
            "metrics.address = \(c.metricsAddress ?? "(off)")",
            "log.level = \(c.logLevel)",
        ]
        // A definition's line, then what it leaves out, filled in from the defaults above.
        for stream in c.definedStreams {
            let s = stream.spec
            lines.append("stream \(stream.id) = \(maskingCredentials(s.uri)) (\(stream.file) line \(stream.line))")
            lines.append("  fps = \(s.fps.map { "\($0)" } ?? "\(c.defaultFPS) (streams.default_fps)"), "
                + "short_side = \(s.shortSide.map { "\($0)" } ?? "\(c.defaultShortSide) (streams.default_short_side)"), loop = \(s.loop)")
        }
        for query in c.definedQueries {
            let q = query.spec
            lines.append("query \(query.id) = \"\(q.text)\" (\(query.file) line \(query.line))")
            lines.append("  streams = \(q.streams.isEmpty ? "(every stream)" : q.streams.joined(separator: ",")), "
                + "threshold = \(q.threshold.map { "\($0)" } ?? "\(c.defaultThreshold) (queries.default_threshold)"), "
                + "min_duration = \(q.minDuration.map { "\($0)" } ?? "\(c.defaultMinDuration) (queries.default_min_duration)")")
        }
        return lines.joined(separator: "\n")
    }
}
