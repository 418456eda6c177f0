import Foundation
import Synchronization

/// The engine's own compute threads. Every parallel step of a forward pass hands each thread one
/// share (a block of rows, or of attention heads); OpenBLAS runs single-threaded inside each
/// share, so matrix products and the kernels that follow them run on the same threads with no
/// hand-off and no OpenBLAS worker spinning against them.
///
/// The calling thread takes share 0. `run` is not reentrant: the model serialises forward passes.
final class ComputePool: Sendable {
    let threadCount: Int
    private let shared: Shared

    init(threads: Int) {
        threadCount = max(1, threads)
        shared = Shared()
        for index in 1..<threadCount {
            let shared = shared
            let thread = Thread { shared.work(index: index) }
            thread.name = "sightline-compute-\(index)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    deinit {
        shared.stop()
    }

    /// Runs `body(share)` for every share in `0..<threadCount`, in parallel, and returns when all are done.
    func run(_ body: (Int) -> Void) {
        guard threadCount > 1 else {
            body(0)
            return
        }
        withoutActuallyEscaping(body) { escaping in
            shared.dispatch(escaping, workers: threadCount - 1)
            escaping(0)
            shared.waitForWorkers()
        }
    }

    /// The contiguous part of `0..<count` that share `share` of `shares` handles.
    static func part(_ count: Int, share: Int, of shares: Int) -> Range<Int> {
        (count * share / shares)..<(count * (share + 1) / shares)
    }

    private final class Shared: @unchecked Sendable {
        let generation = Atomic<Int>(0)
        let remaining = Atomic<Int>(0)
        let stopping = Atomic<Bool>(false)
        let condition = NSCondition()
        // Written by the dispatcher before the releasing increment of `generation`, read by the
        // workers after their acquiring load of it.
        var job: ((Int) -> Void)?

        func dispatch(_ job: @escaping (Int) -> Void, workers: Int) {
            self.job = job
            remaining.store(workers, ordering: .relaxed)
            condition.lock()
            generation.add(1, ordering: .releasing)
            condition.broadcast()
            condition.unlock()
        }

        func waitForWorkers() {
            var spins = 0
            while remaining.load(ordering: .acquiring) != 0 {
                spins += 1
                if spins > 2_000 { sched_yield() }
            }
            job = nil
        }

        func stop() {
            condition.lock()
            stopping.store(true, ordering: .relaxed)
            generation.add(1, ordering: .releasing)
            condition.broadcast()
            condition.unlock()
        }

        func work(index: Int) {
            // From the initial generation, not the current one: a thread that starts late must
            // still take the job dispatched before it ran.
            var seen = 0
            while true {
                // Spin briefly: the next step of a forward pass usually follows within microseconds.
                var spins = 0
                var current = generation.load(ordering: .acquiring)
                while current == seen, spins < 20_000 {
                    spins += 1
                    current = generation.load(ordering: .acquiring)
                }
                if current == seen {
                    condition.lock()
                    while generation.load(ordering: .acquiring) == seen { condition.wait() }
                    condition.unlock()
                    current = generation.load(ordering: .acquiring)
                }
                seen = current
                if stopping.load(ordering: .relaxed) { return }
                job?(index)
                remaining.subtract(1, ordering: .releasing)
            }
        }
    }
}
