import ServiceLifecycle

/// The first step of a graceful shutdown: stops the engine loop, which ends every match still
/// open (`match.end` with reason `shutdown`) and publishes the ends into the subscribers'
/// queues. Its frame queue is closed, so frames that ingest still delivers while it stops the
/// sources (next) are not grounded and start nothing. The socket server, shut down last,
/// writes what is queued before it closes the connections, so that a subscriber hears the
/// end of every match it heard start.
struct EngineShutdown: Service {
    let scheduler: Scheduler

    func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            // Cancelled without a graceful shutdown: the daemon stops the engine as it unwinds.
            return
        }
        await scheduler.stop()
    }
}
