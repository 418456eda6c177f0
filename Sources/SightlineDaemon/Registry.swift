import Foundation
import Logging
import SightlineCore
import SightlineProtocol
import Synchronization

/// A change the rest of the daemon reacts to (ingest starts or stops sources, the scheduler
/// updates its queries).
public enum RegistryChange: Sendable {
    case streamAdded(StreamRecord)
    case streamRemoved(StreamRecord)
    /// A stream defined in the configuration file was changed there: it restarts.
    case streamChanged(old: StreamRecord, new: StreamRecord)
    case queriesChanged([QueryRecord])
}

/// The limits and defaults the registry applies to changes; they may change at run time (a
/// reload of the configuration).
public struct RegistrySettings: Sendable, Equatable {
    public var maxStreams: Int
    public var maxQueries: Int
    public var defaultFPS: Double
    public var defaultShortSide: Int
    public var defaultThreshold: Double
    public var defaultMinDuration: Double

    public init(_ c: DaemonConfiguration) {
        maxStreams = c.maxStreams
        maxQueries = c.maxQueries
        defaultFPS = c.defaultFPS
        defaultShortSide = c.defaultShortSide
        defaultThreshold = c.defaultThreshold
        defaultMinDuration = c.defaultMinDuration
    }
}

/// The streams and standing queries, stored in the state directory.
///
/// Every change is written to disk before it is applied and answered, so an acknowledged
/// change survives a crash. Changes run one at a time on a dedicated I/O thread (the writes
/// fsync, which must not block the cooperative pool), which also keeps them in order.
public final class Registry: Sendable {
    private struct State {
        var persisted: PersistedState
        var settings: RegistrySettings
        var observers: [@Sendable (RegistryChange) -> Void] = []
    }

    private let store: StateStore
    private let io = WorkerThread(name: "sl-state")
    private let state: Mutex<State>
    private let logger: Logger

    public init(store: StateStore, configuration: DaemonConfiguration, logger: Logger) throws(SightlineError) {
        self.store = store
        self.state = Mutex(State(persisted: try store.load(), settings: RegistrySettings(configuration)))
        self.logger = logger
    }

    deinit {
        io.close()
    }

    public var streams: [StreamRecord] { state.withLock { $0.persisted.streams } }
    public var queries: [QueryRecord] { state.withLock { $0.persisted.queries } }
    /// The limits and defaults in force; `reconcile` changes them.
    public var settings: RegistrySettings { state.withLock { $0.settings } }

    /// Called after every change, on the I/O thread; must not block.
    public func observe(_ observer: @escaping @Sendable (RegistryChange) -> Void) {
        state.withLock { $0.observers.append(observer) }
    }

    public func addStream(_ spec: StreamSpec) async throws(SightlineError) -> StreamRecord {
        try await mutate { persisted, settings in
            guard persisted.streams.count < settings.maxStreams else {
                throw SightlineError(.unavailable, "the daemon already has \(persisted.streams.count) streams (streams.max is \(settings.maxStreams))")
            }
            let id = spec.id ?? Self.generateID(prefix: "s-", taken: Set(persisted.streams.map(\.id)))
            if persisted.streams.contains(where: { $0.id == id }) {
                throw SightlineError(.alreadyExists, "a stream with id \"\(id)\" exists already", context: ["stream": id])
            }
            let record = Self.record(spec, id: id, origin: .socket, settings: settings)
            persisted.streams.append(record)
            return (record, [.streamAdded(record)])
        }
    }

    public func removeStream(id: String) async throws(SightlineError) -> StreamRecord {
        try await mutate { persisted, _ in
            guard let index = persisted.streams.firstIndex(where: { $0.id == id }) else {
                throw SightlineError(.notFound, "no stream \"\(id)\"", context: ["stream": id])
            }
            guard persisted.streams[index].origin == .socket else {
                throw SightlineError(.definedInConfig, "stream \"\(id)\" is defined in the configuration file: remove it there and reload the daemon",
                                     context: ["stream": id])
            }
            let record = persisted.streams.remove(at: index)
            return (record, [.streamRemoved(record)])
        }
    }

