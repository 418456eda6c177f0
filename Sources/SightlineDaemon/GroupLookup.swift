import SightlineCore

#if canImport(Glibc)
import Glibc
#endif

/// The one place a group name becomes a gid, for the socket's owner group and the access
/// policy alike, so that both always agree on which group `socket.group` means.
/// `getgrnam_r` rather than `getgrnam`: its static buffer is shared by every thread.
func groupID(named name: String) throws(SightlineError) -> UInt32 {
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
        guard status == 0 else {
            throw SightlineError(.system, "socket.group: cannot look up group \"\(name)\": \(String(cString: strerror(status)))")
        }
        guard result != nil else { throw SightlineError(.invalidArgument, "socket.group: no group named \"\(name)\"") }
        return entry.gr_gid
    }
}
