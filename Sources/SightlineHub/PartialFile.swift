import Foundation
import SightlineCore

/// The `.part` file of one download, appended to and hashed as the body arrives, so that a
/// large checkpoint is not read from disk again to verify it.
///
/// Used from the transfer's serial delegate queue only (and closed after the transfer ends),
/// hence `@unchecked Sendable`.
final class PartialFile: @unchecked Sendable {
    private let handle: FileHandle
    private let url: URL
    private let file: String
    private let total: Int64
    private let progress: @Sendable (TransferProgress) -> Void
    private var resumedFrom: Int64
    private(set) var size: Int64
    private var lastReport = ContinuousClock.now
    private let expected: ExpectedHash?
    /// The hash of the bytes on disk so far; nil until the response says where they start.
    private var digest: Digest?

    init(url: URL, file: String, resumedFrom: Int64, total: Int64, expected: ExpectedHash?, progress: @escaping @Sendable (TransferProgress) -> Void) throws {
        guard let handle = FileHandle(forWritingAtPath: url.path) else {
            throw SightlineError(.system, "cannot open \(url.path) for writing", context: ["file": url.path])
        }
        self.handle = handle
        self.url = url
        self.file = file
        self.total = total
        self.progress = progress
        self.resumedFrom = resumedFrom
        self.size = resumedFrom
        self.expected = expected
        try handle.seek(toOffset: UInt64(resumedFrom))
        try handle.truncate(atOffset: UInt64(resumedFrom))
    }

    /// Checks that the response continues the file where it ends; a plain 200 (the server
    /// ignored the Range) starts it over.
    func begin(status: Int, contentRange: String?) throws {
        switch status {
        case 206:
            // "bytes <first>-<last>/<total>"
            let first = contentRange?.split(separator: " ").last?.split(separator: "-").first.flatMap { Int64($0) }
            guard first == resumedFrom else {
                throw SightlineError(.hubError, "the server resumed \(file) at the wrong offset", context: ["file": file, "content-range": contentRange ?? "none", "expected": "\(resumedFrom)"])
            }
            // The kept bytes are hashed once, here, on the delegate queue; the rest as it arrives.
            if let expected {
                let digest = expected.start()
                try FileDigest.feed(url, upTo: resumedFrom, into: digest)
                self.digest = digest
            }
        case 200..<300:
            if resumedFrom > 0 {
                try handle.seek(toOffset: 0)
                try handle.truncate(atOffset: 0)
                resumedFrom = 0
                size = 0
            }
            digest = expected?.start()
        default:
            return
        }
        progress(TransferProgress(file: file, bytes: size, total: total, resumedFrom: resumedFrom))
    }

    func write(_ data: Data) throws {
        do {
            try handle.write(contentsOf: data)
        } catch {
            throw SightlineError(.system, "cannot write \(url.path): \(error.localizedDescription)", context: ["file": url.path])
        }
        size += Int64(data.count)
        data.withUnsafeBytes { digest?.update($0) }
        let now = ContinuousClock.now
        if now - lastReport >= .milliseconds(100) || size == total {
            lastReport = now
            progress(TransferProgress(file: file, bytes: size, total: total, resumedFrom: resumedFrom))
        }
    }

    /// The hash of the whole file as written, once the transfer has ended; nil when there is
    /// nothing to check or no 2xx response arrived.
    func finishHash() -> String? {
        defer { digest = nil }
        return digest?.finalize()
    }

    /// Flushes the file to disk (blocking: the caller runs it off the cooperative pool) and
    /// closes it.
    func close() {
        try? handle.synchronize()
        try? handle.close()
    }
}
