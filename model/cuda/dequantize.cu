#include "model/cuda/dequantize.cuh"

#include "base/check.h"
#include "model/cuda/cuda_check.h"

namespace shardserve::gpu {
namespace {

constexpr int kThreads = 256;
constexpr int kQK = 32;  // elements per legacy quant block

__device__ inline uint32_t load_u16(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8);
}
__device__ inline uint32_t load_u32(const uint8_t* p) {
  return load_u16(p) | (load_u16(p + 2) << 16);
}
__device__ inline float f16_bits_to_float(uint32_t h) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(h)));
}

// Element c of a row in each format (the layouts of model/kernels/cpu/quant_internal.h).
template <DType T>
__device__ float element(const uint8_t* row, int64_t c);

template <>
__device__ float element<DType::F32>(const uint8_t* row, int64_t c) {
  return __uint_as_float(load_u32(row + 4 * c));
}
template <>
__device__ float element<DType::F16>(const uint8_t* row, int64_t c) {
  return f16_bits_to_float(load_u16(row + 2 * c));
}
template <>
__device__ float element<DType::BF16>(const uint8_t* row, int64_t c) {
  return __uint_as_float(load_u16(row + 2 * c) << 16);
}
// Q4_0: {f16 d; u8 qs[16]}: x[j] = (lo nibble of qs[j] - 8) * d, x[j + 16] = (hi nibble - 8) * d.
template <>
__device__ float element<DType::Q4_0>(const uint8_t* row, int64_t c) {
  const uint8_t* b = row + (c / kQK) * 18;
  const int j = static_cast<int>(c % kQK);
  const int q = j < 16 ? (b[2 + j] & 0xf) : (b[2 + j - 16] >> 4);
  return __fmul_rn(static_cast<float>(q - 8), f16_bits_to_float(load_u16(b)));
}
// Q4_1: {f16 d, m; u8 qs[16]}: x = q * d + m (two roundings, as the CPU reference).
template <>
__device__ float element<DType::Q4_1>(const uint8_t* row, int64_t c) {
  const uint8_t* b = row + (c / kQK) * 20;
  const int j = static_cast<int>(c % kQK);
  const int q = j < 16 ? (b[4 + j] & 0xf) : (b[4 + j - 16] >> 4);
  return __fadd_rn(__fmul_rn(static_cast<float>(q), f16_bits_to_float(load_u16(b))),
                   f16_bits_to_float(load_u16(b + 2)));
}
// Q5_0: {f16 d; u8 qh[4]; u8 qs[16]}: 5th bit j of the little-endian qh; x = (q - 16) * d.
template <>
__device__ float element<DType::Q5_0>(const uint8_t* row, int64_t c) {
  const uint8_t* b = row + (c / kQK) * 22;
  const int j = static_cast<int>(c % kQK);
  const uint32_t qh = load_u32(b + 2);
  const int lo = j < 16 ? (b[6 + j] & 0xf) : (b[6 + j - 16] >> 4);
  const int q = lo | static_cast<int>(((qh >> j) & 1u) << 4);
  return __fmul_rn(static_cast<float>(q - 16), f16_bits_to_float(load_u16(b)));
}
// Q5_1: {f16 d, m; u8 qh[4]; u8 qs[16]}: x = q * d + m.
template <>
__device__ float element<DType::Q5_1>(const uint8_t* row, int64_t c) {
  const uint8_t* b = row + (c / kQK) * 24;
  const int j = static_cast<int>(c % kQK);
  const uint32_t qh = load_u32(b + 4);
  const int lo = j < 16 ? (b[8 + j] & 0xf) : (b[8 + j - 16] >> 4);
  const int q = lo | static_cast<int>(((qh >> j) & 1u) << 4);
  return __fadd_rn(__fmul_rn(static_cast<float>(q), f16_bits_to_float(load_u16(b))),
                   f16_bits_to_float(load_u16(b + 2)));
}
// Q8_0: {f16 d; i8 qs[32]}: x = q * d.
template <>
__device__ float element<DType::Q8_0>(const uint8_t* row, int64_t c) {
  const uint8_t* b = row + (c / kQK) * 34;
  const int q = static_cast<int8_t>(b[2 + c % kQK]);
  return __fmul_rn(static_cast<float>(q), f16_bits_to_float(load_u16(b)));
}

