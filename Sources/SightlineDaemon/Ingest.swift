import Foundation
import Logging
import ServiceLifecycle
import SightlineCore
import SightlineGrounding
import SightlineMedia
import SightlineProtocol
import Synchronization

/// Runs one `VideoSource` per registered stream: starts and stops them as streams are added
/// and removed, hands their frames to the scheduler's queue (which never blocks) and turns
/// their state changes into `stream.status` events and log lines.
///
/// Whatever way a stream stops, its open matches are ended first (`onEnded`, `onRemoved`),
/// and its `ended` or `failed` status follows them.
public final class Ingest: Service, Sendable {
    private struct Running {
        var tasks: [String: Task<Void, Never>] = [:]
        /// Which start of each stream is its running source; `stop` removes it.
        var generations: [String: UInt64] = [:]
        var nextGeneration: UInt64 = 0
        var stopped = false
    }

    private let registry: Registry
    private let bus: EventBus
    private let stats: RuntimeStats
    private let sink: @Sendable (Frame) -> Void
    private let onRemoved: @Sendable (String, MatchEndReason, @escaping @Sendable () -> Void) -> Void
    private let onEnded: @Sendable (String, MatchEndReason, @escaping @Sendable () -> Void) -> Void
    private let logger: Logger
    private let running = Mutex(Running())
    private let changes: AsyncStream<RegistryChange>
    private let changeSink: AsyncStream<RegistryChange>.Continuation

    /// `sink` receives every frame. Each stream's frames are scaled to its analysis size
    /// (`StreamRecord.shortSide`) by GStreamer, before they cost anything here.
    ///
    /// `onRemoved(stream, reason, then)`: the stream was removed or restarts with new
    /// settings; `onEnded(stream, reason, then)`: it ended, failed or lost its source. Each
    /// ends the stream's open matches with `reason` and calls `then` once they are published.
    public init(registry: Registry, bus: EventBus, stats: RuntimeStats, logger: Logger,
                sink: @escaping @Sendable (Frame) -> Void,
                onRemoved: @escaping @Sendable (String, MatchEndReason, @escaping @Sendable () -> Void) -> Void = { $2() },
                onEnded: @escaping @Sendable (String, MatchEndReason, @escaping @Sendable () -> Void) -> Void = { $2() }) {
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
            case .streamRemoved(let record): await stop(record.id, reason: .streamRemoved)
            case .streamChanged(let old, let new):
                // The new source starts once the old one's matches and `ended` are out, so
                // that its `starting` comes after them.
                await stop(old.id, reason: .streamReconfigured)
                start(new)
            case .queriesChanged: break
            }
        }
        // The daemon stops: the engine, stopped first, has ended what was open (reason
        // `shutdown`); the sources' own last statuses are not news.
        let tasks = running.withLock { r in
            r.stopped = true
            r.generations = [:]
            defer { r.tasks = [:] }
            return Array(r.tasks.values)
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
        logger.info("ingest stopped")
    }

    /// Whether `generation` is still the running source of `stream` (not stopped since).
    private func isCurrent(_ stream: String, _ generation: UInt64) -> Bool {
        running.withLock { $0.generations[stream] == generation }
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
        // `start` and `stop` run one at a time (from `run`), so the generation is the stream's
        // from here until its `stop`, before the task below can look.
        guard let generation = running.withLock({ r -> UInt64? in
            guard !r.stopped else { return nil }
            r.nextGeneration += 1
            r.generations[record.id] = r.nextGeneration
            return r.nextGeneration
        }) else { return }
        let task = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await source.run() }
                group.addTask {
                    for await unmasked in source.statuses {
                        // A source stopped since (removed, restarted, the daemon stopping) is
                        // no longer the stream's: what it says now is not news.
                        guard self.isCurrent(record.id, generation) else { continue }
                        let status = unmasked.maskingCredentials
                        logger.info("stream \(status)", metadata: ["stream": "\(status.stream)"])
                        let publish: @Sendable () -> Void = {
                            stats.status(status)
                            bus.publish(.streamStatus(StreamStatusEvent(status)))
                        }
                        switch status.state {
                        case .ended:
                            // The end is announced after the stream's last frames are grounded.
                            onEnded(status.stream, .streamEnded, publish)
                        case .failed:
                            onEnded(status.stream, .streamFailed, publish)
                        case .stalled, .reconnecting:
                            // Nothing is seen until the source is back (maybe never): its open
                            // matches end now. Later statuses do not wait for them.
                            publish()
                            onEnded(status.stream, .streamFailed, {})
                        case .starting, .online:
                            publish()
                        }
                    }
                }
                group.addTask {
                    var lastSeq: UInt64?
                    var motion = MotionDetector()
                    for await var frame in source.frames {
                        // A gap in seq: frames the source dropped because we were behind.
                        if let lastSeq, frame.seq > lastSeq + 1 { stats.dropped(frame.stream, count: Int(frame.seq - lastSeq - 1)) }
                        lastSeq = frame.seq
                        stats.arrived(frame.stream, at: frame.captureTime, width: frame.image.width, height: frame.image.height)
                        if let result = try? await motion.updateOffPool(frame.image) {
                            stats.moved(frame.stream, result, at: frame.captureTime)
                            frame.changed = result.changed
                        }
                        // Offered under the lock that `stop` takes first, so that no frame of a
                        // stopped source reaches the engine after its stream was forgotten (it
                        // would start tubes that nothing ends). `sink` never blocks.
                        self.running.withLock { r in
                            if r.generations[record.id] == generation { sink(frame) }
                        }
                    }
                }
            }
        }
        running.withLock { $0.tasks[record.id] = task }
    }

    /// Stops the stream's source, and returns once its open matches are ended and its `ended`
    /// status (with `error` "removed" or "reconfigured") published.
    private func stop(_ id: String, reason: MatchEndReason) async {
        let task = running.withLock { r in
            r.generations[id] = nil
            return r.tasks.removeValue(forKey: id)
        }
        task?.cancel()
        stats.remove(id)
        let (bus, onRemoved) = (self.bus, self.onRemoved)
        let word = reason == .streamReconfigured ? "reconfigured" : "removed"
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            onRemoved(id, reason) {
                bus.publish(.streamStatus(StreamStatusEvent(SourceStatus(stream: id, state: .ended, error: word))))
                continuation.resume()
            }
        }
    }
}
