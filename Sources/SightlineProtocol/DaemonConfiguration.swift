import SightlineCore

/// Everything `sightlined` can be configured with. Built in layers, each overriding the one
/// before: embedded defaults, the configuration file, environment variables, command-line
/// flags. `Docs/configuration.md` describes every field; `Config/sightlined.toml` is the
/// documented file.
public struct DaemonConfiguration: Sendable, Equatable {
    /// Who may use read-only operations (`status`, the lists, `subscribe`).
    public enum ReadAccess: String, Sendable, CaseIterable {
        /// The same peers as mutating operations: root, the daemon's user, the socket's group.
        case group
        /// Every local user; the socket is then created world-writable (0666) so that they can
        /// connect, and mutating operations stay limited by `SO_PEERCRED`.
        case anyone
    }

    // [socket]
    public var socketPath: String
    public var socketMode: Int = 0o660
    /// Group given to the socket; `nil` keeps the daemon's primary group.
    public var socketGroup: String?
    public var readAccess: ReadAccess = .group
    /// Most connections served at once; one more is sent `too_many_connections` and closed.
    public var maxConnections: Int = Self.defaultMaxConnections
    public static let defaultMaxConnections = 256
    /// Most connections one peer user holds at once, so that one user's runaway client leaves
    /// room for the others.
    public var maxConnectionsPerUser: Int = Self.defaultMaxConnectionsPerUser
    public static let defaultMaxConnectionsPerUser = 64

    // [state]
    public var stateDirectory: String

    // [model]
    /// A checkpoint directory (config.json, model.safetensors, tokenizer files).
    public var modelPath: String?
    /// A repository id resolved in the model store, e.g. `openai/clip-vit-base-patch16`.
    public var modelRepository: String?
    /// Threads the engine's matrix products use.
    public var engineThreads: Int = 2
    /// The number format of the engine's linear layers: `auto` (the fastest that agrees with
    /// fp32 on the bundled self-check), `fp32`, `int8` or `bf16`. Text, because the engine's
    /// own type lives in a target this one does not import; `precisions` lists what it takes.
    public var modelPrecision: String = "auto"

    // [scheduler]
    /// Most frames given to one encoder call.
    public var maxBatch: Int = 8
    /// Frames held per stream while the engine is busy; older ones are dropped first.
    public var framesPerStream: Int = 4
    /// Seconds from capture to event the scheduler keeps to under load; 0: no bound.
    public var maxLatency: Double = 1.5

    // [matches]
    /// Seconds between two `match.update` events of a match that holds; 0: after every batch.
    public var updateInterval: Double = 1

    // [motion]
    /// Frames in which the change detector saw nothing change carry the last encoded result.
    public var motionCarry = true
    /// Seconds after which a stream is encoded again even if nothing changed.
    public var motionRefresh: Double = 10

    // [streams] and [queries]: defaults for parameters a request leaves out, and limits.
    public var defaultFPS: Double = StreamSpec.defaultFPS
    /// Analysis size of a stream added without `short_side`; 0 keeps the source's size.
    public var defaultShortSide: Int = StreamSpec.defaultShortSide
    public var maxStreams: Int = 64
    public var defaultThreshold: Double = QuerySpec.defaultThreshold
    public var defaultMinDuration: Double = 0.3
    public var maxQueries: Int = 256

    // [subscribers]
    /// Events held per subscriber before it is sent `lagged`.
    public var subscriberQueue: Int = 1024
    /// Seconds a subscriber may keep its queue full before it is disconnected.
    public var subscriberStuckSeconds: Double = 10

    // [metrics]
    /// `host:port` to serve Prometheus metrics on; `nil` (the default) serves none.
    public var metricsAddress: String?

    // [log]
    public var logLevel: String = "info"

    // [stream.<id>] and [query.<id>]
    /// Streams and standing queries defined in the file; the daemon reconciles its own with
    /// them at start and on reload, leaving those added over the socket alone.
    public var definedStreams: [DefinedStream] = []
    public var definedQueries: [DefinedQuery] = []

    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
    /// What `model.precision` takes (the engine's `PrecisionSetting`; a daemon test checks that
    /// the two lists agree).
    public static let precisions = ["auto", "fp32", "int8", "bf16"]
    public static let precisionChoices = "auto, fp32, int8 or bf16"

    /// Why `value` is no precision, naming where it came from (`field`) and the key it sets.
    public static func precisionError(_ value: String, field: String) -> String {
        let key = field == "model.precision" ? "" : " (model.precision)"
        return "\(field)\(key) must be \(precisionChoices), not \"\(value)\""
    }

