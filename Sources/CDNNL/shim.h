#ifndef SIGHTLINE_CDNNL_SHIM_H
#define SIGHTLINE_CDNNL_SHIM_H
// oneDNN 2.6 from Debian's libdnnl-dev: no pkg-config file, headers under /usr/include/oneapi/dnnl.
#include <oneapi/dnnl/dnnl.h>

// Debian builds oneDNN on OpenMP (libgomp). Each engine compute thread runs its own share of a
// product, as with OpenBLAS, so oneDNN must not start an OpenMP team of its own from it: the
// thread count is an OpenMP setting of the calling thread. Declared here rather than through
// omp.h, which lives in GCC's private include directory.
extern void omp_set_num_threads(int);
static inline void CDNNL_singleThreadedCaller(void) { omp_set_num_threads(1); }

// Macros Swift cannot import: a dimension given at execution, and "allocate for me".
static const dnnl_dim_t CDNNL_runtimeDimension = DNNL_RUNTIME_DIM_VAL;
static inline void *CDNNL_allocate(void) { return DNNL_MEMORY_ALLOCATE; }
#endif
