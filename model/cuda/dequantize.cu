#include "model/cuda/dequantize.cuh"

#include "base/check.h"
#include "model/cuda/cuda_check.h"
#include "model/cuda/dequantize_elements.cuh"

namespace shardserve::gpu {
namespace {

constexpr int kThreads = 256;

using dequantize_elements::element;

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
    SS_DEQUANT_CASE(Q2_K)
    SS_DEQUANT_CASE(Q3_K)
    SS_DEQUANT_CASE(Q4_K)
    SS_DEQUANT_CASE(Q5_K)
    SS_DEQUANT_CASE(Q6_K)
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
    case DType::Q2_K:
    case DType::Q3_K:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
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