    /// The embedded defaults for where the daemon runs.
    public init(defaultsFor environment: RunEnvironment) {
        let paths = environment.defaultPaths
        socketPath = paths.socket
        stateDirectory = paths.state
    }

    /// The keys the file may hold.
    public static let fileKeys: Set<String> = [
        "socket.path", "socket.mode", "socket.group", "socket.read_access", "socket.max_connections", "socket.max_connections_per_user",
        "state.directory",
        "model.path", "model.repository", "model.threads", "model.precision",
        "scheduler.max_batch", "scheduler.frames_per_stream", "scheduler.max_latency",
        "matches.update_interval",
        "motion.carry", "motion.refresh",
        "streams.default_fps", "streams.default_short_side", "streams.max",
        "queries.default_threshold", "queries.default_min_duration", "queries.max",
        "subscribers.queue", "subscribers.stuck_after",
        "metrics.address",
        "log.level",
    ]

    public mutating func apply(_ file: ConfigFile) throws(SightlineError) {
        try file.rejectUnknown(Self.fileKeys) { Self.isDefinitionKey($0) }
        (definedStreams, definedQueries) = try Self.definitions(in: file)
        if let v = try file.string("socket.path") { socketPath = v }
        if let v = try file.int("socket.mode", in: 0...0o777) { socketMode = v }
        if let v = try file.string("socket.group") { socketGroup = v.isEmpty ? nil : v }
        if let v = try file.string("socket.read_access") {
            guard let access = ReadAccess(rawValue: v) else {
                throw ConfigFile.error(file.name, file.entry("socket.read_access")!.line, "socket.read_access must be \"group\" or \"anyone\"")
            }
            readAccess = access
        }
        if let v = try file.int("socket.max_connections", in: 1...65_536) { maxConnections = v }
        if let v = try file.int("socket.max_connections_per_user", in: 1...65_536) { maxConnectionsPerUser = v }
        if let v = try file.string("state.directory") { stateDirectory = v }
        if let v = try file.string("model.path") { modelPath = v.isEmpty ? nil : v }
        if let v = try file.string("model.repository") { modelRepository = v.isEmpty ? nil : v }
        if let v = try file.int("model.threads", in: 1...256) { engineThreads = v }
        if let v = try file.string("model.precision") {
            guard Self.precisions.contains(v) else {
                throw ConfigFile.error(file.name, file.entry("model.precision")!.line, Self.precisionError(v, field: "model.precision"))
            }
            modelPrecision = v
        }
        if let v = try file.int("scheduler.max_batch", in: 1...64) { maxBatch = v }
        if let v = try file.int("scheduler.frames_per_stream", in: 1...1000) { framesPerStream = v }
        if let v = try file.double("scheduler.max_latency", in: 0...3600) { maxLatency = v }
        if let v = try file.double("matches.update_interval", in: 0...3600) { updateInterval = v }
        if let v = try file.bool("motion.carry") { motionCarry = v }
        if let v = try file.double("motion.refresh", in: 0.5...3600) { motionRefresh = v }
        if let v = try file.double("streams.default_fps", in: StreamSpec.fpsRange) { defaultFPS = v }
        if let v = try file.int("streams.default_short_side", in: StreamSpec.shortSideRange) {
            do {
                try StreamSpec.validateShortSide(v, field: "streams.default_short_side")
            } catch {
                throw ConfigFile.error(file.name, file.entry("streams.default_short_side")!.line, error.message)
            }
            defaultShortSide = v
        }
        if let v = try file.int("streams.max", in: 1...10_000) { maxStreams = v }
        if let v = try file.double("queries.default_threshold", in: 0...1) { defaultThreshold = v }
        if let v = try file.double("queries.default_min_duration", in: 0...86_400) { defaultMinDuration = v }
        if let v = try file.int("queries.max", in: 1...100_000) { maxQueries = v }
        if let v = try file.int("subscribers.queue", in: 1...1_000_000) { subscriberQueue = v }
        if let v = try file.double("subscribers.stuck_after", in: 0.1...3600) { subscriberStuckSeconds = v }
        if let v = try file.string("metrics.address") {
            if !v.isEmpty {
                do {
                    _ = try Self.parseAddress(v, field: "metrics.address")
                } catch {
                    throw ConfigFile.error(file.name, file.entry("metrics.address")!.line, error.message)
                }
            }
            metricsAddress = v.isEmpty ? nil : v
        }
        if let v = try file.string("log.level") {
            guard Self.logLevels.contains(v) else {
                throw ConfigFile.error(file.name, file.entry("log.level")!.line, "log.level must be one of \(Self.logLevels.joined(separator: ", "))")
            }
            logLevel = v
        }
    }

