import Foundation
import Logging
import SightlineCore
import SightlineGrounding
import SightlineProtocol

/// What one connection has set up: its peer and, once it subscribed, its place on the bus.
final class ConnectionContext: @unchecked Sendable {
    // Only the connection's reader task touches the mutable members.
    let peer: PeerCredentials
    let queue: SubscriberQueue
    let closeConnection: @Sendable () -> Void
    /// Writes a line on this connection, waiting while the peer is slow (for `ground`, whose
    /// events must all arrive).
    let send: @Sendable ([UInt8]) async throws -> Void
    var subscriberID: EventBus.SubscriberID?

    init(peer: PeerCredentials, queue: SubscriberQueue, closeConnection: @escaping @Sendable () -> Void,
         send: @escaping @Sendable ([UInt8]) async throws -> Void) {
        self.peer = peer
        self.queue = queue
        self.closeConnection = closeConnection
        self.send = send
    }
}

/// Answers requests: checks the peer's rights, runs the operation, builds the reply.
public final class RequestHandler: Sendable {
    let registry: Registry
    let bus: EventBus
    let stats: RuntimeStats
    let policy: AccessPolicy
    let model: ModelSummary
    let version: String
    let fileGrounding: FileGrounding
    let logger: Logger

    public init(registry: Registry, bus: EventBus, stats: RuntimeStats, policy: AccessPolicy, model: ModelSummary, version: String,
                fileGrounding: FileGrounding, logger: Logger) {
        self.fileGrounding = fileGrounding
        self.registry = registry
        self.bus = bus
        self.stats = stats
        self.policy = policy
        self.model = model
        self.version = version
        self.logger = logger.maskingCredentials()
    }

    func handle(line: [UInt8], context: ConnectionContext) async -> Reply {
        switch Request.decode(line: line) {
        case .failure(let failure):
            return .failure(failure.id, failure.error)
        case .success(let request):
            logger.debug("request", metadata: ["op": "\(request.operation.name)", "peer": "\(context.peer)"])
            do {
                try policy.check(request.operation, peer: context.peer)
                return .success(request.id, try await perform(request.operation, context: context))
            } catch {
                if request.operation.isMutating {
                    logger.info("refused", metadata: ["op": "\(request.operation.name)", "peer": "\(context.peer)", "error": "\(error)"])
                }
                return .failure(request.id, error)
            }
        }
    }

    private func perform(_ operation: RequestOperation, context: ConnectionContext) async throws(SightlineError) -> JSONObject {
        switch operation {
        case .status:
            return status()
        case .streamAdd(let spec):
            let record = try await registry.addStream(spec)
            logger.info("stream added", metadata: ["stream": "\(record.id)", "uri": "\(maskingCredentials(record.uri))", "peer": "\(context.peer)"])
            return ["stream": record.json]
        case .streamRemove(let id):
            let record = try await registry.removeStream(id: id)
            logger.info("stream removed", metadata: ["stream": "\(id)", "peer": "\(context.peer)"])
            return ["stream": record.json]
        case .streamList:
            return ["streams": .array(registry.streams.map(\.json))]
        case .queryAdd(let spec):
            let record = try await registry.addQuery(spec)
            logger.info("query added", metadata: ["query": "\(record.id)", "text": "\(record.text)", "peer": "\(context.peer)"])
            return ["query": record.json]
        case .queryRemove(let id):
            let record = try await registry.removeQuery(id: id)
            logger.info("query removed", metadata: ["query": "\(id)", "peer": "\(context.peer)"])
            return ["query": record.json]
        case .queryList:
            return ["queries": .array(registry.queries.map(\.json))]
        case .subscribe(let subscription):
            let close = context.closeConnection
            context.subscriberID = bus.subscribe(subscription, queue: context.queue, replacing: context.subscriberID, onStuck: close)
            var result: JSONObject = ["detail": .string(subscription.detail.rawValue), "status": .bool(subscription.status)]
            result["streams"] = JSONValue(subscription.streams)
            result["queries"] = JSONValue(subscription.queries)
            return ["subscribed": .object(result)]
        case .ground(let spec):
            let started = Date()
            do {
                let (frames, events) = try await fileGrounding.run(spec, defaultShortSide: registry.settings.defaultShortSide) { event in
                    try await context.send(Event.match(event).line(detail: spec.detail))
                }
                logger.info("grounded a file", metadata: ["file": "\(spec.path)", "frames": "\(frames)", "events": "\(events)"])
                return ["stream": .string(spec.stream), "frames": JSONValue(frames), "events": JSONValue(events),
                        "seconds": .double((Date().timeIntervalSince(started) * 1000).rounded() / 1000)]
            } catch let error as SightlineError {
                throw error
            } catch {
                throw SightlineError(.media, "cannot ground \(spec.path): \(error)", context: ["file": spec.path])
            }
        case .unsubscribe:
            if let id = context.subscriberID { bus.unsubscribe(id) }
            let was = context.subscriberID != nil
            context.subscriberID = nil
            return ["unsubscribed": .bool(was)]
        }
    }

