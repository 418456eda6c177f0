import Foundation
import Logging
import SightlineCore
import Testing
@testable import SightlineHub

/// A checkpoint in Hugging Face layout made by the test: the hub client does not parse the
/// weights, so their bytes need only be distinct and of a realistic shape of transfer.
func makeCheckpoint(weights: Int = 300_000, modelType: String = "clip") -> [String: (Data, lfs: Bool)] {
    var state: UInt64 = 0x9e37_79b9_7f4a_7c15
    let bytes = (0..<weights).map { _ -> UInt8 in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return UInt8(truncatingIfNeeded: state >> 33)
    }
    return [
        "config.json": (Data(#"{"model_type":"\#(modelType)","projection_dim":32}"#.utf8), false),
        "vocab.json": (Data(#"{"a</w>":0,"b</w>":1}"#.utf8), false),
        "merges.txt": (Data("#version: 0.2\na b\n".utf8), false),
        "model.safetensors": (Data(bytes), true),
        "README.md": (Data("not downloaded\n".utf8), false),
    ]
}

/// A hub, a store in a temporary directory, and a client with short retries.
struct PullFixture {
    let hub: LocalHub
    let store: ModelStore
    let temporary: URL
    var client: HubClient
    let repo: RepoID
    let commit = "0123456789abcdef0123456789abcdef01234567"
    let files: [String: (Data, lfs: Bool)]

    init(modelType: String = "clip") async throws {
        hub = try await LocalHub()
        temporary = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-hub-\(UUID().uuidString)")
        let logger = Logger(label: "test")
        store = ModelStore(root: temporary.appendingPathComponent("models"), logger: logger)
        client = HubClient(endpoint: hub.endpoint, logger: logger)
        client.retryDelay = .milliseconds(10)
        client.timeout = 10
        repo = try RepoID("openai/tiny-clip")
        files = makeCheckpoint(modelType: modelType)
        try await hub.add(repo: "\(repo)", commit: commit, files: files)
    }

    func finish() async throws {
        try await hub.shutdown()
        try? FileManager.default.removeItem(at: temporary)
    }

    var weights: Data { files["model.safetensors"]!.0 }
    var partial: URL { store.directory(for: repo).appendingPathComponent("downloads/\(commit)/model.safetensors.part") }

    func expectComplete(_ directory: URL) throws {
        for name in ["config.json", "vocab.json", "merges.txt", "model.safetensors"] {
            #expect(try Data(contentsOf: directory.appendingPathComponent(name)) == files[name]!.0, "\(name)")
        }
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("README.md").path))
        #expect(!FileManager.default.fileExists(atPath: store.directory(for: repo).appendingPathComponent("downloads").path))
        #expect(store.checkpoint(for: repo)?.path == directory.path)
    }
}

@Suite struct PullTests {
    @Test func pullsVerifiesAndPlacesACheckpoint() async throws {
        let f = try await PullFixture()
        let events = EventLog()
        let dir = try await f.store.pull(f.repo, client: f.client) { events.add($0) }
        try f.expectComplete(dir)
        #expect(dir.lastPathComponent == f.commit)
        let record = try #require(f.store.record(for: f.repo))
        #expect(record.commit == f.commit && record.revision == "main")
        #expect(events.verified == ["config.json", "vocab.json", "merges.txt", "model.safetensors"])
        // The weights were fetched through the LFS redirect, in one request.
        #expect(f.hub.requests.filter { $0.path.hasPrefix("/lfs-storage/") }.count == 1)

        // Pulling again finds the same commit and downloads nothing.
        f.hub.clearRequests()
        let again = try await f.store.pull(f.repo, client: f.client) { events.add($0) }
        #expect(again.path == dir.path)
        #expect(events.upToDate == 1)
        #expect(f.hub.requests.map(\.path).allSatisfy { $0.hasPrefix("/api/") })

        // By commit hash as revision.
        _ = try await f.store.pull(f.repo, revision: f.commit, client: f.client)
        try await f.finish()
    }

    @Test func resumesATransferCutInTheMiddle() async throws {
        let f = try await PullFixture()
        let half = f.weights.count / 2
        f.hub.setFaults(.init(cut: ["model.safetensors": (half, 1)]))
        let dir = try await f.store.pull(f.repo, client: f.client)
        try f.expectComplete(dir)
        let transfers = f.hub.requests.filter { $0.path.hasPrefix("/lfs-storage/") }
        #expect(transfers.map(\.range) == [nil, "bytes=\(half)-"])
        try await f.finish()
    }

    @Test func keepsThePartialFileAcrossFailedPullsAndResumesLater() async throws {
        var f = try await PullFixture()
        f.client.maxAttempts = 2
        let cut = f.weights.count / 3
        f.hub.setFaults(.init(cut: ["model.safetensors": (cut, 2)]))
        let error = await #expect(throws: SightlineError.self) { try await f.store.pull(f.repo, client: f.client) }
        #expect(error?.code == .hubUnreachable)
        #expect(f.store.checkpoint(for: f.repo) == nil)
        // The second attempt resumed from the first cut and was cut again, after as many bytes.
        #expect(HubClient.fileSize(f.partial) == Int64(2 * cut))
        #expect(try f.store.list().map(\.state) == [.partial])

        f.hub.clearRequests()
        f.hub.setFaults(.init())
        let dir = try await f.store.pull(f.repo, client: f.client)
        try f.expectComplete(dir)
        #expect(f.hub.requests.filter { $0.path.hasPrefix("/lfs-storage/") }.map(\.range) == ["bytes=\(2 * cut)-"])
        // Files verified before the failure were not fetched again.
        #expect(!f.hub.requests.contains { $0.path.hasSuffix("/config.json") })
        try await f.finish()
    }

    @Test func startsOverWhenTheServerIgnoresTheRange() async throws {
        var f = try await PullFixture()
        f.client.maxAttempts = 1
        f.hub.setFaults(.init(cut: ["model.safetensors": (1000, 1)]))
        await #expect(throws: SightlineError.self) { try await f.store.pull(f.repo, client: f.client) }
        #expect(HubClient.fileSize(f.partial) == 1000)
        f.hub.setFaults(.init(ignoreRange: true))
        let dir = try await f.store.pull(f.repo, client: f.client)
        try f.expectComplete(dir)
        try await f.finish()
    }

    @Test func refusesAFileWhoseHashDoesNotMatch() async throws {
        let f = try await PullFixture()
        f.hub.setFaults(.init(corrupt: ["model.safetensors"]))
        let error = await #expect(throws: SightlineError.self) { try await f.store.pull(f.repo, client: f.client) }
        #expect(error?.code == .integrity)
        #expect(error?.message.contains("SHA-256") == true)
        let expected = try await LocalHub.sha256sum(f.weights)
        #expect(error?.context["expected"] == expected)
        #expect(!FileManager.default.fileExists(atPath: f.partial.path))
        #expect(f.store.checkpoint(for: f.repo) == nil)

        // Files verified before the failure are kept; start from an empty store so that a
        // small git-tracked file is downloaded again, corrupted.
        try await f.store.remove(f.repo)
        f.hub.setFaults(.init(corrupt: ["vocab.json"]))
        let small = await #expect(throws: SightlineError.self) { try await f.store.pull(f.repo, client: f.client) }
        #expect(small?.code == .integrity && small?.context["file"] == "vocab.json")
        #expect(small?.message.contains("git blob id") == true)

        f.hub.setFaults(.init())
        try f.expectComplete(try await f.store.pull(f.repo, client: f.client))
        try await f.finish()
    }

    /// The hash is computed while the bytes arrive; what a resumed download kept on disk is
    /// hashed from the disk, so a partial file damaged between two pulls is caught.
    @Test func refusesAResumedDownloadWhoseKeptBytesChanged() async throws {
        var f = try await PullFixture()
        f.client.maxAttempts = 1
        f.hub.setFaults(.init(cut: ["model.safetensors": (f.weights.count / 3, 1)]))
        await #expect(throws: SightlineError.self) { try await f.store.pull(f.repo, client: f.client) }
        try flipFirstByte(of: f.partial)
        f.hub.setFaults(.init())
        let error = await #expect(throws: SightlineError.self) { try await f.store.pull(f.repo, client: f.client) }
        #expect(error?.code == .integrity && error?.context["file"] == "model.safetensors")
        #expect(!FileManager.default.fileExists(atPath: f.partial.path))
        try f.expectComplete(try await f.store.pull(f.repo, client: f.client))
        try await f.finish()
    }

    /// A partial file already at full size (a pull stopped before its check) is hashed from disk
    /// and placed without a transfer when it matches; refused and deleted when it does not.
    @Test func checksACompletePartialFileWithoutDownloadingIt() async throws {
        let f = try await PullFixture()
        let metadata = try await f.client.repoInfo(f.repo)
        try FileManager.default.createDirectory(at: f.partial.deletingLastPathComponent(), withIntermediateDirectories: true)
        try f.weights.write(to: f.partial)
        try flipFirstByte(of: f.partial)
        let error = await #expect(throws: SightlineError.self) { try await f.store.pull(f.repo, client: f.client) }
        #expect(error?.code == .integrity && error?.context["file"] == "model.safetensors")
        #expect(!FileManager.default.fileExists(atPath: f.partial.path))

        try FileManager.default.createDirectory(at: f.partial.deletingLastPathComponent(), withIntermediateDirectories: true)
        try f.weights.write(to: f.partial)
        f.hub.clearRequests()
        try f.expectComplete(try await f.store.pull(f.repo, client: f.client))
        #expect(!f.hub.requests.contains { $0.path.hasPrefix("/lfs-storage/") })
        #expect(metadata.commit == f.commit)
        try await f.finish()
    }

    private func flipFirstByte(of url: URL) throws {
        var data = try Data(contentsOf: url)
        data[0] ^= 0xff
        try data.write(to: url)
    }

    @Test func retriesServerErrors() async throws {
        let f = try await PullFixture()
        f.hub.setFaults(.init(unavailable: 2))
        try f.expectComplete(try await f.store.pull(f.repo, client: f.client))
        try await f.finish()
    }

    @Test func namesWhatTheHubDoesNotHave() async throws {
        let f = try await PullFixture()
        let repo = await #expect(throws: SightlineError.self) { try await f.store.pull(RepoID("nobody/nothing"), client: f.client) }
        #expect(repo?.code == .hubNotFound && repo?.message.contains("nobody/nothing") == true)

        let revision = await #expect(throws: SightlineError.self) { try await f.store.pull(f.repo, revision: "v9", client: f.client) }
        #expect(revision?.code == .hubNotFound && revision?.message.contains("revision v9") == true)

        f.hub.setFaults(.init(missing: ["merges.txt"]))
        let file = await #expect(throws: SightlineError.self) { try await f.store.pull(f.repo, client: f.client) }
        #expect(file?.code == .hubNotFound && file?.context["file"] == "merges.txt")
        #expect(try f.store.list().allSatisfy { $0.state != .complete })
        try await f.finish()
    }

    @Test func refusesModelsOfAnotherFamilyBeforeTheWeights() async throws {
        let f = try await PullFixture(modelType: "bert")
        let error = await #expect(throws: SightlineError.self) { try await f.store.pull(f.repo, client: f.client) }
        #expect(error?.code == .modelMismatch && error?.message.contains("'bert'") == true)
        #expect(!f.hub.requests.contains { $0.path.contains("model.safetensors") })
        try await f.finish()
    }

    @Test func saysSoWhenTheHubIsDown() async throws {
        let f = try await PullFixture()
        let port = f.hub.port
        try await f.hub.shutdown()
        let error = await #expect(throws: SightlineError.self) { try await f.store.pull(f.repo, client: f.client) }
        #expect(error?.code == .hubUnreachable)
        #expect(error?.message.contains("127.0.0.1:\(port)") == true)
        #expect(error?.message.contains("connection refused") == true)
        try? FileManager.default.removeItem(at: f.temporary)
    }

    @Test func offlineModeNeverTouchesTheNetwork() async throws {
        let f = try await PullFixture()
        let client = try HubClient(environment: ["HF_ENDPOINT": f.hub.endpoint.absoluteString, "HF_HUB_OFFLINE": "1"], logger: Logger(label: "test"))
        let error = await #expect(throws: SightlineError.self) { try await f.store.pull(f.repo, client: client) }
        #expect(error?.code == .hubUnreachable && error?.message.contains("HF_HUB_OFFLINE") == true)
        #expect(f.hub.requests.isEmpty)
        try await f.finish()
    }

    @Test func sendsTheTokenToTheHub() async throws {
        let f = try await PullFixture()
        var client = try HubClient(environment: ["HF_ENDPOINT": f.hub.endpoint.absoluteString + "/", "HF_TOKEN": "hf_secret"], logger: Logger(label: "test"))
        client.retryDelay = .milliseconds(10)
        try f.expectComplete(try await f.store.pull(f.repo, client: client))
        try await f.finish()
    }

    @Test func refusesConcurrentPullsOfOneModel() async throws {
        let f = try await PullFixture()
        let base = f.store.directory(for: f.repo)
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        let held = try DirectoryLock(path: base.appendingPathComponent(".lock").path, purpose: "test")
        let error = await #expect(throws: SightlineError.self) { try await f.store.pull(f.repo, client: f.client) }
        #expect(error?.message.contains("another sightline process") == true)
        withExtendedLifetime(held) {}
        try await f.finish()
    }

    @Test func listsAndRemovesModels() async throws {
        let f = try await PullFixture()
        try await f.store.pull(f.repo, client: f.client)
        let placed = f.store.root.appendingPathComponent("by-hand")
        try FileManager.default.createDirectory(at: placed, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: placed.appendingPathComponent("config.json"))

        let models = try f.store.list()
        #expect(models.map(\.name) == ["by-hand", "openai/tiny-clip"])
        #expect(models.map(\.state) == [.placed, .complete])
        #expect(models[1].bytes >= Int64(f.weights.count))
        #expect(models[1].record?.commit == f.commit)

        try await f.store.remove(f.repo)
        #expect(try f.store.list().map(\.name) == ["by-hand"])
        #expect(!FileManager.default.fileExists(atPath: f.store.root.appendingPathComponent("openai").path))
        let error = await #expect(throws: SightlineError.self) { try await f.store.remove(f.repo) }
        #expect(error?.code == .fileNotFound)
        try await f.finish()
    }
}

final class EventLog: Sendable {
    private let events = Mutex<[PullEvent]>([])
    func add(_ event: PullEvent) { events.withLock { $0.append(event) } }
    var verified: [String] {
        events.withLock { $0.compactMap { if case .verified(let file) = $0 { return file } else { return nil } } }
    }
    var upToDate: Int {
        events.withLock { $0.filter { if case .upToDate = $0 { return true } else { return false } }.count }
    }
}

import Synchronization
