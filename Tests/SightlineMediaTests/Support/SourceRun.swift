import Foundation
import Logging
import SightlineCore
@testable import SightlineMedia

/// Runs a source in the background and collects what it produces.
final class SourceRun: Sendable {
    let source: VideoSource
    let task: Task<Void, Never>
    private let collectors: Task<Void, Never>
    private let collected: Collector

    actor Collector {
        var frames: [Frame] = []
        var statuses: [SourceStatus] = []
        func add(_ frame: Frame) { frames.append(frame) }
        func add(_ status: SourceStatus) { statuses.append(status) }
    }

    init(_ source: VideoSource) {
        self.source = source
        let collected = Collector()
        self.collected = collected
        task = Task { await source.run() }
        // Not cancelled with the source: they run until the source finishes its streams, so
        // that the last status (e.g. `ended` after a stop) is seen.
        collectors = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { for await frame in source.frames { await collected.add(frame) } }
                group.addTask { for await status in source.statuses { await collected.add(status) } }
            }
        }
    }

    convenience init(_ id: String, _ options: SourceOptions) throws {
        try self.init(VideoSource(id: id, options: options, logger: Logger(label: "test.\(id)")))
    }

    var frames: [Frame] { get async { await collected.frames } }
    var statuses: [SourceStatus] { get async { await collected.statuses } }
    var states: [SourceState] { get async { await collected.statuses.map(\.state) } }

    /// Waits until `condition` holds or `timeout` passes; returns whether it held.
    @discardableResult
    func wait(timeout: Double, until condition: @Sendable (SourceRun) async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < deadline {
            if await condition(self) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return await condition(self)
    }

    /// Waits until GStreamer has freed every pipeline the source started (after `stop()`);
    /// returns whether it did.
    func allPipelinesReleased(timeout: Double) async -> Bool {
        await wait(timeout: timeout) { $0.source.statistics.pipelinesReleased == $0.source.statistics.pipelinesStarted }
    }

    /// Waits for the source to finish by itself.
    func finished(timeout: Double) async -> Bool {
        await wait(timeout: timeout) { await $0.states.last?.isTerminal == true }
    }

    func stop() async {
        task.cancel()
        await task.value
        await collectors.value
    }
}
