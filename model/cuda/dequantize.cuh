// Weight rows of a GGUF tensor, already copied to the device as raw bytes, converted to f16
// (the weights of the cuBLAS GEMMs) or f32 (embedding rows).
//
// Why weights are dequantized once at load instead of read quantized by every GEMM: it keeps
// the GPU path simple (one cuBLAS GemmEx per projection, no hand-written quantized GEMM per
// type), it runs the products on tensor cores for prefill and large batches, and the default
// model (135M parameters, 270 MB in f16) fits any GPU many times over. The price is memory
// and bandwidth (f16 is 3.6x the bytes of Q4_1 per decode step); a quantized GEMV for decode
// is the next step if decode turns out bandwidth-bound.
//
// Values are bit-identical to the CPU scalar reference (quant_ref.cc, quant_ref_k.cc) followed by
// an f16 rounding (round to nearest even): x = q * d + m is computed as two roundings, as there.
//
// Layout: row r of the source starts at src + r * src_row_stride bytes (any stride: column
// slices of row-parallel shards are rows with a stride), n_cols elements of `type` (a multiple
// of its block size). Bytes are read one at a time, so no alignment is needed.
// Launch: 256 threads per block, one thread per output element. Asynchronous on `stream`.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "model/tensor_type.h"

namespace shardserve::gpu {

// Types these kernels convert: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K .. Q6_K.
bool dequantize_supported(DType type);

// dst[r * ld_dst + c] = element c of source row r, for r < n_rows, c < n_cols.
// Preconditions (checked, abort): dequantize_supported(type), n_cols % block size == 0.
void dequantize_rows(DType type, const void* src, size_t src_row_stride, int64_t n_rows,
                     int64_t n_cols, __half* dst, int64_t ld_dst, cudaStream_t stream);
void dequantize_rows(DType type, const void* src, size_t src_row_stride, int64_t n_rows,
                     int64_t n_cols, float* dst, int64_t ld_dst, cudaStream_t stream);

// Embedding lookup: dst[i * ld_dst + c] = element c of source row rows[i], for i < n.
// `rows` is a device array; every entry must be a valid row (not checked on the device).
void gather_rows(DType type, const void* src, size_t src_row_stride, const int32_t* rows, int64_t n,
                 int64_t n_cols, float* dst, int64_t ld_dst, cudaStream_t stream);

}  // namespace shardserve::gpu
