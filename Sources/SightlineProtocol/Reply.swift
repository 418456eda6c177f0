import SightlineCore

/// The answer to one request: `{"id":7,"ok":true,"result":{...}}` or
/// `{"id":7,"ok":false,"error":{"code":"invalid_params","message":"params.text: required"}}`.
public struct Reply: Sendable, Equatable {
    public var id: JSONValue
    public var outcome: Result<JSONObject, SightlineError>

    public init(id: JSONValue, outcome: Result<JSONObject, SightlineError>) {
        self.id = id
        self.outcome = outcome
    }

    public static func success(_ id: JSONValue, _ result: JSONObject = [:]) -> Reply {
        Reply(id: id, outcome: .success(result))
    }

    public static func failure(_ id: JSONValue, _ error: SightlineError) -> Reply {
        Reply(id: id, outcome: .failure(error))
    }

    public var json: JSONValue {
        switch outcome {
        case .success(let result):
            return ["id": id, "ok": true, "result": .object(result)]
        case .failure(let error):
            var e: JSONObject = ["code": .string(error.code.rawValue), "message": .string(error.message)]
            if !error.context.isEmpty {
                e["context"] = .object(JSONObject(error.context.sorted { $0.key < $1.key }.map { (key: $0.key, value: JSONValue.string($0.value)) }))
            }
            return ["id": id, "ok": false, "error": .object(e)]
        }
    }

    public init(json: JSONValue) throws(SightlineError) {
        var r = try FieldReader(json, path: "reply", code: .invalidRequest)
        id = r.value("id") ?? .null
        guard let ok = try r.bool("ok") else { throw SightlineError(.invalidRequest, "reply.ok: required") }
        if ok {
            let result = r.value("result") ?? .object([:])
            guard let object = result.objectValue else {
                throw SightlineError(.invalidRequest, "reply.result: expected object, got \(result.typeName)")
            }
            outcome = .success(object)
        } else {
            var e = try FieldReader(r.value("error"), path: "reply.error", code: .invalidRequest)
            let code = try e.requiredString("code")
            let message = try e.requiredString("message")
            var context: [String: String] = [:]
            if let c = e.value("context")?.objectValue {
                for (key, value) in c.members { context[key] = value.stringValue ?? JSONWriter.string(value) }
            }
            try e.finish()
            outcome = .failure(SightlineError(SightlineError.Code(rawValue: code), message, context: context))
        }
        try r.finish()
    }
}

/// Any line a server sends: a reply (it has `id` and `ok`) or an event (it has `event`).
public enum ServerMessage: Sendable, Equatable {
    case reply(Reply)
    case event(name: String, body: JSONObject)

    public init(json: JSONValue) throws(SightlineError) {
        guard let object = json.objectValue else {
            throw SightlineError(.invalidRequest, "server line: expected object, got \(json.typeName)")
        }
        if let name = object["event"]?.stringValue {
            self = .event(name: name, body: object)
        } else {
            self = .reply(try Reply(json: json))
        }
    }
}
