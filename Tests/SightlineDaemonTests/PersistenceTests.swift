import Foundation
import SightlineClient
import SightlineCore
import SightlineDaemon
import SightlineProtocol
import SightlineTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Streams and queries survive restarts and `kill -9`, with the real daemon process.
@Suite(.serialized) struct PersistenceTests {
    @Test func streamsAndQueriesSurviveARestart() async throws {
        let daemon = try DaemonProcess()
        defer { daemon.cleanUp() }
        try await daemon.start()
        let (streams, queries) = try await daemon.client { client in
            _ = try await client.request(.streamAdd(StreamSpec(id: "cam1", uri: "rtsp://127.0.0.1:1/none", fps: 1.5)))
            _ = try await client.request(.streamAdd(StreamSpec(uri: "/videos/a.mp4", loop: true)))
            _ = try await client.request(.queryAdd(QuerySpec(text: "a person riding a bike", streams: ["cam1"], threshold: 0.4, minDuration: 0.5)))
            let removed = try await client.request(.queryAdd(QuerySpec(text: "a white car")))
            _ = try await client.request(.queryRemove(id: removed["query"]!["id"]!.stringValue!))
            return (try await client.request(.streamList)["streams"], try await client.request(.queryList)["queries"])
        }
        #expect(streams?.arrayValue?.count == 2 && queries?.arrayValue?.count == 1)
        #expect(await daemon.stop() == 0)
        try await daemon.start()
        try await daemon.client { client in
            let listedStreams = try await client.request(.streamList)
            #expect(listedStreams["streams"] == streams)
            let listedQueries = try await client.request(.queryList)
            #expect(listedQueries["queries"] == queries)
        }
        #expect(await daemon.stop() == 0)
    }

    /// Killed with SIGKILL while changes are in flight: every change the daemon acknowledged
    /// is there after a restart, and the state file is whole.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func acknowledgedChangesSurviveKillNine(seed: UInt64) async throws {
        let daemon = try DaemonProcess()
        defer { daemon.cleanUp() }
        try await daemon.start()
        let acknowledged = AcknowledgedIDs()
        let socket = daemon.socket
        let writers = Task {
            await withTaskGroup(of: Void.self) { tasks in
                for writer in 0..<4 {
                    tasks.addTask {
                        _ = try? await DaemonClient.withConnection(socketPath: socket) { client in
                            for i in 0..<10_000 {
                                let result = try await client.request(.queryAdd(QuerySpec(text: "query \(writer)-\(i)")))
                                acknowledged.add(result["query"]!["id"]!.stringValue!)
                            }
                        }
                    }
                }
            }
        }
        // Let some changes land, then kill at a moment that depends on the seed.
        while acknowledged.count < 5 { try await Task.sleep(for: .milliseconds(5)) }
        try await Task.sleep(for: .milliseconds(Int(seed * 37 % 100)))
        await daemon.kill9()
        await writers.value
        let ids = acknowledged.all
        #expect(ids.count >= 5)
        try await daemon.start()
        let stored = try await daemon.client { client in
            Set((try await client.request(.queryList)["queries"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue })
        }
        #expect(ids.isSubset(of: stored), "lost \(ids.subtracting(stored).count) acknowledged queries")
        // At most the changes in flight when it died may be there unacknowledged.
        #expect(stored.count - ids.count <= 4)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: daemon.stateDirectory).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)
        #expect(await daemon.stop() == 0)
    }

    @Test func aDamagedStateFileStopsTheDaemonWithAClearMessage() async throws {
        let daemon = try DaemonProcess()
        defer { daemon.cleanUp() }
        try FileManager.default.createDirectory(atPath: daemon.stateDirectory, withIntermediateDirectories: true)
        let file = daemon.stateDirectory + "/state.json"
        try Data("{\"version\":1,\"streams\":[{\"id\":\"cam1\"".utf8).write(to: URL(fileURLWithPath: file))
        let result = try await ChildProcesses.run(DaemonProcess.executable("sightlined"), ["--socket", daemon.socket, "--state-dir", daemon.stateDirectory, "--model", DaemonProcess.tinyModel])
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(file) is damaged"))
        // Nothing was overwritten.
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "{\"version\":1,\"streams\":[{\"id\":\"cam1\"")
    }

    @Test func stateStoreWritesAtomicallyAndCleansLeftovers() throws {
        let directory = NSTemporaryDirectory() + "sightline-store-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: directory + "/state.json.tmp-1-2", contents: Data("half".utf8))
        let state = PersistedState(streams: [StreamRecord(id: "a", uri: "/a.mp4", fps: 2, created: Date(timeIntervalSince1970: 1))])
        do {
            let store = try StateStore(directory: directory)
            #expect(!FileManager.default.fileExists(atPath: directory + "/state.json.tmp-1-2"))
            #expect(try store.load() == PersistedState())
            try store.save(state)
            #expect(try store.load() == state)
            #expect(throws: SightlineError.self) { try StateStore(directory: directory) }
        }
        // The lock is released with the store. (Another test's child process, forked at the
        // moment the lock file was open, holds its descriptor until it execs: a brief wait.)
        var reopened: StateStore?
        for _ in 0..<40 where reopened == nil {
            reopened = try? StateStore(directory: directory)
            if reopened == nil { usleep(50_000) }
        }
        #expect(try #require(reopened, "the lock outlived its store").load() == state)
    }
}

final class AcknowledgedIDs: @unchecked Sendable {
    private let lock = NSLock()
    private var ids: Set<String> = []
    func add(_ id: String) { lock.withLock { _ = ids.insert(id) } }
    var count: Int { lock.withLock { ids.count } }
    var all: Set<String> { lock.withLock { ids } }
}
