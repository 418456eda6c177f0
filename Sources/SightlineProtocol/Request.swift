import SightlineCore
import SightlineGrounding

/// One request line: `{"id":7,"op":"query.add","params":{...}}`.
public struct Request: Sendable, Equatable {
    /// An integer or a string chosen by the client; the reply repeats it. Absent means `null`.
    public var id: JSONValue
    public var operation: RequestOperation

    public init(id: JSONValue, operation: RequestOperation) {
        self.id = id
        self.operation = operation
    }

    /// The line the client sends.
    public var json: JSONValue {
        var object: JSONObject = ["id": id, "op": .string(operation.name)]
        let params = operation.params
        if !params.isEmpty { object["params"] = .object(params) }
        return .object(object)
    }

    /// Decodes one line. On failure the error comes with the request's id when the line got
    /// far enough to have one, so that the reply can still be matched.
    public static func decode(line: some Collection<UInt8>, parser: JSONParser = JSONParser()) -> Result<Request, RequestError> {
        let value: JSONValue
        do {
            value = try parser.parse(line)
        } catch {
            return .failure(RequestError(id: .null, error: error))
        }
        return decode(value)
    }

    public static func decode(_ value: JSONValue) -> Result<Request, RequestError> {
        guard case .object(let object) = value else {
            return .failure(RequestError(id: .null, error: SightlineError(.invalidRequest, "a request must be a JSON object, got \(value.typeName)")))
        }
        let id = object["id"] ?? .null
        switch id {
        case .null, .integer, .string: break
        default:
            return .failure(RequestError(id: .null, error: SightlineError(.invalidRequest, "id: expected integer or string, got \(id.typeName)")))
        }
        func fail(_ error: SightlineError) -> Result<Request, RequestError> { .failure(RequestError(id: id, error: error)) }
        if let unknown = object.keys.first(where: { !["id", "op", "params"].contains($0) }) {
            return fail(SightlineError(.invalidRequest, "\(unknown): unknown member (a request has id, op and params)"))
        }
        guard let opValue = object["op"] else { return fail(SightlineError(.invalidRequest, "op: required")) }
        guard let op = opValue.stringValue else {
            return fail(SightlineError(.invalidRequest, "op: expected string, got \(opValue.typeName)"))
        }
        do {
            return .success(Request(id: id, operation: try RequestOperation(name: op, params: object["params"])))
        } catch {
            return fail(error)
        }
    }
}

/// A request that could not be decoded, with the id to answer it under.
public struct RequestError: Error, Sendable, Equatable {
    public var id: JSONValue
    public var error: SightlineError

    public init(id: JSONValue, error: SightlineError) {
        self.id = id
        self.error = error
    }
}

/// Every operation of the protocol with its parameters.
public enum RequestOperation: Sendable, Equatable {
    case status
    case streamAdd(StreamSpec)
    case streamRemove(id: String)
    case streamList
    case queryAdd(QuerySpec)
    case queryRemove(id: String)
    case queryList
    case subscribe(Subscription)
    case unsubscribe
    case ground(GroundSpec)

    /// Every operation name, as `unknown_op` errors list them.
    public static let names = [
        "status", "stream.add", "stream.remove", "stream.list", "query.add", "query.remove", "query.list",
        "subscribe", "unsubscribe", "ground",
    ]

    public var name: String {
        switch self {
        case .status: "status"
        case .streamAdd: "stream.add"
        case .streamRemove: "stream.remove"
        case .streamList: "stream.list"
        case .queryAdd: "query.add"
        case .queryRemove: "query.remove"
        case .queryList: "query.list"
        case .subscribe: "subscribe"
        case .unsubscribe: "unsubscribe"
        case .ground: "ground"
        }
    }

    /// Operations only privileged peers may run: those that change what the daemon stores,
    /// and `ground`, which reads a file as the daemon's user.
    public var isMutating: Bool {
        switch self {
        case .streamAdd, .streamRemove, .queryAdd, .queryRemove, .ground: true
        case .status, .streamList, .queryList, .subscribe, .unsubscribe: false
        }
    }