__device__ inline void store(float* p, float v) {
  *p = v;
}
__device__ inline void store(__half* p, float v) {
  *p = __float2half_rn(v);
}

// Grid: x over column tiles of kThreads, y over rows (grid-stride when n_rows > gridDim.y).
template <DType T, typename Out>
__global__ void __launch_bounds__(kThreads)
    dequantize_kernel(const uint8_t* src, size_t stride, const int32_t* rows, int64_t n_rows,
                      int64_t n_cols, Out* dst, int64_t ld_dst) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
  if (c >= n_cols) return;
  for (int64_t r = blockIdx.y; r < n_rows; r += gridDim.y) {
    const int64_t source_row = rows ? rows[r] : r;
    store(dst + r * ld_dst + c, element<T>(src + source_row * stride, c));
  }
}

template <typename Out>
void launch(DType type, const void* src, size_t stride, const int32_t* rows, int64_t n_rows,
            int64_t n_cols, Out* dst, int64_t ld_dst, cudaStream_t stream) {
  SS_CHECK(dequantize_supported(type), "no CUDA dequantize kernel for this tensor type");
  SS_CHECK(n_cols % info(type).block_size == 0, "columns must be whole quant blocks");
  SS_CHECK(n_rows >= 0 && n_cols >= 0 && ld_dst >= n_cols);
  if (n_rows == 0 || n_cols == 0) return;
  const dim3 grid(static_cast<unsigned>((n_cols + kThreads - 1) / kThreads),
                  static_cast<unsigned>(n_rows < 65535 ? n_rows : 65535));
  const auto* s = static_cast<const uint8_t*>(src);
  switch (type) {
#define SS_DEQUANT_CASE(T)                                                             \
  case DType::T:                                                                       \
    dequantize_kernel<DType::T, Out>                                                   \
        <<<grid, kThreads, 0, stream>>>(s, stride, rows, n_rows, n_cols, dst, ld_dst); \
    break;
    SS_DEQUANT_CASE(F32)
    SS_DEQUANT_CASE(F16)
    SS_DEQUANT_CASE(BF16)
    SS_DEQUANT_CASE(Q4_0)
    SS_DEQUANT_CASE(Q4_1)
    SS_DEQUANT_CASE(Q5_0)
    SS_DEQUANT_CASE(Q5_1)
    SS_DEQUANT_CASE(Q8_0)
#undef SS_DEQUANT_CASE
    default:
      break;
  }
  CUDA_CHECK_LAUNCH("dequantize");
}

}  // namespace

bool dequantize_supported(DType type) {
  switch (type) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q8_0:
      return true;
    default:
      return false;
  }
}

void dequantize_rows(DType type, const void* src, size_t src_row_stride, int64_t n_rows,
                     int64_t n_cols, __half* dst, int64_t ld_dst, cudaStream_t stream) {
  launch(type, src, src_row_stride, nullptr, n_rows, n_cols, dst, ld_dst, stream);
}

void dequantize_rows(DType type, const void* src, size_t src_row_stride, int64_t n_rows,
                     int64_t n_cols, float* dst, int64_t ld_dst, cudaStream_t stream) {
  launch(type, src, src_row_stride, nullptr, n_rows, n_cols, dst, ld_dst, stream);
}

void gather_rows(DType type, const void* src, size_t src_row_stride, const int32_t* rows, int64_t n,
                 int64_t n_cols, float* dst, int64_t ld_dst, cudaStream_t stream) {
  launch(type, src, src_row_stride, rows, n, n_cols, dst, ld_dst, stream);
}

}  // namespace shardserve::gpu
