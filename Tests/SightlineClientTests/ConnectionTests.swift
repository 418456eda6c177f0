import Foundation
import SightlineClient
import SightlineCore
import SightlineProtocol
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The client's own side of a connection on real sockets: what it says when there is no
/// daemon, when the peer is not one it can talk to, and that waiting reads neither hold the
/// cooperative pool nor outlive a cancelled task. Talking to the real daemon is tested in
/// SightlineDaemonTests, which start `sightlined`.
@Suite(.serialized) struct ConnectionTests {
    @Test func aMissingSocketSaysNoDaemonIsListening() async throws {
        let path = "/tmp/sightline-none-\(getpid())/absent.sock"
        let error = try await #require(throws: SightlineError.self) {
            try await DaemonClient.withConnection(socketPath: path) { _ in }
        }
        #expect(error.code == .unavailable)
        #expect(error.message.contains("no sightlined is listening on \(path)"))
    }

    @Test func aSocketNobodyListensOnSaysTheSame() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/stale.sock"
        // Bound and closed without listening: the file a crashed daemon leaves behind.
        let fd = try PeerSocket.bind(path)
        close(fd)
        let error = try await #require(throws: SightlineError.self) {
            try await DaemonClient.withConnection(socketPath: path) { _ in }
        }
        #expect(error.code == .unavailable && error.message.contains("no sightlined is listening"), "\(error)")
    }

    @Test func aPathTooLongForASocketAddressIsNamed() async throws {
        let path = "/tmp/" + String(repeating: "x", count: 200) + ".sock"
        let error = try await #require(throws: SightlineError.self) {
            try await DaemonClient.withConnection(socketPath: path) { _ in }
        }
        #expect(error.code == .invalidArgument && error.context["socket"] == path)
    }

    @Test(arguments: [
        ("", "closed the connection before greeting"),
        (#"{"event":"hello","protocol":99,"server":"sightlined","version":"9.0"}"# + "\n", "speaks protocol 99"),
        (#"{"id":null,"ok":false,"error":{"code":"too_many_connections","message":"the daemon already serves 1 connections"}}"# + "\n",
         "already serves 1"),
    ])
    func aPeerItCannotTalkToIsRefused(greeting: String, says: String) async throws {
        let peer = try PeerSocket(greeting: greeting, thenClose: true)
        defer { peer.stop() }
        do {
            try await DaemonClient.withConnection(socketPath: peer.path) { _ in }
            Issue.record("connected to a peer that sent \(greeting.debugDescription)")
        } catch let error as SightlineError {
            #expect(error.message.contains(says), "\(error)")
            if greeting.contains("too_many_connections") { #expect(error.code == .tooManyConnections) }
        }
    }

    /// Eight clients wait at once for an event that never comes. Were a waiting read to hold a
    /// thread of the cooperative pool (two threads here), nothing else could run: the test,
    /// its time limit and the whole test process would stall (which is how a regression here
    /// shows). Cancelling must then end every wait with a CancellationError.
    @Test(.timeLimit(.minutes(1))) func waitingReadsLeaveThePoolFreeAndEndOnCancel() async throws {
        let hello = JSONWriter.string(ServerHello(version: "test").json) + "\n"
        let peer = try PeerSocket(greeting: hello, thenClose: false)
        defer { peer.stop() }
        let waiting = 8
        let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
        let outcomes = Task {
            await withTaskGroup(of: String.self) { group in
                for _ in 0..<waiting {
                    group.addTask {
                        // Yields on every path, so that a client that fails is reported, not waited for.
                        defer { startedContinuation.yield() }
                        do {
                            try await DaemonClient.withConnection(socketPath: peer.path) { client in
                                startedContinuation.yield()
                                _ = try await client.nextEvent()
                            }
                            return "returned"
                        } catch is CancellationError {
                            return "cancelled"
                        } catch {
                            return "\(error)"
                        }
                    }
                }
                var outcomes: [String] = []
                for await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
        }
        var count = 0
        for await _ in started {
            count += 1
            if count == waiting { break }
        }
        // Every client is connected and about to wait; give each time to block in its read.
        try await Task.sleep(for: .milliseconds(200))
        // Work that needs the pool still runs while they wait.
        let sum = await withTaskGroup(of: Int.self) { group in
            for i in 1...100 { group.addTask { i } }
            return await group.reduce(0, +)
        }
        #expect(sum == 5050)
        #expect(peer.acceptedCount == waiting)
        outcomes.cancel()
        let results = await outcomes.value
        #expect(results == Array(repeating: "cancelled", count: waiting))
    }

    @Test func readsRepliesSplitAcrossWritesAndKeepsEventsThatComeFirst() async throws {
        let hello = JSONWriter.string(ServerHello(version: "test").json) + "\n"
        // The event and the reply arrive in pieces that cut lines in the middle.
        let script = hello + #"{"event":"lagged","dropped":3}"# + "\n" + #"{"id":1,"ok":true,"result":{"streams":[]}}"# + "\n"
        let peer = try PeerSocket(greeting: script, thenClose: false, chunk: 7)
        defer { peer.stop() }
        try await DaemonClient.withConnection(socketPath: peer.path) { client in
            #expect(client.hello.version == "test")
            let result = try await client.request(.streamList)
            #expect(result["streams"] == [])
            let event = try #require(try await client.nextEvent())
            #expect(event["event"] == "lagged" && event["dropped"] == 3)
        }
    }
}

/// A directory under /tmp, removed when released.
final class TemporaryDirectory {
    let path: String
    init() throws {
        // Short: a Unix socket path holds at most 107 bytes.
        path = "/tmp/slc-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A listening Unix socket that writes a fixed script to each connection (in pieces of
/// `chunk` bytes) and then closes it or keeps it open: the peers a daemon never is.
final class PeerSocket: @unchecked Sendable {
    let path: String
    private let directory: TemporaryDirectory
    private let listener: Int32
    // Guarded by `lock`.
    private let lock = NSLock()
    private var accepted: [Int32] = []
    private var stopping = false
    private let exited = DispatchSemaphore(value: 0)

    var acceptedCount: Int { lock.withLock { accepted.count } }

    init(greeting: String, thenClose: Bool, chunk: Int = 1 << 16) throws {
        directory = try TemporaryDirectory()
        path = directory.path + "/peer.sock"
        listener = try Self.bind(path)
        guard listen(listener, 16) == 0 else { throw SightlineError(.system, "listen: \(errno)") }
        let listener = listener
        let bytes = Array(greeting.utf8)
        let thread = Thread { [self] in
            defer { exited.signal() }
            while true {
                let fd = accept(listener, nil, nil)
                guard fd >= 0 else { return }
                if lock.withLock({ stopping }) {
                    close(fd)
                    return
                }
                var offset = 0
                while offset < bytes.count {
                    let n = min(chunk, bytes.count - offset)
                    let written = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, n, Int32(MSG_NOSIGNAL)) }
                    if written <= 0 { break }
                    offset += written
                    // Separate writes, so that the client sees separate reads.
                    usleep(2_000)
                }
                if thenClose { close(fd) } else { lock.withLock { accepted.append(fd) } }
            }
        }
        thread.start()
    }

    /// Stops accepting and closes every connection. The listener is closed only once the
    /// accepting thread has gone, or it could accept on a later test's socket given the same number.
    func stop() {
        lock.withLock { stopping = true }
        Glibc.shutdown(listener, Int32(SHUT_RDWR))
        exited.wait()
        close(listener)
        lock.withLock {
            for fd in accepted { close(fd) }
            accepted = []
        }
    }

    static func bind(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        // Bound without listening (a crashed daemon's file), so not UnixSocketAddress.bind().
        let result = try UnixSocketAddress(path).withSockaddr { Glibc.bind(fd, $0, $1) }
        guard fd >= 0, result == 0 else { throw SightlineError(.system, "cannot bind \(path): \(errno)") }
        return fd
    }
}
