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

    /// What `status`, `sightline status` and the start-up log say about the test model.
    public static let testModelNote = "this is the bundled tiny test model, for demos and tests only: its matches mean nothing. "
        + "Get a real one with `\(realModelHint)` and restart the daemon (it looks for that model when none is configured), "
        + "or name a checkpoint with model.repository or model.path under [model] in the configuration"

    public var json: JSONValue {
        var o: JSONObject = ["name": .string(name), "test_model": .bool(isTestModel)]
        if let path { o["path"] = .string(path) }
        if let note { o["note"] = .string(note) }
        return .object(o)
    }
}
