// Chooses the kernels' copy for this CPU once, when the program loads, and forwards to it.
#include "CKernels.h"

#include <stdlib.h>
#include <string.h>

#define DECLARE(prefix)                                                                                           \
    void prefix##_layerNorm(long, long, const float *, long, float *, long, const float *, const float *, float); \
    void prefix##_addBias(long, long, float *, long, const float *, int);                                         \
    void prefix##_softmaxNumerators(long, long, float *, long, int, float *);                                     \
    void prefix##_scaleRows(long, long, float *, long, const float *);                                            \
    void prefix##_quantizeRows(long, long, const float *, long, uint8_t *, float *, int32_t *, float);            \
    void prefix##_dequantize(long, long, const int32_t *, const float *, const int32_t *, const float *,          \
                             const int32_t *, const float *, float *, long, int);                                 \
    void prefix##_toBFloat16(long, long, const float *, long, uint16_t *);                                        \
    void prefix##_addRows(long, long, const float *, const float *, float *, long);                               \
    void prefix##_l2Normalize(long, long, float *);

DECLARE(CKernelsBaseline)
#if defined(__x86_64__)
DECLARE(CKernelsAVX2)
#endif

static int useAVX2;

/// `SIGHTLINE_KERNELS=x86-64` keeps the baseline copy on any CPU: to compare the two, as
/// oneDNN's `DNNL_MAX_CPU_ISA` does for its kernels.
__attribute__((constructor)) static void choose(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    const char *asked = getenv("SIGHTLINE_KERNELS");
    useAVX2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && !(asked && strcmp(asked, "x86-64") == 0);
#endif
}

#if defined(__x86_64__)
#define FORWARD(name, ...) \
    if (useAVX2) CKernelsAVX2_##name(__VA_ARGS__); else CKernelsBaseline_##name(__VA_ARGS__)
#else
#define FORWARD(name, ...) CKernelsBaseline_##name(__VA_ARGS__)
#endif

void CKernels_layerNorm(long rows, long dim, const float *input, long inputStride, float *output, long outputStride,
                        const float *gamma, const float *beta, float eps) {
    FORWARD(layerNorm, rows, dim, input, inputStride, output, outputStride, gamma, beta, eps);
}

void CKernels_addBias(long rows, long dim, float *data, long stride, const float *bias, int activation) {
    FORWARD(addBias, rows, dim, data, stride, bias, activation);
}

void CKernels_softmaxNumerators(long rows, long columns, float *data, long stride, int causal, float *inverseSums) {
    FORWARD(softmaxNumerators, rows, columns, data, stride, causal, inverseSums);
}

void CKernels_scaleRows(long rows, long columns, float *data, long stride, const float *factors) {
    FORWARD(scaleRows, rows, columns, data, stride, factors);
}

void CKernels_quantizeRows(long rows, long columns, const float *input, long inputStride, uint8_t *output,
                           float *scales, int32_t *zeroPoints, float levels) {
    FORWARD(quantizeRows, rows, columns, input, inputStride, output, scales, zeroPoints, levels);
}

void CKernels_dequantize(long rows, long columns, const int32_t *accumulators, const float *rowScales,
                         const int32_t *zeroPoints, const float *columnScales, const int32_t *sums, const float *bias,
                         float *output, long outputStride, int accumulate) {
    FORWARD(dequantize, rows, columns, accumulators, rowScales, zeroPoints, columnScales, sums, bias, output, outputStride,
            accumulate);
}

void CKernels_toBFloat16(long rows, long columns, const float *input, long inputStride, uint16_t *output) {
    FORWARD(toBFloat16, rows, columns, input, inputStride, output);
}

void CKernels_addRows(long rows, long columns, const float *values, const float *bias, float *output, long outputStride) {
    FORWARD(addRows, rows, columns, values, bias, output, outputStride);
}

void CKernels_l2Normalize(long rows, long dim, float *data) { FORWARD(l2Normalize, rows, dim, data); }

const char *CKernels_instructionSet(void) {
#if defined(__x86_64__)
    return useAVX2 ? "avx2+fma" : "x86-64";
#else
    return "baseline";
#endif
}
