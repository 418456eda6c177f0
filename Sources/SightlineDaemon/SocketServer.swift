import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SightlineCore
import SightlineProtocol
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where the server listens: a path it binds itself, or a socket systemd already bound and
/// passed in (socket activation).
public enum ListenTarget: Sendable {
    case path(String, mode: Int, group: String?)
    case inheritedDescriptor(CInt, path: String?)
}

/// The Unix socket server: greets each connection, answers its requests line by line and,
/// once it subscribes, writes its events. Each connection runs in its own child task of a
/// discarding task group and catches its own errors, so one bad peer never touches another.
public final class SocketServer: Service, Sendable {
    let target: ListenTarget
    let handler: RequestHandler
    let bus: EventBus
    let stats: RuntimeStats
    let group: MultiThreadedEventLoopGroup
    /// Events held per connection, and how long a full queue is borne: new connections take
    /// the values in force when they open (a reload may change them).
    private let subscriberLimits: Mutex<(queue: Int, stuckAfter: Duration)>
    /// `socket.max_connections` and `socket.max_connections_per_user`.
    let connections: ConnectionLimit
    let logger: Logger
    let onReady: @Sendable () -> Void

    public init(
        target: ListenTarget, handler: RequestHandler, bus: EventBus, stats: RuntimeStats,
        eventLoopGroup: MultiThreadedEventLoopGroup, subscriberQueue: Int, stuckAfter: Duration,
        maxConnections: Int = DaemonConfiguration.defaultMaxConnections,
        maxConnectionsPerUser: Int = DaemonConfiguration.defaultMaxConnectionsPerUser,
        logger: Logger, onReady: @escaping @Sendable () -> Void = {}
    ) {
        self.connections = ConnectionLimit(.init(total: maxConnections, perUser: maxConnectionsPerUser))
        self.target = target
        self.handler = handler
        self.bus = bus
        self.stats = stats
        self.group = eventLoopGroup
        self.subscriberLimits = Mutex((subscriberQueue, stuckAfter))
        self.logger = logger.maskingCredentials()
        self.onReady = onReady
    }

    /// For connections opened from now on.
    public func update(subscriberQueue: Int, stuckAfter: Duration) {
        subscriberLimits.withLock { $0 = (subscriberQueue, stuckAfter) }
    }

    /// The most connections served at once, in all and per user; connections already open
    /// stay open.
    public func update(maxConnections: Int, perUser: Int) {
        connections.update(.init(total: maxConnections, perUser: perUser))
    }

