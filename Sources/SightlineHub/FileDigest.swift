import Foundation
import SightlineCore

/// Hashes of a file on disk, read in large chunks.
enum FileDigest {
    static let chunkSize = 4 << 20

    /// SHA-256 of the file, lowercase hex.
    static func sha256(of url: URL) throws -> String {
        var hasher = SHA256()
        try forEachChunk(of: url) { hasher.update(buffer: $0) }
        return hasher.finalize().hexString
    }

    /// The git blob id: SHA-1 over `blob <size>\0` and the content.
    static func gitBlobID(of url: URL) throws -> String {
        let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int64 ?? 0
        var hasher = SHA1()
        hasher.update(Array("blob \(size)\0".utf8))
        try forEachChunk(of: url) { hasher.update(buffer: $0) }
        return hasher.finalize().hexString
    }

    private static func forEachChunk(of url: URL, _ body: (UnsafeRawBufferPointer) -> Void) throws {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw SightlineError(.fileNotFound, "cannot read \(url.path) to check its hash", context: ["file": url.path])
        }
        defer { try? handle.close() }
        while true {
            let chunk = try handle.read(upToCount: chunkSize) ?? Data()
            if chunk.isEmpty { return }
            chunk.withUnsafeBytes(body)
        }
    }
}
