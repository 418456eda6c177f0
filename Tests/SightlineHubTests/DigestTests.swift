import Foundation
import Testing
@testable import SightlineHub

@Suite struct DigestTests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func sha256KnownVectors(input: String, expected: String) {
        #expect(SHA256.hash(Array(input.utf8)).hexString == expected)
    }

    @Test(arguments: [
        ("", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ("abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
    ])
    func sha1KnownVectors(input: String, expected: String) {
        #expect(SHA1.hash(Array(input.utf8)).hexString == expected)
    }

    /// Lengths around the 64-byte block and the 56-byte padding boundary, compared with coreutils.
    @Test(arguments: [1, 55, 56, 57, 63, 64, 65, 119, 120, 1000, 100_003])
    func matchesCoreutils(length: Int) async throws {
        var generator = SystemRandomNumberGenerator()
        let data = Data((0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let sha256 = try await LocalHub.sha256sum(data)
        #expect(SHA256.hash(data).hexString == sha256)
        let blob = Data("blob \(data.count)\0".utf8) + data
        let blobID = try await LocalHub.gitBlobID(data)
        #expect(SHA1.hash(blob).hexString == blobID)
    }

    @Test func incrementalUpdatesMatchOneShot() {
        let data = Array((0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        var hasher = SHA256()
        var offset = 0
        for step in [1, 3, 64, 127, 500, 9_305] {
            hasher.update(data[offset..<offset + step])
            offset += step
        }
        #expect(offset == data.count)
        #expect(hasher.finalize() == SHA256.hash(data))
    }

    @Test func fileDigestsMatchCoreutils() async throws {
        let data = Data((0..<(FileDigest.chunkSize + 4321)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) })
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("digest-\(UUID().uuidString)")
        try data.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let sha256 = try await LocalHub.sha256sum(data)
        let blobID = try await LocalHub.gitBlobID(data)
        #expect(try FileDigest.sha256(of: file) == sha256)
        #expect(try FileDigest.gitBlobID(of: file) == blobID)
    }
}
