import Foundation
import SightlineCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct AtomicFileTests {
    static func contents(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    static func leftovers(_ directory: TemporaryDirectory) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.contains(".tmp-") }
    }

    @Test func writesAFileWithItsModeAndLeavesNoTemporaryFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("state.json")
        try AtomicFile.write(Array("one\n".utf8), to: path, mode: 0o640)
        #expect(Self.contents(path) == "one\n")
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o640)
        #expect(Self.leftovers(directory).isEmpty)
    }

    /// The new contents arrive under a new inode: a reader that opened the old file keeps
    /// reading it whole, never a mix.
    @Test func replacingKeepsTheOldFileWholeForAReaderThatHasItOpen() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("unit")
        try AtomicFile.write(Array("old contents\n".utf8), to: path)
        let reader = try #require(FileHandle(forReadingAtPath: path))
        defer { try? reader.close() }
        try AtomicFile.write(Array("new\n".utf8), to: path)
        #expect(String(decoding: try reader.readToEnd() ?? Data(), as: UTF8.self) == "old contents\n")
        #expect(Self.contents(path) == "new\n")
        #expect(Self.leftovers(directory).isEmpty)
    }

    @Test func replacingIntoAMissingDirectoryIsAnErrorNamingItAndCreatesNothing() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("gone/state.json")
        #expect {
            try AtomicFile.write(Array("x".utf8), to: path)
        } throws: { error in
            let error = error as! SightlineError
            return error.code == .fileNotFound && error.context["directory"] == directory.file("gone") && error.context["file"] == path
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

    @Test func aProducerThatFailsLeavesTheOldFileAndNoTemporaryFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("picture.png")
        try AtomicFile.write(Array("old".utf8), to: path)
        #expect(throws: SightlineError(.media, "encoder failed")) {
            try AtomicFile.replace(path) { temporary throws(SightlineError) in
                _ = FileManager.default.createFile(atPath: temporary, contents: Data("half".utf8))
                throw SightlineError(.media, "encoder failed")
            }
        }
        #expect(Self.contents(path) == "old")
        #expect(Self.leftovers(directory).isEmpty)
    }

    /// A model store's `current` link is swapped the same way.
    @Test func aSymlinkIsReplacedByRenamingANewLinkOverIt() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let current = directory.file("current")
        try FileManager.default.createSymbolicLink(atPath: current, withDestinationPath: "snapshots/a")
        try AtomicFile.replace(current) { temporary throws(SightlineError) in
            guard symlink("snapshots/b", temporary) == 0 else { throw SightlineError.failedCall("symlink", path: temporary) }
        }
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: current) == "snapshots/b")
        #expect(Self.leftovers(directory).isEmpty)
    }

    @Test func renamingAFileThatIsNotThereNamesIt() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(throws: SightlineError.self) { try AtomicFile.rename(directory.file("nothing"), to: directory.file("b")) }
    }

    @Test func leftoversOfACrashAreRemovedAndNothingElse() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("state.json")
        for name in ["state.json.tmp-1-2", "state.json.tmp-3-4", "state.json", "other.tmp-1-2", "lock"] {
            _ = FileManager.default.createFile(atPath: directory.file(name), contents: Data())
        }
        AtomicFile.removeLeftovers(of: path)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["lock", "other.tmp-1-2", "state.json"])
    }
}
