import SightlineCore

/// A stream defined in the configuration file as a `[stream.<id>]` table:
///
/// ```toml
/// [stream.cam1]
/// uri = "rtsp://camera/stream"
/// fps = 2.0          # optional, like every key but uri
/// loop = false
/// short_side = 480
/// ```
///
/// The daemon reconciles the streams it runs with these at start and on every reload
/// (SIGHUP); streams added over the socket are not touched by that.
public struct DefinedStream: Sendable, Equatable {
    /// `spec.id` is the table's name.
    public var spec: StreamSpec
    public var file: String
    /// The table header's line.
    public var line: Int

    public var id: String { spec.id ?? "" }
}

/// A standing query defined in the configuration file as a `[query.<id>]` table; its id is
/// the table's name:
///
/// ```toml
/// [query.bikes]
/// text = "a person riding a bike"
/// streams = ["cam1"]   # optional: every stream
/// threshold = 0.5      # optional
/// min_duration = 0.0   # optional
/// ```
public struct DefinedQuery: Sendable, Equatable {
    public var id: String
    public var spec: QuerySpec
    public var file: String
    public var line: Int
}

extension DaemonConfiguration {
    static let streamTable = "stream"
    static let queryTable = "query"

    /// Whether `key` lies in a `[stream.<id>]` or `[query.<id>]` table.
    static func isDefinitionKey(_ key: String) -> Bool {
        key.hasPrefix(streamTable + ".") || key.hasPrefix(queryTable + ".")
    }

    /// Reads the `[stream.<id>]` and `[query.<id>]` tables, in the order of the file. Each is
    /// checked as the request that adds it over the socket would be (the same parameter
    /// names, ranges and messages); an error names the file and the line.
    static func definitions(in file: ConfigFile) throws(SightlineError) -> (streams: [DefinedStream], queries: [DefinedQuery]) {
        // Group the keys of each definition table.
        var groups: [String: [(field: String, key: String, entry: ConfigFile.Entry)]] = [:]
        for (key, entry) in file.entries where isDefinitionKey(key) {
            let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3 else {
                throw ConfigFile.error(file.name, entry.line, parts.count == 2
                    ? "\(key) belongs in a table of its own, e.g. [\(parts[0]).cam1] for a \(parts[0]) with id cam1"
                    : "\(key): a \(parts[0]) id uses letters, digits, _ and - only (no dots) in the configuration file")
            }
            groups["\(parts[0]).\(parts[1])", default: []].append((parts[2], key, entry))
        }
        // A header with no keys is a definition too (and an error for lack of them).
        for (table, _) in file.tables where isDefinitionKey(table) && groups[table] == nil {
            groups[table] = []
        }
        var streams: [DefinedStream] = []
        var queries: [DefinedQuery] = []
        for table in groups.keys.sorted(by: { (file.tables[$0] ?? 0) < (file.tables[$1] ?? 0) }) {
            let fields = groups[table]!
            let parts = table.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            let line = file.tables[table] ?? fields.map(\.entry.line).min() ?? 0
            guard parts.count == 2 else {
                throw ConfigFile.error(file.name, line, "[\(table)]: a \(parts[0]) id uses letters, digits, _ and - only (no dots) in the configuration file")
            }
            let id = parts[1]
            guard Identifier.isValid(id) else {
                throw ConfigFile.error(file.name, line, "[\(table)]: \"\(id)\" is not a valid id (1 to 64 letters, digits, _ or -, starting with a letter or digit)")
            }
            var object: JSONObject = [:]
            for field in fields { object[field.field] = field.entry.value.json }
            // An error names the key it is about when it can, else the table's header.
            func failing(_ error: SightlineError) -> SightlineError {
                let at = fields.first { error.message.hasPrefix("\(table).\($0.field):") }?.entry.line ?? line
                return ConfigFile.error(file.name, at, error.message)
            }
            do throws(SightlineError) {
                var reader = try FieldReader(.object(object), path: table)
                if parts[0] == streamTable {
                    if let entry = fields.first(where: { $0.field == "id" })?.entry {
                        throw ConfigFile.error(file.name, entry.line, "\(table).id: the stream's id is the table's name, \(id)")
                    }
                    var spec = try StreamSpec(reading: &reader)
                    spec.id = id
                    try reader.finish()
                    streams.append(DefinedStream(spec: spec, file: file.name, line: line))
                } else {
                    let spec = try QuerySpec(reading: &reader)
                    try reader.finish()
                    queries.append(DefinedQuery(id: id, spec: spec, file: file.name, line: line))
                }
            } catch {
                throw error.code == .invalidFile ? error : failing(error)
            }
        }
        return (streams, queries)
    }
}

extension ConfigFile.Value {
    /// The value as the JSON a request would carry, so that definitions are checked by the
    /// same code as requests.
    var json: JSONValue {
        switch self {
        case .string(let s): .string(s)
        case .integer(let i): JSONValue(i)
        case .float(let f): .double(f)
        case .bool(let b): .bool(b)
        case .strings(let a): JSONValue(a)
        }
    }
}
