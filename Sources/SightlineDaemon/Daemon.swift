import Foundation
import Logging
import NIOPosix
import ServiceLifecycle
import UnixSignals
import SightlineCore
import SightlineProtocol

#if canImport(Glibc)
import Glibc
#endif

/// Points where the service manager plugs in (systemd's `sd_notify`, socket activation,
/// reload). The daemon calls them; it does not know who listens.
public struct DaemonHooks: Sendable {
    /// Once the socket serves (`READY=1`).
    public var ready: @Sendable () -> Void = {}
    /// From the scheduler's loop, at least every `watchdogInterval` while it is healthy (`WATCHDOG=1`).
    public var watchdog: @Sendable () -> Void = {}
    public var watchdogInterval: Duration = .seconds(5)
    /// When shutdown begins (`STOPPING=1`).
    public var stopping: @Sendable () -> Void = {}
    /// A one-line summary whenever streams or queries change (`STATUS=`).
    public var status: @Sendable (String) -> Void = { _ in }
    /// A listening socket passed in by socket activation, used instead of binding the path.
    public var listenDescriptor: CInt?
    /// When a reload (SIGHUP) begins (`RELOADING=1`); `ready` follows once it is done.
    public var reloading: @Sendable () -> Void = {}
    /// A reload changed `log.level` to this (one of `DaemonConfiguration.logLevels`).
    public var logLevel: @Sendable (String) -> Void = { _ in }

    public init() {}
}

/// `sightlined` as a library: builds every part from a configuration and runs them as one
/// `ServiceGroup` that shuts down gracefully on SIGTERM and SIGINT.
public struct Daemon: Sendable {
    public static let version = "0.1.0"

    public let configuration: DaemonConfiguration
    public let model: ModelSummary
    public var hooks: DaemonHooks
    /// Builds the engine and grounding for the scheduler (on the engine's model, loaded once).
    let makeGrounder: @Sendable () throws -> any BatchGrounder
    let fileGrounding: FileGrounding
    /// Reads the configuration again, for a reload; `nil`: SIGHUP changes nothing.
    let loadConfiguration: (@Sendable () throws -> DaemonConfiguration)?
    let logger: Logger

    public init(
        configuration: DaemonConfiguration, model: ModelSummary, hooks: DaemonHooks = DaemonHooks(),
        makeGrounder: @escaping @Sendable () throws -> any BatchGrounder,
        fileGrounding: FileGrounding, loadConfiguration: (@Sendable () throws -> DaemonConfiguration)? = nil, logger: Logger
    ) {
        self.loadConfiguration = loadConfiguration
        self.fileGrounding = fileGrounding
        self.configuration = configuration
        self.model = model
        self.hooks = hooks
        self.makeGrounder = makeGrounder
        // Everything the daemon and the parts it starts log goes through this logger.
        self.logger = logger.maskingCredentials()
    }

    public func run() async throws {
        let config = configuration
        let logger = logger
        // Taking the lock and reading state.json is file I/O: not on the cooperative pool.
        let registry = try await WorkerThread.shared.run {
            try Registry(store: try StateStore(directory: config.stateDirectory), configuration: config, logger: logger)
        }
        // What the configuration file defines is in force before anything starts; the file's
        // errors (an id a client took over the socket...) stop the daemon, as at any start.
        let startup = try await registry.reconcile(streams: config.definedStreams, queries: config.definedQueries,
                                                   settings: RegistrySettings(config))
        logger.info("state loaded", metadata: [
            "directory": "\(config.stateDirectory)", "streams": "\(registry.streams.count)", "queries": "\(registry.queries.count)",
            "configuration": "\(startup.summary)",
        ])
        let bus = EventBus(logger: logger)
        let metrics = config.metricsAddress == nil ? nil : DaemonMetrics()
        let stats = RuntimeStats(metrics: metrics)
        if let metrics {
            metrics.track(queries: registry.queries.map(\.id))
            registry.observe { metrics.registryChanged($0) }
        }
        let socketGID: UInt32
        if let name = config.socketGroup {
            socketGID = try SocketServer.groupID(named: name)
        } else {
            socketGID = getegid()
        }
        let policy = AccessPolicy(daemonUID: geteuid(), socketGID: socketGID, readAccess: config.readAccess)
        let handler = RequestHandler(registry: registry, bus: bus, stats: stats, policy: policy, model: model,
                                     version: Self.version, fileGrounding: fileGrounding, logger: logger)
        let target: ListenTarget = hooks.listenDescriptor.map { .inheritedDescriptor($0, path: config.socketPath) }
            ?? .path(config.socketPath, mode: config.readAccess == .anyone ? 0o666 : config.socketMode, group: config.socketGroup)
        let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let hooks = self.hooks
        let summary: @Sendable () -> String = {
            "\(registry.streams.count) streams, \(registry.queries.count) queries, \(bus.subscriberCount) subscribers"
        }
        registry.observe { _ in hooks.status(summary()) }
        let (serving, servingStarted) = AsyncStream<Never>.makeStream()
        let server = SocketServer(
            target: target, handler: handler, bus: bus, stats: stats, eventLoopGroup: eventLoops,
            subscriberQueue: config.subscriberQueue, stuckAfter: .milliseconds(Int(config.subscriberStuckSeconds * 1000)),
            maxConnections: config.maxConnections, maxConnectionsPerUser: config.maxConnectionsPerUser,
            logger: logger, onReady: {
                hooks.ready()
                hooks.status(summary())
                servingStarted.finish()
            })
        let frameQueue = FrameQueue(framesPerStream: config.framesPerStream, onDrop: { stats.dropped($0) }, onStale: { stats.stale($0) })
        let scheduler = Scheduler(queue: frameQueue, grounder: try makeGrounder(), bus: bus, stats: stats, queries: registry.queries,
                                  maxBatch: config.maxBatch, maxLatency: config.maxLatency, watchdog: hooks.watchdog, watchdogInterval: hooks.watchdogInterval, logger: logger)
        registry.observe { change in
            if case .queriesChanged(let queries) = change { scheduler.update(queries: queries) }
        }
        let ingest = Ingest(
            registry: registry, bus: bus, stats: stats, logger: logger,
            sink: { frame in frameQueue.offer(frame) },
            onRemoved: { id, reason, then in scheduler.forget(stream: id, reason: reason, then: then) },
            onEnded: { id, reason, then in scheduler.finish(stream: id, reason: reason, then: then) })
        scheduler.start()
        do {
            try await serve(server: server, ingest: ingest, scheduler: scheduler, registry: registry, bus: bus, stats: stats,
                            metrics: metrics, eventLoops: eventLoops, serving: serving, summary: summary)
        } catch {
            await scheduler.stop()
            throw error
        }
        // Stopped already by the group's shutdown (EngineShutdown); this covers the other ways out.
        await scheduler.stop()
        logger.info("sightlined stopped")
    }

