import Foundation
import Logging
import SightlineCore
import SightlineGrounding
import SightlineProtocol
import Synchronization

/// Fans events out to subscribers. `publish` never waits: it encodes each event once per
/// level of detail that some subscriber asked for and offers the line to each matching
/// subscriber's bounded queue. Grounding therefore never waits on a subscriber, and a slow
/// subscriber only ever loses its own events.
public final class EventBus: Sendable {
    public struct SubscriberID: Hashable, Sendable {
        let value: UInt64
    }

    private struct Subscriber: Sendable {
        var subscription: Subscription
        var queue: SubscriberQueue
        var onStuck: @Sendable () -> Void
    }

    private struct State {
        var subscribers: [SubscriberID: Subscriber] = [:]
        var nextID: UInt64 = 0
        var published = 0
        var disconnected = 0
    }

    private let state = Mutex(State())
    private let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }
    /// Subscribers disconnected because their queue stayed full.
    public var stuckDisconnects: Int { state.withLock { $0.disconnected } }

    /// Registers (or, with `replacing`, updates) a subscriber. `onStuck` is called once if the
    /// queue stays full too long; it should close the connection.
    public func subscribe(
        _ subscription: Subscription, queue: SubscriberQueue, replacing id: SubscriberID? = nil,
        onStuck: @escaping @Sendable () -> Void
    ) -> SubscriberID {
        state.withLock { s in
            let id = id ?? {
                s.nextID += 1
                return SubscriberID(value: s.nextID)
            }()
            s.subscribers[id] = Subscriber(subscription: subscription, queue: queue, onStuck: onStuck)
            return id
        }
    }

    public func unsubscribe(_ id: SubscriberID) {
        _ = state.withLock { $0.subscribers.removeValue(forKey: id) }
    }

    public func publish(_ event: Event, captureTime: Date? = nil) {
        let (stream, query): (String?, String?) = switch event {
        case .match(let m): (m.stream, m.query)
        case .streamStatus(let s): (s.status.stream, nil)
        case .hello, .lagged: (nil, nil)
        }
        let targets = state.withLock { s in
            s.published += 1
            return s.subscribers.filter { _, subscriber in
                let sub = subscriber.subscription
                switch event {
                case .match: return sub.accepts(stream: stream!, query: query!)
                case .streamStatus: return sub.status && sub.accepts(stream: stream!)
                case .hello, .lagged: return false
                }
            }
        }
        guard !targets.isEmpty else { return }
        var lines: [MaskDetail: [UInt8]] = [:]
        var stuck: [(SubscriberID, Subscriber)] = []
        let now = ContinuousClock.now
        for (id, subscriber) in targets {
            let detail = subscriber.subscription.detail
            let bytes = lines[detail] ?? event.line(detail: detail)
            lines[detail] = bytes
            let line = QueuedLine(bytes: bytes, captureTime: captureTime, stream: stream)
            if subscriber.queue.offer(line, now: now) == .stuck { stuck.append((id, subscriber)) }
        }
        for (id, subscriber) in stuck {
            state.withLock { s in
                s.subscribers.removeValue(forKey: id)
                s.disconnected += 1
            }
            logger.warning("disconnecting a subscriber whose queue stayed full", metadata: ["dropped": "\(subscriber.queue.droppedTotal)"])
            subscriber.onStuck()
        }
    }
}
