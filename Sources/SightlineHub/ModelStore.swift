import Foundation
import Logging
import SightlineCore

/// What a pull records beside the checkpoint files.
public struct PullRecord: Sendable, Codable, Equatable {
    public var repo: RepoID
    public var revision: String
    public var commit: String
    public var files: [HubFile]
    public var pulledAt: Date
    public var endpoint: String
}

/// A model found in a store.
public struct StoredModel: Sendable, Equatable {
    public enum State: String, Sendable {
        /// Pulled and verified; `directory` is the checkpoint.
        case complete
        /// A pull that has not finished; `sightline model pull` resumes it.
        case partial
        /// A checkpoint directory placed by hand (or installed with Sightline), not pulled.
        case placed
    }
    public var name: String
    public var directory: URL
    public var state: State
    public var bytes: Int64
    public var record: PullRecord?
}

/// Steps of a pull, for progress display.
public enum PullEvent: Sendable {
    case resolved(RepoInfo, files: [HubFile])
    case upToDate(commit: String)
    case transfer(TransferProgress)
    case verified(file: String)
}

/// A directory of checkpoints pulled from the hub.
///
/// Layout, per repository `owner/name`:
///
///     <root>/owner/name/current -> snapshots/<commit>      the checkpoint (symlink)
///     <root>/owner/name/snapshots/<commit>/                config.json, model.safetensors, ...
///     <root>/owner/name/downloads/<commit>/<file>.part      interrupted downloads, resumed
///
/// A pull downloads and verifies into `downloads/<commit>`, renames that directory into
/// `snapshots/`, then swaps `current` with a rename: a reader sees the old checkpoint or the
/// new one, never a mix, and a running daemon keeps the files it has mapped.
public struct ModelStore: Sendable {
    /// Model families the engine runs (`model_type` in config.json).
    public static let supportedModelTypes: Set<String> = ["clip"]

    public let root: URL
    public var logger: Logger

    public init(root: URL, logger: Logger) {
        self.root = root
        self.logger = logger
    }

    /// The store a pull writes to and a daemon looks in first:
    /// `SIGHTLINE_MODEL_DIR` when set; `$STATE_DIRECTORY/models` for a service (systemd sets
    /// it from `StateDirectory=`); `/var/lib/sightline/models` for root, so that
    /// `sudo sightline model pull` serves the system service; else the user's cache,
    /// `$XDG_CACHE_HOME/sightline/models` or `~/.cache/sightline/models`.
    public static func defaultRoot(environment: [String: String], userID: UInt32) -> URL {
        if let dir = environment["SIGHTLINE_MODEL_DIR"], !dir.isEmpty { return URL(fileURLWithPath: dir) }
        if let dirs = environment["STATE_DIRECTORY"], let first = dirs.split(separator: ":").first {
            return URL(fileURLWithPath: String(first)).appendingPathComponent("models")
        }
        if userID == 0 { return systemRoot }
        if let cache = environment["XDG_CACHE_HOME"], cache.hasPrefix("/") {
            return URL(fileURLWithPath: cache).appendingPathComponent("sightline/models")
        }
        if let home = environment["HOME"], home.hasPrefix("/") {
            return URL(fileURLWithPath: home).appendingPathComponent(".cache/sightline/models")
        }
        return systemRoot
    }

    /// The system service's store (`StateDirectory=sightline`).
    public static let systemRoot = URL(fileURLWithPath: "/var/lib/sightline/models")

    public func directory(for repo: RepoID) -> URL {
        repo.pathComponents.reduce(root) { $0.appendingPathComponent($1) }
    }

    /// The pulled checkpoint of `repo`, nil when it has none.
    public func checkpoint(for repo: RepoID) -> URL? {
        let current = directory(for: repo).appendingPathComponent("current")
        let resolved = current.resolvingSymlinksInPath()
        guard resolved.path != current.path, FileManager.default.fileExists(atPath: resolved.appendingPathComponent("config.json").path) else { return nil }
        return resolved
    }

    /// The record of the pulled checkpoint of `repo`.
    public func record(for repo: RepoID) -> PullRecord? {
        guard let dir = checkpoint(for: repo) else { return nil }
        return Self.readRecord(in: dir)
    }

    // MARK: Pull

