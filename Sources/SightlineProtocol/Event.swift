import Foundation
import SightlineCore
import SightlineGrounding

/// Lines the server sends without being asked. Each has an `event` member naming it.
public enum Event: Sendable, Equatable {
    /// The first line on every connection.
    case hello(ServerHello)
    case streamStatus(StreamStatusEvent)
    /// This subscriber's queue overflowed and `dropped` events were thrown away.
    case lagged(dropped: Int)
    /// `match.start`, `match.update` or `match.end`, as grounding produced it.
    case match(MatchEvent)

    public var name: String {
        switch self {
        case .hello: "hello"
        case .streamStatus: "stream.status"
        case .lagged: "lagged"
        case .match(let m): m.kind.rawValue
        }
    }

    /// The event as one protocol line (with its `\n`), with only the detail asked for.
    public func line(detail: MaskDetail = .rle) -> [UInt8] {
        switch self {
        case .hello(let hello): JSONWriter.line(hello.json)
        case .streamStatus(let status): JSONWriter.line(status.json)
        case .lagged(let dropped): JSONWriter.line(["event": "lagged", "dropped": JSONValue(dropped)])
        case .match(let match): JSONWriter.line(match.with(detail: detail).json)
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
        guard json["event"]?.stringValue == "hello" else {
            throw SightlineError(.invalidRequest, "expected the server's hello line first")
        }
        guard let v = json["protocol"]?.intValue else { throw SightlineError(.invalidRequest, "hello.protocol: required") }
        protocolVersion = v
        // Later versions may add members; a client reads what it knows.
        server = json["server"]?.stringValue ?? "unknown"
        version = json["version"]?.stringValue ?? "unknown"
    }
}

/// A stream changed state:
/// `{"event":"stream.status","stream":"cam1","state":"reconnecting","attempt":3,"error":"...","retry_in":4.0,"time":"..."}`.
public struct StreamStatusEvent: Sendable, Equatable {
    public var status: SourceStatus

    public init(_ status: SourceStatus) {
        self.status = status
    }

    public var json: JSONValue {
        var o: JSONObject = ["event": "stream.status", "stream": .string(status.stream), "state": .string(status.state.name)]
        switch status.state {
        case .reconnecting(let attempt): o["attempt"] = JSONValue(attempt)
        case .failed(let message): o["error"] = .string(message)
        default: break
        }
        if o["error"] == nil, let error = status.error { o["error"] = .string(error) }
        if let retryIn = status.retryIn { o["retry_in"] = .double(retryIn) }
        o["time"] = .string(WireTime.format(status.time))
        return .object(o)
    }
}
