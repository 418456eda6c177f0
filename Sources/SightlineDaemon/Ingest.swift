import Foundation
import Logging
import ServiceLifecycle
import SightlineCore
import SightlineMedia
import SightlineProtocol
import Synchronization

/// Runs one `VideoSource` per registered stream: starts and stops them as streams are added
/// and removed, hands their frames to the scheduler's queue (which never blocks) and turns
/// their state changes into `stream.status` events and log lines.
public final class Ingest: Service, Sendable {
    private let registry: Registry
    private let bus: EventBus
    private let stats: RuntimeStats
    private let sink: @Sendable (Frame) -> Void
    private let onRemoved: @Sendable (String) -> Void
    private let onEnded: @Sendable (String, @escaping @Sendable () -> Void) -> Void
    private let logger: Logger
    private let running = Mutex<[String: Task<Void, Never>]>([:])
    private let changes: AsyncStream<RegistryChange>
    private let changeSink: AsyncStream<RegistryChange>.Continuation

    /// `sink` receives every frame. Each stream's frames are scaled to its analysis size
    /// (`StreamRecord.shortSide`) by GStreamer, before they cost anything here.
    public init(registry: Registry, bus: EventBus, stats: RuntimeStats, logger: Logger,
                sink: @escaping @Sendable (Frame) -> Void, onRemoved: @escaping @Sendable (String) -> Void,
                onEnded: @escaping @Sendable (String, @escaping @Sendable () -> Void) -> Void = { $1() }) {
        self.onEnded = onEnded
        self.registry = registry
        self.bus = bus
        self.stats = stats
        self.logger = logger.maskingCredentials()
        self.sink = sink
        self.onRemoved = onRemoved
        (changes, changeSink) = AsyncStream.makeStream(of: RegistryChange.self)
        let continuation = changeSink
        registry.observe { continuation.yield($0) }
    }

    public func run() async throws {
        for record in registry.streams { start(record) }
        for await change in changes.cancelOnGracefulShutdown() {
            switch change {
            case .streamAdded(let record): start(record)
            case .streamRemoved(let record): stop(record.id, reason: "removed")
            case .streamChanged(let old, let new):
                stop(old.id, reason: "reconfigured")
                start(new)
            case .queriesChanged: break
            }
        }
        let tasks = running.withLock { r in
            defer { r = [:] }
            return Array(r.values)
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
        logger.info("ingest stopped")
    }

    private func start(_ record: StreamRecord) {
        let shortSide = record.shortSide ?? registry.settings.defaultShortSide
        var options = SourceOptions(uri: record.uri, sampleRate: record.fps, shortSide: shortSide == 0 ? nil : shortSide, loop: record.loop)
        options.bufferedFrames = 2
        let source: VideoSource
        do {
            source = try VideoSource(id: record.id, options: options, logger: logger)
        } catch {
            let status = SourceStatus(stream: record.id, state: .failed("\(error)")).maskingCredentials
            stats.status(status)
            bus.publish(.streamStatus(StreamStatusEvent(status)))
            return
        }
        let (bus, stats, sink, logger, onEnded) = (self.bus, self.stats, self.sink, self.logger, self.onEnded)
        let task = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await source.run() }
                group.addTask {
                    for await unmasked in source.statuses {
                        let status = unmasked.maskingCredentials
                        logger.info("stream \(status)", metadata: ["stream": "\(status.stream)"])
                        let publish: @Sendable () -> Void = {
                            stats.status(status)
                            bus.publish(.streamStatus(StreamStatusEvent(status)))
                        }
                        // The end is announced after the stream's last frames are grounded.
                        if status.state.isTerminal { onEnded(status.stream, publish) } else { publish() }
                    }
                }
                group.addTask {
                    var lastSeq: UInt64?
                    for await frame in source.frames {
                        // A gap in seq: frames the source dropped because we were behind.
                        if let lastSeq, frame.seq > lastSeq + 1 { stats.dropped(frame.stream, count: Int(frame.seq - lastSeq - 1)) }
                        lastSeq = frame.seq
                        stats.arrived(frame.stream, at: frame.captureTime, width: frame.image.width, height: frame.image.height)
                        sink(frame)
                    }
                }
            }
        }
        running.withLock { $0[record.id] = task }
    }

    private func stop(_ id: String, reason: String) {
        let task = running.withLock { $0.removeValue(forKey: id) }
        task?.cancel()
        onRemoved(id)
        stats.remove(id)
        bus.publish(.streamStatus(StreamStatusEvent(SourceStatus(stream: id, state: .ended, error: reason))))
    }
}
