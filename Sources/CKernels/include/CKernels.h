// The engine's element-wise and row-wise kernels between the matrix products, in C so that
// each is compiled twice, for AVX2 with FMA and for baseline x86-64, and the copy for the CPU
// at hand is chosen when the program loads (Swift has no per-function target features; see
// dispatch.c). Swift calls them through SightlineKernels' `Kernels`.
// Callers pass valid pointers and sizes; nothing here allocates.
#ifndef CKERNELS_H
#define CKERNELS_H

#include <stdint.h>

/// `output = (input - mean) / sqrt(variance + eps) * gamma + beta`, row by row.
void CKernels_layerNorm(long rows, long dim, const float *input, long inputStride, float *output, long outputStride,
                        const float *gamma, const float *beta, float eps);

/// The activations `CKernels_addBias` applies after the bias.
enum CKernels_Activation { CKernels_none = 0, CKernels_quickGELU = 1, CKernels_gelu = 2 };

/// `data = activation(data + bias)`, row by row.
void CKernels_addBias(long rows, long dim, float *data, long stride, const float *bias, int activation);

/// `exp(x - max)` of each row over its first `row + 1` columns when `causal` (the rest become
/// 0), else over all of them; `inverseSums[row] = 1 / sum`.
void CKernels_softmaxNumerators(long rows, long columns, float *data, long stride, int causal, float *inverseSums);

/// `data[row] *= factors[row]`.
void CKernels_scaleRows(long rows, long columns, float *data, long stride, const float *factors);

/// Each row to `levels` steps between its least and largest value (zero kept in the range), as
/// bytes: `value = scales[row] * (byte - zeroPoints[row])`.
void CKernels_quantizeRows(long rows, long columns, const float *input, long inputStride, uint8_t *output,
                           float *scales, int32_t *zeroPoints, float levels);

/// `output (+)= (accumulator - zeroPoints[row] * sums[column]) * rowScales[row] * columnScales[column] (+ bias)`.
void CKernels_dequantize(long rows, long columns, const int32_t *accumulators, const float *rowScales,
                         const int32_t *zeroPoints, const float *columnScales, const int32_t *sums, const float *bias,
                         float *output, long outputStride, int accumulate);

/// f32 to bfloat16 bits, rounding to nearest even.
void CKernels_toBFloat16(long rows, long columns, const float *input, long inputStride, uint16_t *output);

/// `output += values (+ bias)`, row by row.
void CKernels_addRows(long rows, long columns, const float *values, const float *bias, float *output, long outputStride);

/// Scales each row to unit length (rows of zeros stay zero), as `F.normalize`.
void CKernels_l2Normalize(long rows, long dim, float *data);

/// The instruction set the clones above run with on this CPU ("avx2+fma" or "x86-64").
const char *CKernels_instructionSet(void);

#endif
