// The kernels for CPUs with AVX2 and FMA: eight lanes.
#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define LANES 8
#define KERNEL(name) CKernelsAVX2_##name
#include "kernels.inc"
#pragma clang attribute pop
#endif
