import Foundation
import SightlineCore

/// The hash the hub publishes for a file, and how to compute one to compare with it.
struct ExpectedHash: Sendable {
    var algorithm: Digest.Algorithm
    /// Lowercase hex, as the hub's metadata gives it.
    var value: String
    /// For messages: "SHA-256" or "git blob id".
    var name: String
    /// Bytes hashed before the content: git hashes a blob as `blob <size>\0<content>`.
    var prefix: [UInt8]

    /// The file's LFS SHA-256 when it has one, else its git blob id, else nil (nothing to check).
    init?(_ file: HubFile) {
        if let sha256 = file.sha256 {
            self.init(algorithm: .sha256, value: sha256, name: "SHA-256", prefix: [])
        } else if let blob = file.gitBlobID {
            self.init(algorithm: .sha1, value: blob, name: "git blob id", prefix: Array("blob \(file.size)\0".utf8))
        } else {
            return nil
        }
    }

    init(algorithm: Digest.Algorithm, value: String, name: String, prefix: [UInt8]) {
        self.algorithm = algorithm
        self.value = value
        self.name = name
        self.prefix = prefix
    }

    /// A digest that has taken the prefix and waits for the content.
    func start() -> Digest {
        let digest = Digest(algorithm)
        digest.update(prefix)
        return digest
    }
}

/// Hashing what is already on disk, read in large chunks. Blocking: call it off the
/// cooperative pool.
enum FileDigest {
    static let chunkSize = 4 << 20

    /// Feeds the file's first `limit` bytes (all of it when nil) to `digest`.
    static func feed(_ url: URL, upTo limit: Int64? = nil, into digest: Digest) throws {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw SightlineError(.fileNotFound, "cannot read \(url.path) to check its hash", context: ["file": url.path])
        }
        defer { try? handle.close() }
        var remaining = limit ?? Int64.max
        while remaining > 0 {
            let chunk = try handle.read(upToCount: Int(min(Int64(chunkSize), remaining))) ?? Data()
            if chunk.isEmpty { break }
            chunk.withUnsafeBytes { digest.update($0) }
            remaining -= Int64(chunk.count)
        }
        if let limit, remaining > 0 {
            throw SightlineError(.integrity, "\(url.path) is shorter than the \(limit) bytes expected", context: ["file": url.path])
        }
    }

    /// The expected kind of hash of the whole file, in hex.
    static func hash(of url: URL, as expected: ExpectedHash) throws -> String {
        let digest = expected.start()
        try feed(url, into: digest)
        return digest.finalize()
    }
}
