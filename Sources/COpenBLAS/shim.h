#ifndef SIGHTLINE_COPENBLAS_SHIM_H
#define SIGHTLINE_COPENBLAS_SHIM_H
// Debian's OpenBLAS ships cblas.h under an include path that openblas.pc names
// (there is no cblas.pc), so the target takes its flags from pkg-config "openblas".
#include <cblas.h>

// openblas_set_num_threads is declared in cblas.h; wrapped so the thread count is set on purpose
// from Swift without depending on OpenBLAS's own header layout.
static inline void COpenBLAS_setThreads(int n) { openblas_set_num_threads(n); }
static inline int COpenBLAS_threads(void) { return openblas_get_num_threads(); }
#endif
