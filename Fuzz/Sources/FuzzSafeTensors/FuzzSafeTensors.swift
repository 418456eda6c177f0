// The safetensors reader on a file whose bytes are the input: a file in /dev/shm, unlinked
// once open and reopened by its /proc/self/fd path, so that each run maps a real file as the
// loader does without touching the disk or leaving files behind. Errors are expected; only a trap or a sanitizer report is a finding.
import Foundation
import SightlineCore

#if canImport(Glibc)
import Glibc
#endif

private let memoryFile: Int32 = {
    let directory = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
    let path = "\(directory)/sightline-fuzz-\(getpid()).safetensors"
    let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    precondition(fd >= 0, "cannot create \(path)")
    unlink(path)
    return fd
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    precondition(ftruncate(memoryFile, 0) == 0)
    var written = 0
    while written < count {
        let n = pwrite(memoryFile, start + written, count - written, off_t(written))
        precondition(n > 0, "pwrite failed")
        written += n
    }
    guard let file = try? SafeTensorsFile(path: "/proc/self/fd/\(memoryFile)") else { return 0 }
    // Every entry the reader accepted must lie inside the file: touch its first and last byte
    // (ASan or a SIGBUS reports one that does not) and release its pages as the loader does.
    for entry in file.tensors.values where entry.byteCount > 0 {
        let bytes = file.bytes(of: entry).assumingMemoryBound(to: UInt8.self)
        precondition(entry.offset >= 8 && entry.offset + entry.byteCount <= count)
        _ = bytes[0] &+ bytes[entry.byteCount - 1]
        file.release(entry)
    }
    return 0
}