    public func run() async throws {
        let server = try await bind()
        let hello = ServerHello(version: handler.version)
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { tasks in
                try await server.executeThenClose { inbound in
                    onReady()
                    for try await connection in inbound {
                        tasks.addTask { await self.serve(connection, hello: hello) }
                    }
                }
                // The listener is closed. On a graceful shutdown each connection writes what its
                // queue holds (the ends of its open matches) and closes itself (`serve`);
                // otherwise the remaining connections end now.
                if !Task.isShuttingDownGracefully { tasks.cancelAll() }
            }
        } onGracefulShutdown: {
            server.channel.close(promise: nil)
        }
        if case .path(let path, _, _) = target { unlink(path) }
        logger.info("socket server stopped")
    }

    /// How long a subscriber that does not read may hold up a graceful shutdown.
    static let drainTimeout: TimeAmount = .seconds(2)

    static let acceptBuffer = NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark(lowWatermark: 64, highWatermark: 1024)

    private func bind() async throws -> NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never> {
        let bootstrap = ServerBootstrap(group: group)
            // Connections that were opened and dropped before being accepted still count
            // against the backlog, so a burst needs room.
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.maxMessagesPerRead, value: 64)
        let initializer: @Sendable (Channel) -> EventLoopFuture<NIOAsyncChannel<ByteBuffer, ByteBuffer>> = { child in
            child.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: child)
            }
        }
        switch target {
        case .inheritedDescriptor(let fd, let path):
            logger.info("serving on the socket passed by the service manager", metadata: ["fd": "\(fd)", "path": "\(path ?? "?")"])
            return try await bootstrap.bind(fd, serverBackPressureStrategy: Self.acceptBuffer, childChannelInitializer: initializer)
        case .path(let path, let mode, let groupName):
            try prepare(path: path)
            // Created 0600 under a strict umask, then opened up to the configured mode, so
            // that there is no instant at which the socket is wider open than configured.
            let previous = umask(0o177)
            let channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
            do {
                channel = try await bootstrap.bind(
                    unixDomainSocketPath: path, serverBackPressureStrategy: Self.acceptBuffer, childChannelInitializer: initializer)
            } catch {
                umask(previous)
                throw SightlineError(.system, "cannot listen on \(path): \(error)", context: ["socket": path])
            }
            umask(previous)
            if let groupName {
                let gid = try Self.groupID(named: groupName)
                guard chown(path, UInt32.max, gid) == 0 else {
                    throw SightlineError.fromErrno("cannot give the socket to group \(groupName):", path: path)
                }
            }
            guard chmod(path, mode_t(mode)) == 0 else { throw SightlineError.fromErrno("cannot chmod", path: path) }
            logger.info("listening", metadata: ["socket": "\(path)", "mode": "\(String(mode, radix: 8))"])
            return channel
        }
    }

    /// Makes the socket's directory and clears a stale socket file, but refuses to take over
    /// a socket another daemon still serves.
    private func prepare(path: String) throws {
        let address = try UnixSocketAddress(path)
        let directory = (path as NSString).deletingLastPathComponent
        try StateStore.makeDirectory(directory, mode: 0o755)
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw SightlineError(.invalidArgument, "\(path) exists and is not a socket", context: ["socket": path])
        }
        if Self.someoneListens(on: address) {
            throw SightlineError(.unavailable, "another sightlined is listening on \(path)", context: ["socket": path])
        }
        unlink(path)
    }

    static func someoneListens(on address: UnixSocketAddress) -> Bool {
        guard let fd = try? address.connect() else { return false }
        close(fd)
        return true
    }

    /// `socket.group` as a gid, for the socket's owner group and the access policy alike.
    static func groupID(named name: String) throws(SightlineError) -> UInt32 {
        let found: UInt32?
        do {
            found = try lookUpGroup(named: name)
        } catch {
            throw SightlineError(error.code, "socket.group: \(error.message)", context: error.context)
        }
        guard let gid = found else { throw SightlineError(.invalidArgument, "socket.group: no group named \"\(name)\"") }
        return gid
    }

    /// One connection, start to end. Never throws: whatever goes wrong is this connection's
    /// problem alone, and is logged.
    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>, hello: ServerHello) async {
        let channel = connection.channel
        if case .failure(let reached) = connections.acquire() {
            await refuse(connection, reached)
            return
        }
        defer { connections.release() }
        let peer: PeerCredentials
        do {
            peer = try await PeerCredentials.of(channel)
        } catch {
            logger.debug("connection closed before its credentials could be read", metadata: ["error": "\(error)"])
            try? await channel.close()
            return
        }
        if case .failure(let reached) = connections.acquire(user: peer.uid) {
            await refuse(connection, reached)
            return
        }
        defer { connections.release(user: peer.uid) }
        var connectionLogger = logger
        connectionLogger[metadataKey: "peer"] = "\(peer)"
        let log = connectionLogger
        let limits = subscriberLimits.withLock { $0 }
        let queue = SubscriberQueue(capacity: limits.queue, stuckAfter: limits.stuckAfter)
        do {
            try await connection.executeThenClose { inbound, outbound in
                let context = ConnectionContext(peer: peer, queue: queue, closeConnection: { channel.close(promise: nil) },
                                                send: { try await outbound.write(ByteBuffer(bytes: $0)) })
                defer { if let id = context.subscriberID { self.bus.unsubscribe(id) } }
                try await outbound.write(ByteBuffer(bytes: JSONWriter.line(hello.json)))
                try await withGracefulShutdownHandler {
                    try await withThrowingTaskGroup(of: Void.self) { tasks in
                        // Events: written as the subscriber queue yields them, alongside replies.
                        tasks.addTask {
                            while let line = await queue.next() {
                                try await outbound.write(ByteBuffer(bytes: line.bytes))
                                if let capture = line.captureTime, let stream = line.stream {
                                    self.stats.delivered(stream, latency: Date().timeIntervalSince(capture))
                                }
                            }
                            // Closed after the last line was handed over, so that line goes out first.
                            if queue.isStuck || Task.isShuttingDownGracefully { channel.close(promise: nil) }
                        }
                        var decoder = LineDecoder()
                        do {
                        for try await buffer in inbound {
                            for output in decoder.feed(buffer.readableBytesView) {
                                let reply: Reply
                                switch output {
                                case .line(let line):
                                    if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
                                    reply = await self.handler.handle(line: line, context: context)
                                case .tooLong(let seen):
                                    reply = .failure(.null, SightlineError(
                                        .lineTooLong, "line longer than \(ProtocolLimits.maxLineBytes) bytes (\(seen) so far); discarded up to its newline"))
                                }
                                try await outbound.write(ByteBuffer(bytes: JSONWriter.line(reply.maskingCredentials.json)))
                            }
                        }
                        } catch {
                            queue.close()
                            throw error
                        }
                        let unfinished = decoder.finish()
                        if unfinished > 0 { log.debug("peer hung up in the middle of a line", metadata: ["bytes": "\(unfinished)"]) }
                        queue.close()
                        try await tasks.waitForAll()
                    }
                } onGracefulShutdown: {
                    // The daemon stops, and the engine has published its last events: the
                    // writer sends what is queued, then closes the connection.
                    queue.close()
                    channel.eventLoop.scheduleTask(in: Self.drainTimeout) { channel.close(promise: nil) }
                }
            }
        } catch {
            log.debug("connection ended with an error", metadata: ["error": "\(error)"])
        }
        queue.close()
    }

    /// One error line in place of the greeting, then the connection is closed. The refusal is
    /// logged at debug level only: a peer opening connections in a loop must not flood the log.
    private func refuse(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>, _ reached: ConnectionLimit.LimitReached) async {
        let error: SightlineError
        if let user = reached.user {
            error = SightlineError(
                .tooManyConnections,
                "uid \(user) already has \(reached.limit) connections open (socket.max_connections_per_user); close one, or share one connection between subscriptions",
                context: ["limit": String(reached.limit), "uid": String(user)])
        } else {
            error = SightlineError(
                .tooManyConnections,
                "the daemon already serves \(reached.limit) connections (socket.max_connections); try again once one closes",
                context: ["limit": String(reached.limit)])
        }
        logger.debug("connection refused: too many connections", metadata: ["limit": "\(reached.limit)", "uid": "\(reached.user.map(String.init) ?? "any")"])
        do {
            try await connection.executeThenClose { _, outbound in
                try await outbound.write(ByteBuffer(bytes: JSONWriter.line(Reply.failure(.null, error).json)))
            }
        } catch {
            try? await connection.channel.close()
        }
    }
}
