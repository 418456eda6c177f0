import Foundation
import SightlineCore
import SightlineProtocol

/// A connection to `sightlined`, for the command-line client, tests, benchmarks and any other
/// Swift program: this target links only the protocol, never the daemon's engine, media or
/// metrics libraries. Requests go one at a time; after `subscribe`, `nextEvent()` reads the
/// event lines.
public final class DaemonClient {
    public let socketPath: String
    public private(set) var hello: ServerHello
    private let connection: UnixConnection
    private var decoder = LineDecoder()
    private var pendingLines: [[UInt8]] = []
    private var pendingEvents: [JSONObject] = []
    private var nextID: Int64 = 1

    /// Connects, reads the daemon's greeting, runs `body`, and closes the connection whatever
    /// happens. Cancelling the task ends a read or write that is waiting.
    public static func withConnection<T>(socketPath: String, _ body: (DaemonClient) async throws -> T) async throws -> T {
        let connection = try await UnixConnection.connect(path: socketPath)
        // Shut down rather than closed here: the descriptor is closed when the last reference
        // goes, so that a client kept past this call fails cleanly instead of using a reused number.
        defer { connection.shutdown() }
        let client = DaemonClient(connection: connection)
        try await client.readHello()
        return try await body(client)
    }

    private init(connection: UnixConnection) {
        self.socketPath = connection.path
        self.connection = connection
        self.hello = ServerHello(protocolVersion: 0, version: "")
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
        try await connection.write(bytes)
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
            guard let chunk = try await connection.read() else { return nil }
            for output in decoder.feed(chunk) {
                if case .line(let line) = output { pendingLines.append(line) }
            }
        }
        return pendingLines.removeFirst()
    }
}