    public init(name: String, params: JSONValue?) throws(SightlineError) {
        var r = try FieldReader(params, path: "params")
        switch name {
        case "status": self = .status
        case "stream.list": self = .streamList
        case "query.list": self = .queryList
        case "unsubscribe": self = .unsubscribe
        case "stream.add": self = .streamAdd(try StreamSpec(reading: &r))
        case "query.add": self = .queryAdd(try QuerySpec(reading: &r))
        case "subscribe": self = .subscribe(try Subscription(reading: &r))
        case "ground": self = .ground(try GroundSpec(reading: &r))
        case "stream.remove":
            let id = try r.requiredString("id")
            self = .streamRemove(id: id)
        case "query.remove":
            let id = try r.requiredString("id")
            self = .queryRemove(id: id)
        default:
            throw SightlineError(.unknownOperation, "unknown operation \"\(name)\" (known: \(RequestOperation.names.joined(separator: ", ")))")
        }
        try r.finish()
    }

    public var params: JSONObject {
        switch self {
        case .status, .streamList, .queryList, .unsubscribe: [:]
        case .streamAdd(let spec): spec.json
        case .queryAdd(let spec): spec.json
        case .subscribe(let subscription): subscription.json
        case .ground(let spec): spec.json
        case .streamRemove(let id), .queryRemove(let id): ["id": .string(id)]
        }
    }
}

/// `stream.add` parameters.
public struct StreamSpec: Sendable, Equatable {
    public static let fpsRange: ClosedRange<Double> = 0.01...60
    public static let defaultFPS = 2.0
    /// Frames are analysed with their short side scaled down to this (never up): masks, PAMR
    /// and connected components cost in proportion to the pixels, and the encoder sees 224
    /// pixels whatever the source.
    public static let defaultShortSide = 480
    /// 0 keeps the source's size; otherwise 64 to 4320 pixels.
    public static let shortSideRange: ClosedRange<Int> = 0...4320

    public static func validateShortSide(_ value: Int, field: String) throws(SightlineError) {
        guard value == 0 || (64...shortSideRange.upperBound).contains(value) else {
            throw SightlineError(.invalidParams, "\(field): \(value) is not 0 (the source's size) or 64...\(shortSideRange.upperBound) pixels")
        }
    }

    /// `nil` lets the daemon generate one.
    public var id: String?
    public var uri: String
    /// `nil` takes the daemon's configured default.
    public var fps: Double?
    /// For files: start again at the end instead of ending.
    public var loop: Bool
    /// The analysis size: the short side frames are scaled to; 0 keeps the source's size;
    /// `nil` takes the daemon's configured default.
    public var shortSide: Int?

    public init(id: String? = nil, uri: String, fps: Double? = nil, loop: Bool = false, shortSide: Int? = nil) {
        self.id = id
        self.uri = uri
        self.fps = fps
        self.loop = loop
        self.shortSide = shortSide
    }

    init(reading r: inout FieldReader) throws(SightlineError) {
        id = try r.string("id")
        uri = try r.requiredString("uri")
        fps = try r.double("fps", in: Self.fpsRange)
        loop = try r.bool("loop") ?? false
        shortSide = try r.int("short_side", in: Self.shortSideRange)
        if let shortSide { try Self.validateShortSide(shortSide, field: "\(r.path).short_side") }
        if let id { try Identifier.validate(id, field: "\(r.path).id") }
        guard StreamSpec.looksLikeURI(uri) else {
            throw SightlineError(.invalidParams, "\(r.path).uri: \"\(uri)\" is neither a URI nor an absolute path (e.g. rtsp://camera/stream, file:///videos/a.mp4, /videos/a.mp4)")
        }
    }

