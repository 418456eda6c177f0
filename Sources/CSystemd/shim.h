#ifndef SIGHTLINE_CSYSTEMD_SHIM_H
#define SIGHTLINE_CSYSTEMD_SHIM_H
// libsystemd's daemon helpers. The sd_notify protocol itself is spoken natively in Swift
// (its environment is injected there so that it is testable in-process); libsystemd is used
// for what depends on the real process: the sockets passed by socket activation and whether
// systemd is the running service manager.
#include <systemd/sd-daemon.h>
#include <sys/socket.h>
#include <stdlib.h>

/// The first file descriptor passed by socket activation (SD_LISTEN_FDS_START, a macro).
static inline int CSystemd_listenFdsStart(void) { return SD_LISTEN_FDS_START; }

/// Number of sockets passed to this process; fills *names with a NULL-terminated array
/// that the caller releases with CSystemd_freeNames. The environment is left as it is:
/// LISTEN_PID names this process, so children ignore the variables, and unsetenv would race
/// with threads that read the environment.
static inline int CSystemd_listenFdsWithNames(char ***names) {
    return sd_listen_fds_with_names(0, names);
}

static inline void CSystemd_freeNames(char **names) {
    if (names == NULL) return;
    for (char **p = names; *p != NULL; p++) free(*p);
    free(names);
}

/// 1 when fd is a listening Unix stream socket, 0 when it is not, negative errno on failure.
static inline int CSystemd_isListeningUnixStream(int fd) {
    return sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0);
}

/// 1 when the system was booted with systemd as PID 1 (/run/systemd/system exists).
static inline int CSystemd_booted(void) { return sd_booted(); }
#endif
