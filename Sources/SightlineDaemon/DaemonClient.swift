import Foundation
import NIOCore
import NIOPosix
import SightlineCore
import SightlineProtocol

/// A connection to `sightlined`, for the command-line client, tests and benchmarks.
/// Requests go one at a time; after `subscribe`, `nextEvent()` reads the event lines.
public final class DaemonClient {
    public let socketPath: String
    public private(set) var hello: ServerHello
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var decoder = LineDecoder()
    private var pendingLines: [[UInt8]] = []
    private var pendingEvents: [JSONObject] = []
    private var nextID: Int64 = 1

    /// Connects, runs `body`, and closes the connection whatever happens.
    public static func withConnection<T>(
        socketPath: String, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        _ body: (DaemonClient) async throws -> T
    ) async throws -> T {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: eventLoopGroup).connect(unixDomainSocketPath: socketPath) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        } catch {
            throw Self.describeConnectFailure(error, path: socketPath)
        }
        return try await channel.executeThenClose { inbound, outbound in
            let client = DaemonClient(socketPath: socketPath, inbound: inbound.makeAsyncIterator(), outbound: outbound)
            try await client.readHello()
            return try await body(client)
        }
    }

    private init(socketPath: String, inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        self.socketPath = socketPath
        self.inbound = inbound
        self.outbound = outbound
        self.hello = ServerHello(protocolVersion: 0, version: "")
    }

    static func describeConnectFailure(_ error: any Error, path: String) -> SightlineError {
        let text = "\(error)"
        if text.contains("No such file") || text.contains("ENOENT") || text.contains("Connection refused") || text.contains("ECONNREFUSED") {
            return SightlineError(.unavailable, "no sightlined is listening on \(path) (start it with `sightlined`, or pass --socket PATH)",
                                  context: ["socket": path])
        }
        if text.contains("Permission denied") || text.contains("EACCES") {
            return SightlineError(.forbidden, "permission denied on \(path): this user may not connect to the daemon (the socket's group may)",
                                  context: ["socket": path])
        }
        return SightlineError(.unavailable, "cannot connect to \(path): \(text)", context: ["socket": path])
    }

    private func readHello() async throws {
        guard let line = try await nextLine() else {
            throw SightlineError(.unavailable, "the daemon closed the connection before greeting", context: ["socket": socketPath])
        }
        let json = try JSONParser().parse(line)
        // A daemon that refuses the connection (too many open) sends an error reply instead.
        if json.objectValue?["ok"] != nil, case .failure(let error) = try Reply(json: json).outcome {
            throw error
        }
        hello = try ServerHello(json: json)
        guard hello.protocolVersion == ProtocolLimits.version else {
            throw SightlineError(.unavailable, "the daemon speaks protocol \(hello.protocolVersion); this client speaks \(ProtocolLimits.version)")
        }
    }

    /// Sends raw bytes as they are (tests use it to send broken input).
    public func send(raw bytes: [UInt8]) async throws {
        try await outbound.write(ByteBuffer(bytes: bytes))
    }

    /// Sends one request and returns its result, or throws the daemon's error.
    public func request(_ operation: RequestOperation) async throws -> JSONObject {
        let id = nextID
        nextID += 1
        try await send(raw: JSONWriter.line(Request(id: .integer(id), operation: operation).json))
        let reply = try await nextReply()
        guard reply.id == .integer(id) else {
            throw SightlineError(.internalError, "the daemon answered request \(JSONWriter.string(reply.id)) instead of \(id)")
        }
        return try reply.outcome.get()
    }

    /// The next reply, keeping events that arrive before it for `nextEvent()`.
    public func nextReply() async throws -> Reply {
        while true {
            guard let line = try await nextLine() else {
                throw SightlineError(.unavailable, "the daemon closed the connection", context: ["socket": socketPath])
            }
            switch try ServerMessage(json: try JSONParser().parse(line)) {
            case .reply(let reply): return reply
            case .event(_, let body): pendingEvents.append(body)
            }
        }
    }

    /// The next event line; `nil` when the daemon closes the connection.
    public func nextEvent() async throws -> JSONObject? {
        if !pendingEvents.isEmpty { return pendingEvents.removeFirst() }
        while let line = try await nextLine() {
            switch try ServerMessage(json: try JSONParser().parse(line)) {
            case .event(_, let body): return body
            case .reply: continue
            }
        }
        return nil
    }

    /// The next raw line from the daemon; `nil` at the end of the connection.
    public func nextLine() async throws -> [UInt8]? {
        while pendingLines.isEmpty {
            guard let buffer = try await inbound.next() else { return nil }
            for output in decoder.feed(buffer.readableBytesView) {
                if case .line(let line) = output { pendingLines.append(line) }
            }
        }
        return pendingLines.removeFirst()
    }
}
