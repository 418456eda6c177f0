#if canImport(Glibc)
import Glibc
#endif

extension SightlineError {
    /// The current `errno` as a system error naming the call's purpose and its path, for the
    /// file and socket helpers of this module.
    public static func failedCall(_ what: String, path: String, key: String = "file") -> SightlineError {
        failedCall(what, path: path, key: key, code: errno)
    }

    /// `code` (an `errno` value) as a system error naming the call's purpose and its path.
    public static func failedCall(_ what: String, path: String, key: String = "file", code: Int32) -> SightlineError {
        SightlineError(.system, "\(what) \(path): \(String(cString: strerror(code)))", context: [key: path, "errno": String(code)])
    }
}
