import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Starts a named POSIX thread of our own for blocking work (the engine loop), so that it
/// never occupies a thread of the cooperative pool or of Dispatch.
enum DedicatedThread {
    private final class Box {
        let body: () -> Void
        let name: String
        init(name: String, body: @escaping () -> Void) {
            self.name = name
            self.body = body
        }
    }

    static func start(name: String, stackSize: Int = 16 << 20, _ body: @escaping @Sendable () -> Void) {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, stackSize)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let box = Unmanaged.passRetained(Box(name: name, body: body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, &attributes, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            // Linux keeps 15 bytes of a thread's name.
            DedicatedThread.setCurrentName(String(box.name.prefix(15)))
            box.body()
            return nil
        }, box)
        precondition(result == 0, "cannot start thread \(name): error \(result)")
    }

    // pthread_setname_np is not exported to Swift; the kernel's own file does the same.
    static func setCurrentName(_ name: String) {
        let fd = open("/proc/thread-self/comm", O_WRONLY)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let bytes = Array(name.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// The calling thread's name as the kernel knows it.
    static var currentName: String {
        let fd = open("/proc/thread-self/comm", O_RDONLY)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return "" }
        return String(decoding: buffer.prefix(n), as: UTF8.self).trimmingCharacters(in: .newlines)
    }
}

/// The calling thread's name (tests check that engine work runs on the engine thread).
public func currentThreadName() -> String { DedicatedThread.currentName }
