import Foundation

/// An RTSP server in a child process on 127.0.0.1 (Support/rtsp-test-server.py, run by
/// Debian's /usr/bin/python3 with GStreamer's RTSP server bindings), so that a test can kill
/// it outright, start it again on the same port, or make it stop sending.
final class RTSPTestServer: @unchecked Sendable {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("rtsp-test-server.py").path

    struct Failed: Error, CustomStringConvertible { var description: String }

    let port: Int
    let mounts: [String]
    private let process: Process
    private let input: FileHandle
    private let exited: Task<Int32, Never>

    private init(port: Int, mounts: [String], process: Process, input: FileHandle, exited: Task<Int32, Never>) {
        self.port = port
        self.mounts = mounts
        self.process = process
        self.input = input
        self.exited = exited
    }

    /// Starts serving; `port` 0 picks a free one.
    static func start(port: Int = 0, mounts: [String] = ["live"]) async throws -> RTSPTestServer {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [script, String(port)] + mounts
        let output = Pipe()
        let input = Pipe()
        process.standardOutput = output
        process.standardInput = input
        let lines = LineReader()
        output.fileHandleForReading.readabilityHandler = { handle in lines.append(handle.availableData) }
        let (exitStream, exitSink) = AsyncStream.makeStream(of: Int32.self)
        process.terminationHandler = {
            exitSink.yield($0.terminationStatus)
            exitSink.finish()
        }
        try process.run()
        let exited = Task { await exitStream.first { _ in true } ?? -1 }
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let line = lines.first(prefix: "ready ") {
                guard let bound = Int(line.dropFirst(6)) else { throw Failed(description: "bad line from server: \(line)") }
                return RTSPTestServer(port: bound, mounts: mounts, process: process, input: input.fileHandleForWriting, exited: exited)
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.terminate()
        throw Failed(description: "RTSP test server did not start on port \(port): \(lines.all)")
    }

    func uri(_ mount: String? = nil, credentials: String? = nil) -> String {
        "rtsp://\(credentials.map { $0 + "@" } ?? "")127.0.0.1:\(port)/\(mount ?? mounts[0])"
    }

    func stall() throws { try send("stall") }
    func resume() throws { try send("resume") }

    private func send(_ command: String) throws {
        try input.write(contentsOf: Data((command + "\n").utf8))
    }

    /// SIGKILL: the server vanishes mid-stream, as a crashed camera would.
    func kill() async {
        Foundation.kill(process.processIdentifier, SIGKILL)
        _ = await exited.value
    }

    func stop() async {
        if process.isRunning { process.terminate() }
        // SIGTERM normally does it; make sure, since a stuck server would hang the test.
        let deadline = ContinuousClock.now + .seconds(5)
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        _ = await exited.value
    }

    deinit {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }
}

/// Collects a child's output lines as they come.
final class LineReader: @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = Data()
    private var lines: [String] = []

    func append(_ data: Data) {
        lock.lock()
        defer { lock.unlock() }
        buffer.append(data)
        while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self))
            buffer.removeSubrange(buffer.startIndex...newline)
        }
    }

    func first(prefix: String) -> String? {
        lock.lock()
        defer { lock.unlock() }
        return lines.first { $0.hasPrefix(prefix) }
    }

    var all: String {
        lock.lock()
        defer { lock.unlock() }
        return lines.joined(separator: "\n")
    }
}

/// A port nobody listens on (for "server down"): bound by the kernel, then released.
func unusedPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw RTSPTestServer.Failed(description: "socket failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw RTSPTestServer.Failed(description: "bind failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}