    func status() -> JSONObject {
        let snapshot = stats.snapshot()
        let streams: [JSONValue] = registry.streams.map { record in
            let s = snapshot[record.id] ?? RuntimeStats.Stream()
            var o: JSONObject = ["id": .string(record.id), "uri": .string(maskingCredentials(record.uri)), "state": .string(s.state)]
            if let error = s.error { o["error"] = .string(error) }
            o["fps"] = .double(record.fps)
            o["short_side"] = JSONValue(record.shortSide ?? registry.settings.defaultShortSide)
            if let size = s.frameSize { o["frame_size"] = [JSONValue(size.width), JSONValue(size.height)] }
            o["sampled_fps"] = .double((s.sampledFPS * 100).rounded() / 100)
            o["grounded_fps"] = .double((s.groundedFPS * 100).rounded() / 100)
            o["frames"] = JSONValue(s.received)
            o["processed"] = JSONValue(s.processed)
            o["carried"] = JSONValue(s.carried)
            o["drops"] = JSONValue(s.dropped)
            o["stale"] = JSONValue(s.stale)
            o["matches"] = JSONValue(s.matches)
            if let motion = s.motion { o["motion"] = Self.motion(motion, lastChange: s.lastChange) }
            o["latency_ms"] = Self.percentiles { s.groundingPercentile($0) }
            o["delivery_ms"] = Self.percentiles { s.deliveryPercentile($0) }
            return .object(o)
        }
        return [
            "version": .string(version),
            "protocol": JSONValue(ProtocolLimits.version),
            "uptime": .double((Date().timeIntervalSince(stats.started) * 10).rounded() / 10),
            "model": model.json,
            "engine": Self.engine(stats.engine),
            "streams": .array(streams),
            "queries": .array(registry.queries.map(\.json)),
            "subscribers": JSONValue(bus.subscriberCount),
        ]
    }

    /// The change detector's verdict on the stream's last frame.
    static func motion(_ result: MotionDetector.Result, lastChange: Date?) -> JSONValue {
        [
            "active": .bool(result.changed),
            "fraction": .double((result.fraction * 1000).rounded() / 1000),
            "global": .bool(result.globalChange),
            "boxes": .array(result.boxes.map { [JSONValue($0.x), JSONValue($0.y), JSONValue($0.width), JSONValue($0.height)] }),
            "last_change": lastChange.map { .string(WireTime.format($0)) } ?? .null,
        ]
    }

    /// The scheduler's view of the engine: milliseconds per encoded and per carried frame
    /// (moving averages; null until measured) and the encoded frames it puts in a batch.
    static func engine(_ e: RuntimeStats.Engine) -> JSONValue {
        func ms(_ s: Double?) -> JSONValue { s.map { .double(($0 * 10_000).rounded() / 10) } ?? .null }
        return ["encode_ms": ms(e.encodeSeconds), "carry_ms": ms(e.carrySeconds), "encoded_per_batch": JSONValue(e.encodedPerBatch)]
    }

    static func percentiles(_ value: (Double) -> Double?) -> JSONValue {
        guard let p50 = value(50), let p99 = value(99) else { return .null }
        return ["p50": .double((p50 * 10_000).rounded() / 10), "p99": .double((p99 * 10_000).rounded() / 10)]
    }
}