    /// Downloads `repo` at `revision` into the store, or does nothing when the revision
    /// resolves to the commit already there. Returns the checkpoint directory.
    @discardableResult
    public func pull(
        _ repo: RepoID, revision: String = "main", client: HubClient,
        events: @escaping @Sendable (PullEvent) -> Void = { _ in }
    ) async throws -> URL {
        let base = directory(for: repo)
        let created = Self.missingDirectories(upTo: base)
        do {
            try createDirectory(base)
            let lock = try await DirectoryLock.acquire(path: base.appendingPathComponent(".lock").path, purpose: "pulling or removing \(repo)")
            defer { withExtendedLifetime(lock) {} }
            do {
                return try await pullLocked(repo, revision: revision, client: client, base: base, events: events)
            } catch {
                // Nothing pulled, nothing to resume: the lock file goes while it is still held.
                Self.pruneEmptyFolders(in: base)
                if Self.isEmpty(base, ignoring: [".lock"]) {
                    try? FileManager.default.removeItem(at: base.appendingPathComponent(".lock"))
                }
                throw error
            }
        } catch {
            Self.removeEmpty(created)
            throw error
        }
    }

    /// The directories from the first missing ancestor of `directory` down to it.
    static func missingDirectories(upTo directory: URL) -> [URL] {
        var missing: [URL] = []
        var dir = directory.standardizedFileURL
        while dir.path != "/", !FileManager.default.fileExists(atPath: dir.path) {
            missing.append(dir)
            dir = dir.deletingLastPathComponent()
        }
        return missing
    }

    /// After a failed pull: empty folders under the first of `created` (a download that never
    /// started), then each of `created` that is empty, deepest first. Partial downloads stay,
    /// so that the next pull resumes them.
    static func removeEmpty(_ created: [URL]) {
        guard let deepest = created.first else { return }
        pruneEmptyFolders(in: deepest)
        for dir in created where isEmpty(dir, ignoring: []) {
            try? FileManager.default.removeItem(at: dir)
        }
    }

