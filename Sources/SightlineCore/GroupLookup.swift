#if canImport(Glibc)
import Glibc
#endif

/// The gid of the group called `name`, or nil when there is none: the one place a group name
/// becomes a gid (the socket's group, the access policy, installation), so that every part
/// agrees on which group a name means. `getgrnam_r` rather than `getgrnam`, whose static
/// buffer is shared by every thread.
public func lookUpGroup(named name: String) throws(SightlineError) -> UInt32? {
    var entry = group()
    var result: UnsafeMutablePointer<group>?
    var size = max(Int(sysconf(Int32(_SC_GETGR_R_SIZE_MAX))), 1024)
    while true {
        var buffer = [CChar](repeating: 0, count: size)
        let status = getgrnam_r(name, &entry, &buffer, size, &result)
        if status == ERANGE, size < 1 << 20 {
            size *= 4
            continue
        }
        // Some C libraries report "no such group" as ENOENT (or ESRCH...) rather than a nil result.
        if result == nil, status == 0 || status == ENOENT || status == ESRCH || status == EBADF || status == EPERM { return nil }
        guard status == 0 else {
            throw SightlineError(.system, "cannot look up group \"\(name)\": \(String(cString: strerror(status)))", context: ["group": name])
        }
        return entry.gr_gid
    }
}
