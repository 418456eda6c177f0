import Dispatch

/// Runs blocking file work (hashing a large file, fsync) on a thread outside the
/// cooperative pool, which has only as many threads as cores and must never block.
enum BlockingIO {
    private static let queue = DispatchQueue(label: "sightline.hub.blocking-io", attributes: .concurrent)

    static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try work() })
            }
        }
    }
}
