import Foundation
import SightlineCore

#if canImport(Glibc)
import Glibc
#endif

/// The one place `sightline` writes its output. Standard output is written with `write(2)`,
/// unbuffered, so that a pipe sees each line as it comes (`sightline tail | grep ...`); when the
/// reader has gone (`sightline tail | head -2`) the command ends quietly with status 0, as
/// coreutils do, instead of failing on the first write after it.
enum Output {
    /// Ignores SIGPIPE, so that a closed pipe or socket shows up as `EPIPE` on the write that
    /// met it; `line(_:)` turns that into a quiet exit. Called once, before any command runs.
    static func prepare() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// Writes `text` and a newline to standard output.
    static func line(_ text: String) {
        write(text + "\n", to: STDOUT_FILENO)
    }

    /// Writes `text` and a newline to standard error; a closed standard error is ignored.
    /// Masks credentials: an error may quote a camera's URI as it was typed.
    static func error(_ text: String) {
        write(maskingCredentials(text) + "\n", to: STDERR_FILENO)
    }

    /// Writes `text` to standard error as it is (progress bars redraw a line).
    static func errorText(_ text: String) {
        write(text, to: STDERR_FILENO)
    }

    private static func write(_ text: String, to fd: Int32) {
        let bytes = Array(text.utf8)
        // Swift's `print` may hold earlier output in stdio's buffer: flush it first so that
        // the order stays as written (ArgumentParser prints its help through it).
        fflush(nil)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n >= 0 {
                offset += n
            } else if errno == EINTR {
                continue
            } else {
                // EPIPE, or any other failure of the output: nothing more can be said there.
                if fd == STDOUT_FILENO { exit(0) }
                return
            }
        }
    }
}
