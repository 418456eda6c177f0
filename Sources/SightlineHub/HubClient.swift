import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import SightlineCore

/// Progress of one file's download.
public struct TransferProgress: Sendable {
    public var file: String
    /// Bytes on disk so far, including those kept from an earlier, interrupted transfer.
    public var bytes: Int64
    public var total: Int64
    /// Bytes that were already on disk when this transfer started (a resumed download).
    public var resumedFrom: Int64
}

/// A client for the two parts of the Hugging Face hub's HTTP interface that a pull needs:
/// `GET /api/models/<id>/revision/<rev>?blobs=true` (metadata with sizes and hashes) and
/// `GET /<id>/resolve/<commit>/<file>` (the file, redirected to storage for large files).
public struct HubClient: Sendable {
    public static let defaultEndpoint = URL(string: "https://huggingface.co")!

    public var endpoint: URL
    /// Sent as a bearer token, for gated or private repositories (`HF_TOKEN`).
    public var token: String?
    /// `HF_HUB_OFFLINE`: fail at once instead of trying the network.
    public var offline: Bool
    /// Longest silence on a connection before it counts as lost.
    public var timeout: TimeInterval = 30
    /// Tries per request when the network fails or the server errs (5xx); each retry of a
    /// download resumes from what is on disk.
    public var maxAttempts = 4
    /// Wait before the first retry; doubles for each later one.
    public var retryDelay: Duration = .seconds(1)
    public var logger: Logger

    public init(endpoint: URL = HubClient.defaultEndpoint, token: String? = nil, offline: Bool = false, logger: Logger) {
        self.endpoint = endpoint
        self.token = token
        self.offline = offline
        self.logger = logger
    }

    /// Reads `HF_ENDPOINT`, `HF_TOKEN` and `HF_HUB_OFFLINE` as huggingface_hub does.
    public init(environment: [String: String], logger: Logger) throws {
        var endpoint = Self.defaultEndpoint
        if let text = environment["HF_ENDPOINT"], !text.isEmpty {
            guard let url = URL(string: text.hasSuffix("/") ? String(text.dropLast()) : text), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
                throw SightlineError(.invalidArgument, "HF_ENDPOINT must be an http or https URL", context: ["HF_ENDPOINT": text])
            }
            endpoint = url
        }
        let token = environment["HF_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        let offline = ["1", "true", "yes", "on"].contains(environment["HF_HUB_OFFLINE"]?.lowercased() ?? "")
        self.init(endpoint: endpoint, token: token, offline: offline, logger: logger)
    }

    // MARK: Metadata

    /// The repository at `revision` (a branch, tag or commit), with every file's size and hash.
    public func repoInfo(_ repo: RepoID, revision: String = "main") async throws -> RepoInfo {
        let url = try makeURL(["api", "models"] + repo.pathComponents + ["revision", revision], query: "blobs=true")
        let json = try await withRetries("metadata of \(repo)") {
            let collected = Collected()
            let (head, errorBody) = try await request(url, headers: [:]) { try collected.append($0) }
            try check(head, errorBody: errorBody, repo: repo, revision: revision, file: nil)
            return collected.data
        }
        return try RepoInfo(repo: repo, json: json)
    }

    // MARK: Files

    /// Downloads `file` of `repo` at `commit` into `directory`, verified, and returns its path.
    ///
    /// The bytes go to `<name>.part` first; an interrupted transfer is resumed from there with
    /// an HTTP Range request (in this call's retries or a later call). Once the size and hash
    /// match the hub's metadata the file is renamed to `<name>`; a mismatch deletes the partial
    /// file and throws. A `<name>` already present was verified when placed and is kept.
    public func download(
        _ file: HubFile, of repo: RepoID, commit: String, into directory: URL,
        progress: @escaping @Sendable (TransferProgress) -> Void = { _ in }
    ) async throws -> URL {
        let final = directory.appendingPathComponent(file.name)
        if FileManager.default.fileExists(atPath: final.path) { return final }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let partial = directory.appendingPathComponent(file.name + ".part")
        let url = try makeURL(repo.pathComponents + ["resolve", commit, file.name], query: nil)
        let expected = ExpectedHash(file)
        let actual = try await withRetries("\(file.name) of \(repo)") {
            try await transfer(url, to: partial, file: file, repo: repo, commit: commit, expected: expected, progress: progress)
        }
        try Self.verify(partial, as: file, repo: repo, expected: expected, actual: actual)
        // The durable rename's fsyncs wait on the disk: off the cooperative pool.
        try await WorkerThread.shared.run { try AtomicFile.rename(partial.path, to: final.path) }
        return final
    }