    public func addQuery(_ spec: QuerySpec) async throws(SightlineError) -> QueryRecord {
        try await mutate { persisted, settings in
            guard persisted.queries.count < settings.maxQueries else {
                throw SightlineError(.unavailable, "the daemon already has \(persisted.queries.count) queries (queries.max is \(settings.maxQueries))")
            }
            let known = Set(persisted.streams.map(\.id))
            if let missing = spec.streams.first(where: { !known.contains($0) }) {
                throw SightlineError(.notFound, "no stream \"\(missing)\" (add it first, or leave streams out to watch every stream)",
                                     context: ["stream": missing])
            }
            let record = Self.record(spec, id: Self.generateID(prefix: "q-", taken: Set(persisted.queries.map(\.id))), origin: .socket,
                                     settings: settings)
            persisted.queries.append(record)
            return (record, [.queriesChanged(persisted.queries)])
        }
    }

    public func removeQuery(id: String) async throws(SightlineError) -> QueryRecord {
        try await mutate { persisted, _ in
            guard let index = persisted.queries.firstIndex(where: { $0.id == id }) else {
                throw SightlineError(.notFound, "no query \"\(id)\"", context: ["query": id])
            }
            guard persisted.queries[index].origin == .socket else {
                throw SightlineError(.definedInConfig, "query \"\(id)\" is defined in the configuration file: remove it there and reload the daemon",
                                     context: ["query": id])
            }
            let record = persisted.queries.remove(at: index)
            return (record, [.queriesChanged(persisted.queries)])
        }
    }

    /// Runs `change` on a copy of the state and settings, stores the copy (when it differs),
    /// then publishes it. A failed change or write leaves memory and disk as they were.
    func mutate<T: Sendable>(
        _ change: @escaping @Sendable (inout PersistedState, inout RegistrySettings) throws -> (T, [RegistryChange])
    ) async throws(SightlineError) -> T {
        let outcome: Result<T, SightlineError>
        do {
            outcome = try await io.run { () -> Result<T, SightlineError> in
                let (before, settingsBefore) = self.state.withLock { ($0.persisted, $0.settings) }
                var (copy, settings) = (before, settingsBefore)
                do {
                    let (value, events) = try change(&copy, &settings)
                    if copy != before { try self.store.save(copy) }
                    let observers = self.state.withLock { state in
                        state.persisted = copy
                        state.settings = settings
                        return state.observers
                    }
                    // Still on the I/O thread, so observers see changes in the order they were stored.
                    for event in events {
                        for observer in observers { observer(event) }
                    }
                    return .success(value)
                } catch let error as SightlineError {
                    return .failure(error)
                } catch {
                    return .failure(SightlineError(.internalError, "\(error)"))
                }
            }
        } catch {
            throw SightlineError(.unavailable, "the daemon is shutting down")
        }
        switch outcome {
        case .success(let value):
            return value
        case .failure(let error):
            if error.code == .system { logger.error("cannot store the state", metadata: ["error": "\(error)"]) }
            throw error
        }
    }

    static func record(_ spec: StreamSpec, id: String, origin: RecordOrigin, settings: RegistrySettings, created: Date = Date()) -> StreamRecord {
        StreamRecord(id: id, uri: spec.uri, fps: spec.fps ?? settings.defaultFPS, loop: spec.loop,
                     shortSide: spec.shortSide ?? settings.defaultShortSide, origin: origin, created: created)
    }

    static func record(_ spec: QuerySpec, id: String, origin: RecordOrigin, settings: RegistrySettings, created: Date = Date()) -> QueryRecord {
        QueryRecord(id: id, text: spec.text, streams: spec.streams, threshold: spec.threshold ?? settings.defaultThreshold,
                    minDuration: spec.minDuration ?? settings.defaultMinDuration, origin: origin, created: created)
    }

    static func generateID(prefix: String, taken: Set<String>) -> String {
        while true {
            let id = prefix + String(UInt32.random(in: 0...UInt32.max), radix: 16).leftPadded(to: 8)
            if !taken.contains(id) { return id }
        }
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
