import Foundation
import SightlineCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct UnixSocketAddressTests {
    /// A listener and a client made from the same address exchange bytes through the kernel.
    static func exchange(_ address: UnixSocketAddress) throws -> String {
        let listener = try address.bind()
        defer { close(listener) }
        let client = try address.connect()
        defer { close(client) }
        let served = accept(listener, nil, nil)
        #expect(served >= 0)
        defer { close(served) }
        let message = Array("hello\n".utf8)
        _ = message.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var buffer = [UInt8](repeating: 0, count: 16)
        let n = buffer.withUnsafeMutableBytes { recv(served, $0.baseAddress, $0.count, 0) }
        return String(decoding: buffer.prefix(max(n, 0)), as: UTF8.self)
    }

    @Test func aPathSocketCarriesBytes() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(try Self.exchange(UnixSocketAddress(directory.file("s.sock"))) == "hello\n")
        #expect(FileManager.default.fileExists(atPath: directory.file("s.sock")))
    }

    @Test func anAbstractNameCarriesBytesAndLeavesNoFile() throws {
        let name = "@sightline-test-\(UUID().uuidString.prefix(8))"
        #expect(try Self.exchange(UnixSocketAddress(name, abstractNames: true)) == "hello\n")
        #expect(!FileManager.default.fileExists(atPath: name))
    }

    /// Where abstract names are not asked for (the daemon's socket), `@x` is a file named so,
    /// as NIO binds it: the address starts with the `@`, not with the abstract NUL.
    @Test func anAtSignIsAFileNameUnlessAbstractNamesAreAsked() throws {
        func firstByte(_ address: UnixSocketAddress) -> UInt8 {
            address.withSockaddr { pointer, _ in
                pointer.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { un in
                    withUnsafeBytes(of: un.pointee.sun_path) { $0[0] }
                }
            }
        }
        #expect(firstByte(try UnixSocketAddress("@file.sock")) == UInt8(ascii: "@"))
        #expect(firstByte(try UnixSocketAddress("@name", abstractNames: true)) == 0)
    }

    /// 107 bytes and its NUL fill `sun_path` exactly: that path binds; one byte more is refused
    /// before the kernel could cut it short.
    @Test func thePathThatFillsTheAddressBindsAndALongerOneIsRefused() throws {
        #expect(UnixSocketAddress.capacity == 108)
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let longest = directory.path + "/" + String(repeating: "s", count: 107 - directory.path.utf8.count - 1)
        #expect(longest.utf8.count == 107)
        let listener = try UnixSocketAddress(longest).bind()
        close(listener)
        #expect(FileManager.default.fileExists(atPath: longest))

        let tooLong = longest + "x"
        #expect {
            try UnixSocketAddress(tooLong)
        } throws: { error in
            let error = error as! SightlineError
            return error.code == .invalidArgument && error.message.contains("108 bytes") && error.message.contains("at most 107")
                && error.context["socket"] == tooLong
        }
    }

    @Test(arguments: ["", "/tmp/a\u{0}b"]) func anEmptyPathOrANulByteIsRefused(path: String) {
        #expect(throws: SightlineError.self) { try UnixSocketAddress(path) }
    }

    @Test func connectingWhereNobodyListensNamesThePath() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("nobody.sock")
        #expect {
            try UnixSocketAddress(path).connect()
        } throws: { error in
            let error = error as! SightlineError
            return error.code == .system && error.context["socket"] == path && error.message.contains("No such file")
        }
    }
}