    private func serve(server: SocketServer, ingest: Ingest, scheduler: Scheduler, registry: Registry, bus: EventBus, stats: RuntimeStats,
                       metrics: DaemonMetrics?, eventLoops: MultiThreadedEventLoopGroup, serving: AsyncStream<Never>,
                       summary: @escaping @Sendable () -> String) async throws {
        let config = configuration
        let hooks = self.hooks
        // The group shuts down in reverse order, each part once the one after it has
        // returned: the engine ends the open matches (at once, not after the sources, which
        // may take a while to stop), ingest stops the sources, and the server writes those
        // ends to the subscribers before it closes their connections.
        var services: [any Service] = [server, ingest, EngineShutdown(scheduler: scheduler)]
        let reload = loadConfiguration.map {
            ConfigurationReload(running: config, load: $0, registry: registry, scheduler: scheduler, server: server, hooks: hooks,
                                summary: summary, logger: logger)
        }
        services.append(SignalService(serving: serving, logger: logger) {
            if let reload {
                await reload.reload()
            } else {
                hooks.reloading()
                hooks.ready()
            }
        })
        if let address = config.metricsAddress, let metrics {
            services.append(try MetricsServer(address: address, group: eventLoops, logger: logger) {
                metrics.exposition(stats: stats, subscribers: bus.subscriberCount)
            })
        }
        // Last in the list, so the group's shutdown (in reverse order) reaches it first.
        services.append(ShutdownNotice(stopping: hooks.stopping))
        let group = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        do {
            try await group.run()
        } catch {
            try? await eventLoops.shutdownGracefully()
            throw error
        }
        try await eventLoops.shutdownGracefully()
    }
}

/// Listens for SIGHUP and reloads, one reload at a time, once the socket serves (so that the
/// reload's `READY=1` never comes before the first one). A SIGHUP received while the daemon
/// started (`EarlyHangup`) is reloaded then.
struct SignalService: Service {
    /// Ends when the socket server accepts connections.
    let serving: AsyncStream<Never>
    let logger: Logger
    let reload: @Sendable () async -> Void

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in serving.cancelOnGracefulShutdown() {}
        if Task.isCancelled || Task.isShuttingDownGracefully { return }
        if EarlyHangup.take() {
            logger.info("SIGHUP came while the daemon started: reloading the configuration now")
            await reload()
        }
        for await _ in signals.cancelOnGracefulShutdown() {
            logger.info("SIGHUP: reloading the configuration")
            await reload()
        }
    }
}

/// Calls the stopping hook (`STOPPING=1`) as soon as the group's graceful shutdown begins
/// (SIGTERM, SIGINT): the signal reaches the group, not the task that runs it.
struct ShutdownNotice: Service {
    let stopping: @Sendable () -> Void

    func run() async throws {
        do {
            try await gracefulShutdown()
            stopping()
        } catch {
            // Cancelled without a graceful shutdown: nothing to announce.
        }
    }
}
