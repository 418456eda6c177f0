import Foundation
import SightlineCore
import SightlineProtocol

/// What a reconciliation with the configuration file changed, by id.
public struct Reconciliation: Sendable, Equatable {
    public var streamsAdded: [String] = []
    public var streamsChanged: [String] = []
    public var streamsRemoved: [String] = []
    public var queriesAdded: [String] = []
    public var queriesChanged: [String] = []
    public var queriesRemoved: [String] = []

    public init(streamsAdded: [String] = [], streamsChanged: [String] = [], streamsRemoved: [String] = [],
                queriesAdded: [String] = [], queriesChanged: [String] = [], queriesRemoved: [String] = []) {
        self.streamsAdded = streamsAdded
        self.streamsChanged = streamsChanged
        self.streamsRemoved = streamsRemoved
        self.queriesAdded = queriesAdded
        self.queriesChanged = queriesChanged
        self.queriesRemoved = queriesRemoved
    }

    public var isEmpty: Bool { self == Reconciliation() }

    /// For the log: `streams +cam3 ~cam1 -cam2, queries +dogs -cars`.
    public var summary: String {
        func part(_ name: String, _ added: [String], _ changed: [String], _ removed: [String]) -> String? {
            let items = added.map { "+" + $0 } + changed.map { "~" + $0 } + removed.map { "-" + $0 }
            return items.isEmpty ? nil : "\(name) " + items.joined(separator: " ")
        }
        let parts = [part("streams", streamsAdded, streamsChanged, streamsRemoved), part("queries", queriesAdded, queriesChanged, queriesRemoved)]
            .compactMap { $0 }
        return parts.isEmpty ? "no changes" : parts.joined(separator: ", ")
    }
}

extension Registry {
    /// Makes the streams and queries that came from the configuration file (origin `config`)
    /// those `streams` and `queries` define: new ones are added (at the end, in file order),
    /// changed ones replaced in place (a changed stream restarts; a changed query's tubes
    /// start afresh), and those no longer defined removed. Streams and queries added over the
    /// socket are left exactly as they are. `settings` (limits and defaults) take effect in
    /// the same change, and resolve what a definition leaves out.
    ///
    /// All or nothing: an id defined in the file that a client already uses over the socket,
    /// a query naming a stream that does not exist, or a limit exceeded is an error naming the
    /// file and line, and nothing changes.
    public func reconcile(streams defined: [DefinedStream], queries definedQueries: [DefinedQuery],
                          settings newSettings: RegistrySettings) async throws(SightlineError) -> Reconciliation {
        try await mutate { persisted, settings in
            var outcome = Reconciliation()
            var events: [RegistryChange] = []
            func conflict(_ kind: String, _ id: String, _ file: String, _ line: Int) -> SightlineError {
                ConfigFile.error(file, line, "\(kind) \(id) is defined here, but a \(kind) with that id was added over the socket; remove one of them")
            }
            // Streams.
            var streams: [StreamRecord] = []
            let wanted = Dictionary(uniqueKeysWithValues: defined.map { ($0.id, $0) })
            for record in persisted.streams {
                guard let definition = wanted[record.id] else {
                    if record.origin == .config {
                        outcome.streamsRemoved.append(record.id)
                        events.append(.streamRemoved(record))
                    } else {
                        streams.append(record)
                    }
                    continue
                }
                guard record.origin == .config else { throw conflict("stream", record.id, definition.file, definition.line) }
                let updated = Self.record(definition.spec, id: record.id, origin: .config, settings: newSettings, created: record.created)
                if updated.runsLike(record) {
                    streams.append(record)
                } else {
                    streams.append(updated)
                    outcome.streamsChanged.append(record.id)
                    events.append(.streamChanged(old: record, new: updated))
                }
            }
            let known = Set(persisted.streams.map(\.id))
            for definition in defined where !known.contains(definition.id) {
                let record = Self.record(definition.spec, id: definition.id, origin: .config, settings: newSettings)
                streams.append(record)
                outcome.streamsAdded.append(record.id)
                events.append(.streamAdded(record))
            }
            if streams.count > newSettings.maxStreams, let last = defined.last {
                throw ConfigFile.error(last.file, last.line, "\(streams.count) streams with those defined in the file; streams.max is \(newSettings.maxStreams)")
            }
            // Queries, once the streams they name are settled.
            let streamIDs = Set(streams.map(\.id))
            var queries: [QueryRecord] = []
            let wantedQueries = Dictionary(uniqueKeysWithValues: definedQueries.map { ($0.id, $0) })
            for definition in definedQueries {
                if let missing = definition.spec.streams.first(where: { !streamIDs.contains($0) }) {
                    throw ConfigFile.error(definition.file, definition.line, "query \(definition.id) names stream \(missing), which does not exist")
                }
            }
            for record in persisted.queries {
                guard let definition = wantedQueries[record.id] else {
                    if record.origin == .config { outcome.queriesRemoved.append(record.id) } else { queries.append(record) }
                    continue
                }
                guard record.origin == .config else { throw conflict("query", record.id, definition.file, definition.line) }
                let updated = Self.record(definition.spec, id: record.id, origin: .config, settings: newSettings, created: record.created)
                if updated.groundsLike(record) {
                    queries.append(record)
                } else {
                    queries.append(updated)
                    outcome.queriesChanged.append(record.id)
                }
            }
            let knownQueries = Set(persisted.queries.map(\.id))
            for definition in definedQueries where !knownQueries.contains(definition.id) {
                queries.append(Self.record(definition.spec, id: definition.id, origin: .config, settings: newSettings))
                outcome.queriesAdded.append(definition.id)
            }
            if queries.count > newSettings.maxQueries, let last = definedQueries.last {
                throw ConfigFile.error(last.file, last.line, "\(queries.count) queries with those defined in the file; queries.max is \(newSettings.maxQueries)")
            }
            if queries != persisted.queries { events.append(.queriesChanged(queries)) }
            persisted.streams = streams
            persisted.queries = queries
            settings = newSettings
            return (outcome, events)
        }
    }
}