    static func looksLikeURI(_ uri: String) -> Bool {
        if uri.hasPrefix("/") { return uri.count > 1 }
        guard let colon = uri.firstIndex(of: ":"), uri[colon...].hasPrefix("://") else { return false }
        let scheme = uri[..<colon]
        return !scheme.isEmpty && scheme.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }
            && uri.count > scheme.count + 3
    }

    var json: JSONObject {
        var o: JSONObject = [:]
        if let id { o["id"] = .string(id) }
        o["uri"] = .string(uri)
        if let fps { o["fps"] = .double(fps) }
        if loop { o["loop"] = .bool(true) }
        if let shortSide { o["short_side"] = JSONValue(shortSide) }
        return o
    }
}

/// `query.add` parameters.
public struct QuerySpec: Sendable, Equatable {
    public static let defaultThreshold = 0.5
    public static let maxTextBytes = 1000

    public var text: String
    /// Empty: every stream.
    public var streams: [String]
    /// `nil` takes the daemon's configured default.
    public var threshold: Double?
    public var minDuration: Double?

    public init(text: String, streams: [String] = [], threshold: Double? = nil, minDuration: Double? = nil) {
        self.text = text
        self.streams = streams
        self.threshold = threshold
        self.minDuration = minDuration
    }

    init(reading r: inout FieldReader) throws(SightlineError) {
        text = try r.requiredString("text")
        streams = try r.strings("streams") ?? []
        threshold = try r.double("threshold", in: 0...1)
        minDuration = try r.double("min_duration", in: 0...86_400)
        let trimmed = text.trimmingWhitespace
        guard !trimmed.isEmpty else { throw SightlineError(.invalidParams, "\(r.path).text: must not be empty") }
        guard text.utf8.count <= Self.maxTextBytes else {
            throw SightlineError(.invalidParams, "\(r.path).text: longer than \(Self.maxTextBytes) bytes")
        }
        text = trimmed
        for (i, stream) in streams.enumerated() { try Identifier.validate(stream, field: "\(r.path).streams[\(i)]") }
    }

    var json: JSONObject {
        var o: JSONObject = ["text": .string(text)]
        if !streams.isEmpty { o["streams"] = JSONValue(streams) }
        if let threshold { o["threshold"] = .double(threshold) }
        if let minDuration { o["min_duration"] = .double(minDuration) }
        return o
    }
}

/// `subscribe` parameters: which events this connection receives.
public struct Subscription: Sendable, Equatable {
    /// Empty: every stream.
    public var streams: [String]
    /// Empty: every query.
    public var queries: [String]
    public var detail: MaskDetail
    /// Whether `stream.status` events are sent.
    public var status: Bool

    public init(streams: [String] = [], queries: [String] = [], detail: MaskDetail = .rle, status: Bool = true) {
        self.streams = streams
        self.queries = queries
        self.detail = detail
        self.status = status
    }

    init(reading r: inout FieldReader) throws(SightlineError) {
        streams = try r.strings("streams") ?? []
        queries = try r.strings("queries") ?? []
        let detailName = try r.string("detail") ?? MaskDetail.rle.rawValue
        guard let detail = MaskDetail(rawValue: detailName) else {
            throw SightlineError(.invalidParams, "params.detail: \"\(detailName)\" is not one of rle, box, none")
        }
        self.detail = detail
        status = try r.bool("status") ?? true
    }

    public func accepts(stream: String) -> Bool { streams.isEmpty || streams.contains(stream) }
    public func accepts(stream: String, query: String) -> Bool {
        accepts(stream: stream) && (queries.isEmpty || queries.contains(query))
    }

    var json: JSONObject {
        var o: JSONObject = [:]
        if !streams.isEmpty { o["streams"] = JSONValue(streams) }
        if !queries.isEmpty { o["queries"] = JSONValue(queries) }
        o["detail"] = .string(detail.rawValue)
        if !status { o["status"] = .bool(false) }
        return o
    }
}