    /// One attempt: appends to the partial file from where it ends. Returns the expected kind
    /// of hash of the complete partial file (nil when the hub gives none).
    private func transfer(_ url: URL, to partial: URL, file: HubFile, repo: RepoID, commit: String, expected: ExpectedHash?, progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> String? {
        var existing = Self.fileSize(partial) ?? 0
        if existing > file.size {
            try FileManager.default.removeItem(at: partial)
            existing = 0
        }
        if existing == file.size {
            // An earlier pull stopped between the last byte and the check: hash what is on disk.
            progress(TransferProgress(file: file.name, bytes: existing, total: file.size, resumedFrom: existing))
            guard let expected else { return nil }
            return try await WorkerThread.shared.run { try FileDigest.hash(of: partial, as: expected) }
        }
        if existing == 0 {
            guard FileManager.default.createFile(atPath: partial.path, contents: nil) else {
                throw SightlineError(.system, "cannot create \(partial.path)", context: ["file": partial.path])
            }
        }
        let writer = try PartialFile(url: partial, file: file.name, resumedFrom: existing, total: file.size, expected: expected, progress: progress)
        if existing > 0 {
            logger.info("resuming download", metadata: ["file": "\(file.name)", "from": "\(existing)", "size": "\(file.size)"])
        }
        let headers = existing > 0 ? ["Range": "bytes=\(existing)-"] : [:]
        let response: (HTTPHead, Data)
        do {
            response = try await request(url, headers: headers, onHead: { head in
                try writer.begin(status: head.status, contentRange: head.headers["content-range"])
            }, body: { try writer.write($0) })
        } catch {
            // What arrived stays on disk for the next attempt to resume from.
            try? await WorkerThread.shared.run { writer.close() }
            throw error
        }
        let (head, errorBody) = response
        // The fsync of a large file waits on the disk: off the cooperative pool.
        try await WorkerThread.shared.run { writer.close() }
        if head.status == 416 {
            // The server holds fewer bytes than the partial file: start over.
            try? FileManager.default.removeItem(at: partial)
            throw TransientFailure(SightlineError(.hubError, "the server refused to resume \(file.name); starting it again", context: ["file": file.name]))
        }
        try check(head, errorBody: errorBody, repo: repo, revision: commit, file: file.name)
        let written = writer.size
        if written < file.size {
            throw TransientFailure(SightlineError(.hubUnreachable, "the transfer of \(file.name) ended after \(written) of \(file.size) bytes", context: ["file": file.name]))
        }
        return writer.finishHash()
    }

    /// Checks the size on disk and the hash computed while the bytes arrived; a mismatch
    /// deletes the partial file so that the next pull starts clean.
    private static func verify(_ partial: URL, as file: HubFile, repo: RepoID, expected: ExpectedHash?, actual: String?) throws {
        let size = fileSize(partial) ?? -1
        guard size == file.size else {
            try? FileManager.default.removeItem(at: partial)
            throw SightlineError(.integrity, "\(file.name) of \(repo) is \(size) bytes, the hub says \(file.size); the download was deleted, pull again", context: ["file": file.name, "repo": "\(repo)"])
        }
        guard let expected else { return }
        guard let actual, actual == expected.value else {
            try? FileManager.default.removeItem(at: partial)
            throw SightlineError(.integrity, "\(file.name) of \(repo) does not match the hub's \(expected.name); the download was deleted, pull again", context: ["file": file.name, "expected": expected.value, "actual": actual ?? "none"])
        }
    }

    // MARK: HTTP

    private func request(
        _ url: URL, headers: [String: String],
        onHead: @escaping @Sendable (HTTPHead) throws -> Void = { _ in },
        body: @escaping @Sendable (Data) throws -> Void
    ) async throws -> (HTTPHead, Data) {
        guard !offline else {
            throw SightlineError(.hubUnreachable, "offline mode (HF_HUB_OFFLINE) is set, so the hub at \(endpoint.absoluteString) is not contacted", context: ["url": url.absoluteString])
        }
        var all = headers
        all["User-Agent"] = "sightline/0.1"
        if let token { all["Authorization"] = "Bearer \(token)" }
        do {
            return try await HTTPTransfer.get(url, headers: all, timeout: timeout, onHead: onHead, body: body)
        } catch let error as URLError {
            throw classify(error, url: url)
        }
    }

    /// A hub that cannot be reached at all (no network, no name, refused, bad certificate) is
    /// reported at once; anything else (a transfer that broke off, a timeout; libcurl's
    /// "transfer closed" arrives as `.unknown`) is retried, resuming what arrived.
    private func classify(_ error: URLError, url: URL) -> Error {
        let host = endpoint.absoluteString
        let context = ["url": url.absoluteString, "code": "\(error.code.rawValue)"]
        let reason: String
        switch error.code {
        case .cannotConnectToHost: reason = "connection refused"
        case .cannotFindHost, .dnsLookupFailed: reason = "host not found"
        case .notConnectedToInternet: reason = "no network"
        case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateNotYetValid, .serverCertificateHasUnknownRoot:
            reason = "TLS failed: \(error.localizedDescription)"
        default:
            return TransientFailure(SightlineError(.hubUnreachable, "the connection to the Hugging Face hub at \(host) was lost (\(error.localizedDescription)); pulling again resumes the download", context: context))
        }
        return SightlineError(.hubUnreachable, "cannot reach the Hugging Face hub at \(host) (\(reason)); when this machine is offline, copy a checkpoint directory here and name it by path instead, or set HF_ENDPOINT to a mirror", context: context)
    }

    /// Turns an HTTP error status into the error a user can act on.
    private func check(_ head: HTTPHead, errorBody: Data, repo: RepoID, revision: String, file: String?) throws {
        guard !(200..<300).contains(head.status) else { return }
        let serverMessage = (try? JSONDecoder().decode([String: String].self, from: errorBody))?["error"]
            ?? String(decoding: errorBody.prefix(300), as: UTF8.self)
        var context = ["repo": "\(repo)", "status": "\(head.status)"]
        if let file { context["file"] = file }
        if !serverMessage.isEmpty { context["server"] = serverMessage }
        let code = head.headers["x-error-code"]
        let subject = file ?? "the metadata of \(repo)"
        if code == "RepoNotFound" || (code == nil && file == nil && [401, 404].contains(head.status)) {
            throw SightlineError(.hubNotFound, "repository \(repo) was not found on \(endpoint.absoluteString) (if it is private or gated, set HF_TOKEN)", context: context)
        }
        if code == "RevisionNotFound" {
            throw SightlineError(.hubNotFound, "revision \(revision) was not found in \(repo)", context: context)
        }
        if code == "EntryNotFound" || head.status == 404 {
            throw SightlineError(.hubNotFound, "\(file ?? "a file") was not found in \(repo) at \(revision)", context: context)
        }
        if code == "GatedRepo" || [401, 403].contains(head.status) {
            throw SightlineError(.hubError, "\(repo) needs authorisation: accept its terms on the hub and set HF_TOKEN", context: context)
        }
        if head.status == 429 || (500..<600).contains(head.status) {
            throw TransientFailure(SightlineError(.hubError, "the hub answered \(head.status) for \(subject)", context: context))
        }
        throw SightlineError(.hubError, "the hub answered \(head.status) for \(subject)", context: context)
    }

    private func withRetries<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await body()
            } catch let failure as TransientFailure {
                guard attempt < maxAttempts else { throw failure.error }
                let delay = retryDelay * (1 << (attempt - 1))
                logger.warning("retrying", metadata: ["what": "\(what)", "attempt": "\(attempt + 1)/\(maxAttempts)", "error": "\(failure.error.message)"])
                try await Task.sleep(for: delay)
                attempt += 1
            }
        }
    }

    private func makeURL(_ segments: [String], query: String?) throws -> URL {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let path = segments.map { $0.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0 }.joined(separator: "/")
        let base = endpoint.absoluteString.hasSuffix("/") ? String(endpoint.absoluteString.dropLast()) : endpoint.absoluteString
        guard let url = URL(string: base + "/" + path + (query.map { "?" + $0 } ?? "")) else {
            throw SightlineError(.invalidArgument, "cannot form a hub URL", context: ["path": path])
        }
        return url
    }

    static func fileSize(_ url: URL) -> Int64? {
        (try? FileManager.default.attributesOfItem(atPath: url.path))?[.size].flatMap { ($0 as? NSNumber)?.int64Value }
    }
}

/// A failure worth another attempt (network, server error, short transfer).
struct TransientFailure: Error {
    var error: SightlineError
    init(_ error: SightlineError) { self.error = error }
}

/// A small body gathered in memory (metadata JSON), bounded.
private final class Collected: @unchecked Sendable {
    // Appended only from the transfer's serial delegate queue, read after it completes.
    private(set) var data = Data()
    static let limit = 32 << 20

    func append(_ chunk: Data) throws {
        guard data.count + chunk.count <= Self.limit else {
            throw SightlineError(.hubError, "the hub's metadata answer is larger than \(Self.limit >> 20) MiB")
        }
        data.append(chunk)
    }
}
