import Foundation
import Logging
import SightlineCore
import SightlineProtocol
import Synchronization

/// What SIGHUP does: reads the configuration again (file, environment, flags, the same layers
/// as at start) and applies what can change while the daemon runs:
///
/// - the streams and queries defined in the file are reconciled with the running ones
///   (`Registry.reconcile`); those added over the socket stay as they are;
/// - limits and defaults (`streams.*`, `queries.*`), `scheduler.max_batch`, `subscribers.*`
///   (for connections opened afterwards) and `log.level` take effect;
/// - what cannot change without a restart (`restartOnlyKeys`: the socket, the state
///   directory, the model and its precision (the engine is built once, at start), metrics,
///   the per-stream frame queue) is logged as waiting for the next restart, and the daemon
///   keeps its current value.
///
/// A configuration that cannot be read, fails to parse, or cannot be reconciled (an id taken
/// over the socket, a query naming no stream) changes nothing: the error, naming the file and
/// line, goes to the log. The service manager hears `RELOADING=1` before any of this and
/// `READY=1` after all of it.
final class ConfigurationReload: Sendable {
    private let running: Mutex<DaemonConfiguration>
    private let load: @Sendable () throws -> DaemonConfiguration
    private let registry: Registry
    private let scheduler: Scheduler
    private let server: SocketServer
    private let hooks: DaemonHooks
    private let summary: @Sendable () -> String
    private let logger: Logger

    init(running: DaemonConfiguration, load: @escaping @Sendable () throws -> DaemonConfiguration, registry: Registry,
         scheduler: Scheduler, server: SocketServer, hooks: DaemonHooks, summary: @escaping @Sendable () -> String, logger: Logger) {
        self.running = Mutex(running)
        self.load = load
        self.registry = registry
        self.scheduler = scheduler
        self.server = server
        self.hooks = hooks
        self.summary = summary
        self.logger = logger
    }

    /// The settings that only a restart changes, with how to read each.
    static let restartOnlyKeys: [(key: String, value: @Sendable (DaemonConfiguration) -> String)] = [
        ("socket.path", { $0.socketPath }),
        ("socket.mode", { "0o" + String($0.socketMode, radix: 8) }),
        ("socket.group", { $0.socketGroup ?? "(the daemon's group)" }),
        ("socket.read_access", { $0.readAccess.rawValue }),
        ("state.directory", { $0.stateDirectory }),
        ("model.path", { $0.modelPath ?? "(unset)" }),
        ("model.repository", { $0.modelRepository ?? "(unset)" }),
        ("model.threads", { String($0.engineThreads) }),
        ("model.precision", { $0.modelPrecision }),
        ("scheduler.frames_per_stream", { String($0.framesPerStream) }),
        ("matches.update_interval", { String($0.updateInterval) }),
        ("motion.carry", { String($0.motionCarry) }),
        ("motion.refresh", { String($0.motionRefresh) }),
        ("metrics.address", { $0.metricsAddress ?? "(off)" }),
    ]

    /// Called for SIGHUP.
    func reload() async {
        hooks.reloading()
        await apply()
        hooks.ready()
        hooks.status(summary())
    }

    private func apply() async {
        let loaded: DaemonConfiguration
        do {
            let load = self.load
            // Reading the file is blocking I/O: not on the cooperative pool.
            loaded = try await WorkerThread.shared.run { try load() }
        } catch {
            fail(error)
            return
        }
        let current = running.withLock { $0 }
        var applied = loaded
        for (key, value) in Self.restartOnlyKeys where value(loaded) != value(current) {
            logger.warning("\(key) changed in the configuration; it takes effect at the next restart",
                           metadata: ["key": "\(key)", "running": "\(value(current))", "configured": "\(value(loaded))"])
        }
        applied.socketPath = current.socketPath
        applied.socketMode = current.socketMode
        applied.socketGroup = current.socketGroup
        applied.readAccess = current.readAccess
        applied.stateDirectory = current.stateDirectory
        applied.modelPath = current.modelPath
        applied.modelRepository = current.modelRepository
        applied.engineThreads = current.engineThreads
        applied.modelPrecision = current.modelPrecision
        applied.framesPerStream = current.framesPerStream
        applied.metricsAddress = current.metricsAddress
        let outcome: Reconciliation
        do {
            outcome = try await registry.reconcile(streams: loaded.definedStreams, queries: loaded.definedQueries,
                                                   settings: RegistrySettings(applied))
        } catch {
            fail(error)
            return
        }
        scheduler.update(maxBatch: applied.maxBatch)
        scheduler.update(maxLatency: applied.maxLatency)
        server.update(maxConnections: applied.maxConnections, perUser: applied.maxConnectionsPerUser)
        server.update(subscriberQueue: applied.subscriberQueue, stuckAfter: .milliseconds(Int(applied.subscriberStuckSeconds * 1000)))
        if applied.logLevel != current.logLevel { hooks.logLevel(applied.logLevel) }
        running.withLock { $0 = applied }
        logger.notice("configuration reloaded: \(outcome.summary)", metadata: [
            "streams": "\(registry.streams.count)", "queries": "\(registry.queries.count)",
        ])
    }

    private func fail(_ error: any Error) {
        if let error = error as? SightlineError {
            logger.error("reload failed, nothing changed: \(error.message)", metadata: error.context.mapValues { "\($0)" })
        } else {
            logger.error("reload failed, nothing changed: \(error)")
        }
    }
}
