import SightlineProtocol

/// Which model the daemon runs, as `status` reports it and the log announces it at start.
public struct ModelSummary: Sendable, Equatable {
    public var name: String
    public var path: String?
    /// The bundled tiny test model: its matches mean nothing.
    public var isTestModel: Bool
    /// What a user should know, e.g. how to get a real model.
    public var note: String?
    /// The number format the engine's linear layers run at (`fp32`, `int8`, `bf16`) and why
    /// (`model.precision`, the self-check's verdict); nil for a summary made without an engine.
    public var precision: String?
    public var precisionReason: String?
    /// The matrix product library and the kernels it dispatched to, e.g. "oneDNN avx512_core_vnni".
    public var kernels: String?
    /// The CPU features those kernels were chosen from, e.g. ["AVX2", "FMA", "AVX-512", "VNNI", "BF16"].
    public var cpuFeatures: [String]

    public init(name: String, path: String?, isTestModel: Bool, note: String? = nil, precision: String? = nil,
                precisionReason: String? = nil, kernels: String? = nil, cpuFeatures: [String] = []) {
        self.name = name
        self.path = path
        self.isTestModel = isTestModel
        self.note = note
        self.precision = precision
        self.precisionReason = precisionReason
        self.kernels = kernels
        self.cpuFeatures = cpuFeatures
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
        if let precision { o["precision"] = .string(precision) }
        if let precisionReason { o["precision_reason"] = .string(precisionReason) }
        if let kernels { o["kernels"] = .string(kernels) }
        if precision != nil { o["cpu_features"] = .array(cpuFeatures.map { .string($0) }) }
        return .object(o)
    }
}
