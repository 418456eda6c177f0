// The kernels for any CPU: four lanes, SSE2 on x86-64.
#define LANES 4
#define KERNEL(name) CKernelsBaseline_##name
#include "kernels.inc"