    /// The environment variables the daemon reads, each overriding its file key.
    public static let environmentKeys = [
        "SIGHTLINE_SOCKET": "socket.path",
        "SIGHTLINE_STATE_DIRECTORY": "state.directory",
        "SIGHTLINE_MODEL": "model.path",
        "SIGHTLINE_LOG_LEVEL": "log.level",
        "SIGHTLINE_METRICS_ADDRESS": "metrics.address",
        "SIGHTLINE_MAX_LATENCY": "scheduler.max_latency",
        "SIGHTLINE_PRECISION": "model.precision",
    ]

    public mutating func apply(environment: [String: String]) throws(SightlineError) {
        if let v = environment["SIGHTLINE_SOCKET"], !v.isEmpty { socketPath = v }
        if let v = environment["SIGHTLINE_STATE_DIRECTORY"], !v.isEmpty { stateDirectory = v }
        if let v = environment["SIGHTLINE_MODEL"], !v.isEmpty { modelPath = v }
        if let v = environment["SIGHTLINE_LOG_LEVEL"], !v.isEmpty {
            guard Self.logLevels.contains(v) else {
                throw SightlineError(.invalidArgument, "SIGHTLINE_LOG_LEVEL must be one of \(Self.logLevels.joined(separator: ", ")), not \"\(v)\"")
            }
            logLevel = v
        }
        if let v = environment["SIGHTLINE_MAX_LATENCY"], !v.isEmpty {
            guard let seconds = Double(v), (0...3600).contains(seconds) else {
                throw SightlineError(.invalidArgument, "SIGHTLINE_MAX_LATENCY must be seconds from 0 to 3600 (0: no bound), not \"\(v)\"")
            }
            maxLatency = seconds
        }
        if let v = environment["SIGHTLINE_PRECISION"], !v.isEmpty {
            guard Self.precisions.contains(v) else {
                throw SightlineError(.invalidArgument, Self.precisionError(v, field: "SIGHTLINE_PRECISION"))
            }
            modelPrecision = v
        }
        if let v = environment["SIGHTLINE_METRICS_ADDRESS"], !v.isEmpty {
            _ = try Self.parseAddress(v, field: "SIGHTLINE_METRICS_ADDRESS")
            metricsAddress = v
        }
    }

    /// Splits `host:port` (or `[v6]:port`).
    public static func parseAddress(_ text: String, field: String) throws(SightlineError) -> (host: String, port: Int) {
        let fail = SightlineError(.invalidArgument, "\(field): \"\(text)\" is not host:port (e.g. 127.0.0.1:9464)")
        guard let colon = text.lastIndex(of: ":") else { throw fail }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { throw fail }
        return (host, port)
    }
}

/// What decides the embedded defaults: who runs the daemon and what systemd or the session
/// provides. Passed in (instead of read here) so that the rules are tested without changing
/// the test process's environment.
public struct RunEnvironment: Sendable {
    public var variables: [String: String]
    public var uid: UInt32
    public var home: String?

    public init(variables: [String: String], uid: UInt32, home: String?) {
        self.variables = variables
        self.uid = uid
        self.home = home
    }

    /// A service is what systemd starts with `RuntimeDirectory=`/`StateDirectory=`, or
    /// anything run as root.
    public var isService: Bool {
        uid == 0 || variables["RUNTIME_DIRECTORY"] != nil || variables["STATE_DIRECTORY"] != nil
    }

    public var defaultPaths: (socket: String, state: String) {
        func first(_ list: String?) -> String? {
            // systemd passes colon-separated lists when a unit names several directories.
            list?.split(separator: ":").first.map(String.init)
        }
        if isService {
            let runtime = first(variables["RUNTIME_DIRECTORY"]) ?? "/run/sightline"
            let state = first(variables["STATE_DIRECTORY"]) ?? "/var/lib/sightline"
            return ("\(runtime)/sightline.sock", state)
        }
        let runtime = variables["XDG_RUNTIME_DIR"].flatMap { $0.isEmpty ? nil : $0 }.map { "\($0)/sightline" }
            ?? "/tmp/sightline-\(uid)"
        let home = variables["HOME"] ?? home ?? "/tmp"
        let stateHome = variables["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(home)/.local/state"
        return ("\(runtime)/sightline.sock", "\(stateHome)/sightline")
    }

    /// Where the client looks when given no `--socket`: the user's daemon first, then the
    /// system's.
    public var clientSocketCandidates: [String] {
        if let explicit = variables["SIGHTLINE_SOCKET"], !explicit.isEmpty { return [explicit] }
        let own = defaultPaths.socket
        let system = "/run/sightline/sightline.sock"
        return own == system ? [own] : [own, system]
    }
}
