import Foundation
import SightlineCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct LockFileTests {
    /// util-linux `flock` takes the lock and runs `cat`, which echoes a line once the lock is
    /// held and exits when its input closes, releasing the lock.
    @Test(.timeLimit(.minutes(1))) func aLockHeldByAnotherProcessIsBusyUntilThatProcessLetsGo() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("lock")
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = ["--exclusive", "--close", path, "cat"]
        let input = Pipe(), output = Pipe()
        holder.standardInput = input
        holder.standardOutput = output
        try holder.run()
        try input.fileHandleForWriting.write(contentsOf: Data("held\n".utf8))
        let echoed = try await WorkerThread.shared.run { output.fileHandleForReading.availableData }
        #expect(String(decoding: echoed, as: UTF8.self) == "held\n")

        #expect(try LockFile.tryLock(path) == nil)

        try input.fileHandleForWriting.close()
        try await WorkerThread.shared.run { holder.waitUntilExit() }
        #expect(holder.terminationStatus == 0)
        let lock = try #require(try LockFile.tryLock(path))
        #expect(lock.path == path)
    }

    @Test func theLockIsReleasedWithItsObject() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("lock")
        var first = try LockFile.tryLock(path, mode: 0o640)
        #expect(first != nil)
        // flock belongs to the open file: a second open in this process is refused too.
        #expect(try LockFile.tryLock(path) == nil)
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o640)
        first = nil
        #expect(try LockFile.tryLock(path) != nil)
    }

    @Test func aLockFileThatCannotBeCreatedIsAnErrorNamingIt() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("missing/lock")
        #expect {
            try LockFile.tryLock(path)
        } throws: { error in
            let error = error as! SightlineError
            return error.code == .system && error.context["file"] == path && error.message.contains("No such file")
        }
    }
}
