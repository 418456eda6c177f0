import Foundation
import Testing
@testable import SightlineHub
import SightlineCore

@Suite struct DigestTests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func sha256KnownVectors(input: String, expected: String) {
        #expect(Digest.hash(.sha256, Array(input.utf8)) == expected)
    }

    @Test(arguments: [
        ("", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ("abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
    ])
    func sha1KnownVectors(input: String, expected: String) {
        #expect(Digest.hash(.sha1, Array(input.utf8)) == expected)
    }

    @Test func incrementalUpdatesMatchOneShot() {
        let data = Array((0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let digest = Digest(.sha256)
        var offset = 0
        for step in [1, 3, 64, 127, 500, 9_305] {
            digest.update(data[offset..<offset + step])
            offset += step
        }
        #expect(offset == data.count)
        #expect(digest.finalize() == Digest.hash(.sha256, data))
    }

    /// Whole files, and a file's first bytes (a resumed download hashes what it kept), against
    /// coreutils and git.
    @Test func fileHashesMatchCoreutilsAndGit() async throws {
        let data = Data((0..<(FileDigest.chunkSize + 4321)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) })
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("digest-\(UUID().uuidString)")
        try data.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let sha256 = try await LocalHub.sha256sum(data)
        let blobID = try await LocalHub.gitBlobID(data)
        let lfs = try #require(ExpectedHash(HubFile(name: "model.safetensors", size: Int64(data.count), sha256: sha256)))
        let blob = try #require(ExpectedHash(HubFile(name: "config.json", size: Int64(data.count), gitBlobID: blobID)))
        #expect(try FileDigest.hash(of: file, as: lfs) == sha256)
        #expect(try FileDigest.hash(of: file, as: blob) == blobID)

        let head = data.prefix(1000)
        let digest = Digest(.sha256)
        try FileDigest.feed(file, upTo: 1000, into: digest)
        #expect(digest.finalize() == (try await LocalHub.sha256sum(head)))
    }

    @Test func aFileShorterThanItsExpectedStartIsAnError() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("digest-\(UUID().uuidString)")
        try Data(count: 10).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(throws: SightlineError.self) { try FileDigest.feed(file, upTo: 11, into: Digest(.sha256)) }
        #expect(throws: SightlineError.self) { try FileDigest.feed(file.appendingPathExtension("missing"), into: Digest(.sha1)) }
    }

    @Test func aFileWithNoPublishedHashHasNothingToCheck() {
        #expect(ExpectedHash(HubFile(name: "README.md", size: 3)) == nil)
    }
}