extension String {
    var trimmingWhitespace: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(scalars[first...last])
    }
}

/// `ground` parameters: ground texts in a video file once, as fast as the engine goes.
public struct GroundSpec: Sendable, Equatable {
    public static let maxTexts = 16

    /// An absolute path, or a `file://` URI.
    public var path: String
    public var texts: [String]
    /// Frames per second read from the file; `nil` takes 4.
    public var fps: Double?
    public var threshold: Double?
    public var detail: MaskDetail
    /// The `stream` member of the events this request produces.
    public var stream: String
    /// The analysis size, as for `stream.add`; `nil` takes the daemon's default.
    public var shortSide: Int?

    public init(path: String, texts: [String], fps: Double? = nil, threshold: Double? = nil, detail: MaskDetail = .rle,
                stream: String = "ground", shortSide: Int? = nil) {
        self.path = path
        self.texts = texts
        self.fps = fps
        self.threshold = threshold
        self.detail = detail
        self.stream = stream
        self.shortSide = shortSide
    }

    init(reading r: inout FieldReader) throws(SightlineError) {
        var path = try r.requiredString("path")
        if path.hasPrefix("file://") { path = String(path.dropFirst("file://".count)).removingPercentEncodingIfPossible }
        guard path.hasPrefix("/") else {
            throw SightlineError(.invalidParams, "params.path: \"\(path)\" is not an absolute path (the daemon's working directory is not yours)")
        }
        self.path = path
        guard let texts = try r.strings("texts"), !texts.isEmpty else { throw SightlineError(.invalidParams, "params.texts: required, at least one text") }
        guard texts.count <= Self.maxTexts else { throw SightlineError(.invalidParams, "params.texts: at most \(Self.maxTexts) texts") }
        self.texts = try texts.enumerated().map { (i, t) throws(SightlineError) -> String in
            let trimmed = t.trimmingWhitespace
            guard !trimmed.isEmpty, t.utf8.count <= QuerySpec.maxTextBytes else {
                throw SightlineError(.invalidParams, "params.texts[\(i)]: must be 1 to \(QuerySpec.maxTextBytes) bytes of text")
            }
            return trimmed
        }
        fps = try r.double("fps", in: StreamSpec.fpsRange)
        threshold = try r.double("threshold", in: 0...1)
        let detailName = try r.string("detail") ?? MaskDetail.rle.rawValue
        guard let detail = MaskDetail(rawValue: detailName) else {
            throw SightlineError(.invalidParams, "params.detail: \"\(detailName)\" is not one of rle, box, none")
        }
        self.detail = detail
        stream = try r.string("stream") ?? "ground"
        try Identifier.validate(stream, field: "params.stream")
        shortSide = try r.int("short_side", in: StreamSpec.shortSideRange)
        if let shortSide { try StreamSpec.validateShortSide(shortSide, field: "params.short_side") }
    }

    var json: JSONObject {
        var o: JSONObject = ["path": .string(path), "texts": JSONValue(texts)]
        if let fps { o["fps"] = .double(fps) }
        if let threshold { o["threshold"] = .double(threshold) }
        o["detail"] = .string(detail.rawValue)
        if stream != "ground" { o["stream"] = .string(stream) }
        if let shortSide { o["short_side"] = JSONValue(shortSide) }
        return o
    }
}

extension String {
    /// Decodes `%XX` escapes; leaves the text as it is when they are malformed.
    var removingPercentEncodingIfPossible: String {
        var bytes: [UInt8] = []
        let u = Array(utf8)
        var k = 0
        while k < u.count {
            if u[k] == UInt8(ascii: "%"), k + 2 < u.count, let v = UInt8(String(decoding: u[(k + 1)...(k + 2)], as: UTF8.self), radix: 16) {
                bytes.append(v)
                k += 3
            } else {
                bytes.append(u[k])
                k += 1
            }
        }
        return String(validating: bytes, as: UTF8.self) ?? self
    }
}
