import SightlineCore

/// Lines the server sends without being asked. Each has an `event` member naming it.
public enum Event: Sendable, Equatable {
    /// The first line on every connection.
    case hello(ServerHello)
    case streamStatus(StreamStatusEvent)
    /// This subscriber's queue overflowed and `dropped` events were thrown away.
    case lagged(dropped: Int)
    /// `match.start`, `match.update` or `match.end`.
    case match(MatchEnvelope)

    public var name: String {
        switch self {
        case .hello: "hello"
        case .streamStatus: "stream.status"
        case .lagged: "lagged"
        case .match(let m): m.name
        }
    }

    public var json: JSONValue {
        switch self {
        case .hello(let hello): hello.json
        case .streamStatus(let status): status.json
        case .lagged(let dropped): ["event": "lagged", "dropped": JSONValue(dropped)]
        case .match(let match): .object(match.body)
        }
    }
}

/// `{"event":"hello","protocol":1,"server":"sightlined","version":"0.1.0"}`.
public struct ServerHello: Sendable, Equatable {
    public var protocolVersion: Int
    public var server: String
    public var version: String

    public init(protocolVersion: Int = ProtocolLimits.version, server: String = "sightlined", version: String) {
        self.protocolVersion = protocolVersion
        self.server = server
        self.version = version
    }

    public var json: JSONValue {
        ["event": "hello", "protocol": JSONValue(protocolVersion), "server": .string(server), "version": .string(version)]
    }

    public init(json: JSONValue) throws(SightlineError) {
        var r = try FieldReader(json, path: "hello", code: .invalidRequest)
        guard try r.string("event") == "hello" else { throw SightlineError(.invalidRequest, "expected the server's hello line first") }
        guard let v = try r.int("protocol") else { throw SightlineError(.invalidRequest, "hello.protocol: required") }
        protocolVersion = v
        server = try r.requiredString("server")
        version = try r.requiredString("version")
        // Later versions may add members; a client reads what it knows.
    }
}

/// A stream changed state: `{"event":"stream.status","stream":"cam1","state":"reconnecting",...}`.
public struct StreamStatusEvent: Sendable, Equatable {
    public var stream: String
    /// One of the states `Docs/protocol.md` lists (`starting`, `playing`, `reconnecting`,
    /// `stalled`, `blocked`, `ended`, `failed`, `removed`).
    public var state: String
    /// Reconnection attempt, counting from 1, while reconnecting.
    public var attempt: Int?
    public var error: String?
    public var time: WireTime

    public init(stream: String, state: String, attempt: Int? = nil, error: String? = nil, time: WireTime) {
        self.stream = stream
        self.state = state
        self.attempt = attempt
        self.error = error
        self.time = time
    }

    public var json: JSONValue {
        var o: JSONObject = ["event": "stream.status", "stream": .string(stream), "state": .string(state)]
        if let attempt { o["attempt"] = JSONValue(attempt) }
        if let error { o["error"] = .string(error) }
        o["time"] = .string(time.iso8601)
        return .object(o)
    }
}

/// A match event as the event bus carries it: the fields the bus routes on, plus the whole
/// line. The body is built once by the grounding side; the bus only strips detail a
/// subscriber did not ask for.
public struct MatchEnvelope: Sendable, Equatable {
    public static let names: Set<String> = ["match.start", "match.update", "match.end"]

    public var name: String
    public var stream: String
    public var query: String
    /// The whole event line, `event`, `stream` and `query` included.
    public var body: JSONObject

    public init(body: JSONObject) throws(SightlineError) {
        guard let name = body["event"]?.stringValue, Self.names.contains(name) else {
            throw SightlineError(.invalidArgument, "match event: event must be one of \(Self.names.sorted().joined(separator: ", "))")
        }
        guard let stream = body["stream"]?.stringValue, let query = body["query"]?.stringValue else {
            throw SightlineError(.invalidArgument, "match event: stream and query are required")
        }
        self.name = name
        self.stream = stream
        self.query = query
        self.body = body
    }

    /// The body with only the detail asked for: `box` drops masks, `none` also drops boxes and
    /// points.
    public func body(for detail: MaskDetail) -> JSONObject {
        guard detail != .rle, case .array(let frames)? = body["frames"] else { return body }
        var stripped = body
        stripped["frames"] = .array(frames.map { frame in
            guard case .object(var f) = frame else { return frame }
            f["mask"] = nil
            if detail == .none {
                f["box"] = nil
                f["point"] = nil
            }
            return .object(f)
        })
        return stripped
    }
}
