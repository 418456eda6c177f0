import SightlineProtocol

/// Which model the daemon runs, as `status` reports it and the log announces it at start.
public struct ModelSummary: Sendable, Equatable {
    public var name: String
    public var path: String?
    /// The bundled tiny test model: its matches mean nothing.
    public var isTestModel: Bool
    /// What a user should know, e.g. how to get a real model.
    public var note: String?

    public init(name: String, path: String?, isTestModel: Bool, note: String? = nil) {
        self.name = name
        self.path = path
        self.isTestModel = isTestModel
        self.note = note
    }

    public static let realModelHint = "sightline model pull openai/clip-vit-base-patch16"

    public var json: JSONValue {
        var o: JSONObject = ["name": .string(name), "test_model": .bool(isTestModel)]
        if let path { o["path"] = .string(path) }
        if let note { o["note"] = .string(note) }
        return .object(o)
    }
}