    static func pruneEmptyFolders(in dir: URL) {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: dir.path)) ?? [] {
            let child = dir.appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: child.path, isDirectory: &isDirectory), isDirectory.boolValue,
                  (try? fm.destinationOfSymbolicLink(atPath: child.path)) == nil else { continue }
            pruneEmptyFolders(in: child)
            if isEmpty(child, ignoring: []) { try? fm.removeItem(at: child) }
        }
    }

    static func isEmpty(_ dir: URL, ignoring: Set<String>) -> Bool {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return false }
        return names.allSatisfy { ignoring.contains($0) }
    }

    private func pullLocked(
        _ repo: RepoID, revision: String, client: HubClient, base: URL,
        events: @escaping @Sendable (PullEvent) -> Void
    ) async throws -> URL {
        let info = try await client.repoInfo(repo, revision: revision)
        let files = try info.checkpointFiles()
        let snapshot = base.appendingPathComponent("snapshots").appendingPathComponent(info.commit)
        if let current = checkpoint(for: repo), current.standardizedFileURL.path == snapshot.standardizedFileURL.path {
            events(.upToDate(commit: info.commit))
            return current
        }
        events(.resolved(info, files: files))

        let staging = base.appendingPathComponent("downloads").appendingPathComponent(info.commit)
        if !FileManager.default.fileExists(atPath: snapshot.path) {
            for file in files {
                let placed = try await client.download(file, of: repo, commit: info.commit, into: staging) { events(.transfer($0)) }
                events(.verified(file: file.name))
                if file.name == "config.json" { try Self.checkModelType(placed, repo: repo) }
            }
        }
        let record = PullRecord(repo: repo, revision: revision, commit: info.commit, files: files, pulledAt: Date(), endpoint: client.endpoint.absoluteString)
        // The fsyncs of the renames and the removal of old snapshots block on the disk: off
        // the cooperative pool.
        try await WorkerThread.shared.run {
            if !FileManager.default.fileExists(atPath: snapshot.path) {
                try Self.writeRecord(record, in: staging)
                try createDirectory(snapshot.deletingLastPathComponent())
                try AtomicFile.rename(staging.path, to: snapshot.path)
            }
            try swapCurrent(in: base, to: "snapshots/\(info.commit)")
            removeEverything(in: base.appendingPathComponent("snapshots"), except: info.commit)
            removeEverything(in: base.appendingPathComponent("downloads"), except: nil)
        }
        logger.info("model pulled", metadata: ["repo": "\(repo)", "commit": "\(info.commit)", "directory": "\(snapshot.path)"])
        return snapshot
    }

    private func swapCurrent(in base: URL, to target: String) throws {
        let current = base.appendingPathComponent("current").path
        try AtomicFile.replace(current) { temporary throws(SightlineError) in
            do {
                try FileManager.default.createSymbolicLink(atPath: temporary, withDestinationPath: target)
            } catch {
                throw SightlineError(.system, "cannot create the link \(temporary): \(error.localizedDescription)", context: ["file": temporary])
            }
        }
    }

    private func removeEverything(in directory: URL, except keep: String?) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] where name != keep {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        }
        if (try? FileManager.default.contentsOfDirectory(atPath: directory.path))?.isEmpty == true {
            try? FileManager.default.removeItem(at: directory)
        }
    }

    static func checkModelType(_ config: URL, repo: RepoID) throws {
        let data = try Data(contentsOf: config)
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw SightlineError(.invalidFile, "config.json of \(repo) is not a JSON object", context: ["file": config.path])
        }
        let type = object["model_type"] as? String ?? "(none)"
        guard supportedModelTypes.contains(type) else {
            throw SightlineError(.modelMismatch, "\(repo) is a '\(type)' model; Sightline runs \(supportedModelTypes.sorted().joined(separator: ", ")) checkpoints", context: ["repo": "\(repo)", "model_type": type])
        }
    }

    static let recordName = "sightline-pull.json"

    static func writeRecord(_ record: PullRecord, in directory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try AtomicFile.write(Array(try encoder.encode(record)), to: directory.appendingPathComponent(recordName).path)
    }

    static func readRecord(in directory: URL) -> PullRecord? {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent(recordName)) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(PullRecord.self, from: data)
    }

    // MARK: List and remove

    /// Every model in the store: pulled, partially pulled, or placed by hand.
    public func list() throws -> [StoredModel] {
        guard FileManager.default.fileExists(atPath: root.path) else { return [] }
        var found: [StoredModel] = []
        for first in try visibleEntries(root) {
            let firstURL = root.appendingPathComponent(first)
            if let model = model(at: firstURL, name: first) {
                found.append(model)
                continue
            }
            for second in (try? visibleEntries(firstURL)) ?? [] {
                if let model = model(at: firstURL.appendingPathComponent(second), name: "\(first)/\(second)") { found.append(model) }
            }
        }
        return found.sorted { $0.name < $1.name }
    }

    private func model(at dir: URL, name: String) -> StoredModel? {
        let fm = FileManager.default
        if let repo = try? RepoID(name), let checkpoint = checkpoint(for: repo) {
            return StoredModel(name: name, directory: checkpoint, state: .complete, bytes: Self.size(of: checkpoint), record: Self.readRecord(in: checkpoint))
        }
        if fm.fileExists(atPath: dir.appendingPathComponent("config.json").path) {
            return StoredModel(name: name, directory: dir, state: .placed, bytes: Self.size(of: dir), record: nil)
        }
        let downloads = dir.appendingPathComponent("downloads")
        if fm.fileExists(atPath: downloads.path) {
            return StoredModel(name: name, directory: downloads, state: .partial, bytes: Self.size(of: downloads), record: nil)
        }
        return nil
    }

    /// Deletes `repo` from the store: its checkpoint, older snapshots and partial downloads.
    public func remove(_ repo: RepoID) async throws {
        let base = directory(for: repo)
        guard FileManager.default.fileExists(atPath: base.path) else {
            throw SightlineError(.fileNotFound, "\(repo) is not in the model store \(root.path)", context: ["repo": "\(repo)", "store": root.path])
        }
        do {
            let lock = try await DirectoryLock.acquire(path: base.appendingPathComponent(".lock").path, purpose: "pulling or removing \(repo)")
            // Removing the directory with its lock file inside: a pull that starts meanwhile
            // locks a new file, which is harmless because this one is gone.
            try FileManager.default.removeItem(at: base)
            withExtendedLifetime(lock) {}
        }
        let owner = base.deletingLastPathComponent()
        if owner.path != root.path, (try? FileManager.default.contentsOfDirectory(atPath: owner.path))?.isEmpty == true {
            try? FileManager.default.removeItem(at: owner)
        }
        logger.info("model removed", metadata: ["repo": "\(repo)", "store": "\(root.path)"])
    }

    private func visibleEntries(_ dir: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".") }.sorted()
    }

    private func createDirectory(_ url: URL) throws {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw SightlineError(.system, "cannot create \(url.path): \(error.localizedDescription)", context: ["directory": url.path])
        }
    }

    static func size(of dir: URL) -> Int64 {
        var total: Int64 = 0
        let enumerator = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: [.fileSizeKey, .isRegularFileKey])
        while let url = enumerator?.nextObject() as? URL {
            let values = try? url.resourceValues(forKeys: [.fileSizeKey, .isRegularFileKey])
            if values?.isRegularFile == true { total += Int64(values?.fileSize ?? 0) }
        }
        return total
    }
}
