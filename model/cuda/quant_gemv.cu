// Launchers of the quantized GEMV (model/cuda/quant_gemv.cuh); the kernels are in
// quant_gemv_kernels.cuh.
#include "model/cuda/quant_gemv.cuh"

#include "base/check.h"
#include "model/cuda/cuda_check.h"
#include "model/cuda/dequantize.cuh"
#include "model/cuda/quant_gemv_kernels.cuh"
#include "model/cuda/weight_plan.h"

namespace shardserve::gpu {
namespace {

namespace k = quant_gemv_kernels;

size_t align16(size_t n) {
  return (n + 15) / 16 * 16;
}

template <typename In>
void quantize(const In* x, int64_t ldx, int n, const QuantActivations& out, cudaStream_t stream) {
  SS_CHECK(n >= 1 && n <= out.n && n <= kGemvMaxCols, "activation rows out of range");
  SS_CHECK(out.cols % 32 == 0 && ldx >= out.cols);
  const int64_t warps = n * (out.cols / 32);
  const unsigned grid = static_cast<unsigned>((warps + k::kWarps - 1) / k::kWarps);
  k::quantize_kernel<In><<<grid, k::kThreads, 0, stream>>>(x, ldx, n, out.cols, out.q, out.cols,
                                                           out.ds, out.cols / 32);
  CUDA_CHECK_LAUNCH("quantize_activations");
}

template <DType T, int N>
void launch_gemv(const k::GemvArgs& args, cudaStream_t stream) {
  const unsigned grid = static_cast<unsigned>((args.rows + k::kWarps - 1) / k::kWarps);
  k::gemv_kernel<T, N><<<grid, k::kThreads, k::gemv_smem_bytes<T>(), stream>>>(args);
}

template <DType T>
void launch_gemv(int n, const k::GemvArgs& args, cudaStream_t stream) {
  switch (n) {
    case 1:
      return launch_gemv<T, 1>(args, stream);
    case 2:
      return launch_gemv<T, 2>(args, stream);
    case 3:
      return launch_gemv<T, 3>(args, stream);
    case 4:
      return launch_gemv<T, 4>(args, stream);
    case 5:
      return launch_gemv<T, 5>(args, stream);
    case 6:
      return launch_gemv<T, 6>(args, stream);
    case 7:
      return launch_gemv<T, 7>(args, stream);
    case 8:
      return launch_gemv<T, 8>(args, stream);
    default:
      SS_CHECK(false, "gemv takes 1..8 activation rows");
  }
}

}  // namespace

// The host decisions live in weight_plan.h, so the model's load planning and the kernels agree.
bool gemv_supported(DType type) {
  return quant_gemv_supports(type);
}

size_t quant_row_stride(DType type, int64_t cols) {
  return quant_pitch(type, cols);
}

size_t activation_bytes(int64_t cols, int n) {
  return gemv_workspace_bytes(cols, n);
}

QuantActivations bind_activations(void* workspace, int64_t cols, int n) {
  SS_CHECK(reinterpret_cast<uintptr_t>(workspace) % 16 == 0, "workspace must be 16-byte aligned");
  SS_CHECK(cols % 32 == 0 && n >= 1 && n <= kGemvMaxCols);
  auto* bytes = static_cast<unsigned char*>(workspace);
  return {reinterpret_cast<int8_t*>(bytes),
          reinterpret_cast<float2*>(bytes + align16(static_cast<size_t>(n * cols))), cols, n};
}

void quantize_activations(const float* x, int64_t ldx, int n, const QuantActivations& out,
                          cudaStream_t stream) {
  quantize(x, ldx, n, out, stream);
}
void quantize_activations(const __half* x, int64_t ldx, int n, const QuantActivations& out,
                          cudaStream_t stream) {
  quantize(x, ldx, n, out, stream);
}

void gemv_q8(const QuantMatrix& w, const QuantActivations& x, float* y, int64_t ldy,
             bool accumulate, cudaStream_t stream) {
  SS_CHECK(gemv_supported(w.type), "no quantized GEMV for this tensor type");
  SS_CHECK(x.cols == w.cols && w.cols % info(w.type).block_size == 0, "shapes do not match");
  SS_CHECK(reinterpret_cast<uintptr_t>(w.data) % 16 == 0 && w.row_stride % 16 == 0 &&
               w.row_stride >= row_bytes(w.type, w.cols),
           "weights need 16-byte aligned rows (quant_row_stride)");
  SS_CHECK(x.n >= 1 && x.n <= kGemvMaxCols && ldy >= w.rows);
  if (w.rows == 0 || w.cols == 0) return;
  const k::GemvArgs args{static_cast<const uint8_t*>(w.data),
                         w.row_stride,
                         w.rows,
                         static_cast<int64_t>(row_bytes(w.type, w.cols)),
                         x.q,
                         x.cols,
                         x.ds,
                         x.cols / 32,
                         y,
                         ldy,
                         accumulate};
  switch (w.type) {
    case DType::Q4_0:
      launch_gemv<DType::Q4_0>(x.n, args, stream);
      break;
    case DType::Q4_1:
      launch_gemv<DType::Q4_1>(x.n, args, stream);
      break;
    case DType::Q8_0:
      launch_gemv<DType::Q8_0>(x.n, args, stream);
      break;
    case DType::Q2_K:
      launch_gemv<DType::Q2_K>(x.n, args, stream);
      break;
    case DType::Q3_K:
      launch_gemv<DType::Q3_K>(x.n, args, stream);
      break;
    case DType::Q4_K:
      launch_gemv<DType::Q4_K>(x.n, args, stream);
      break;
    case DType::Q5_K:
      launch_gemv<DType::Q5_K>(x.n, args, stream);
      break;
    case DType::Q6_K:
      launch_gemv<DType::Q6_K>(x.n, args, stream);
      break;
    default:
      break;
  }
  CUDA_CHECK_LAUNCH("gemv_q8");
}

void gemv(const QuantMatrix& w, const float* x, int64_t ldx, int n_cols, float* y, int64_t ldy,
          bool accumulate, void* workspace, cudaStream_t stream) {
  const QuantActivations xq = bind_activations(workspace, w.cols, n_cols);
  quantize_activations(x, ldx, n_cols, xq, stream);
  gemv_q8(w, xq, y, ldy, accumulate, stream);
}
void gemv(const QuantMatrix& w, const __half* x, int64_t ldx, int n_cols, float* y, int64_t ldy,
          bool accumulate, void* workspace, cudaStream_t stream) {
  const QuantActivations xq = bind_activations(workspace, w.cols, n_cols);
  quantize_activations(x, ldx, n_cols, xq, stream);
  gemv_q8(w, xq, y, ldy, accumulate, stream);
}

void dequantize_to_f16(const QuantMatrix& w, __half* dst, int64_t ld_dst, cudaStream_t stream) {
  dequantize_rows(w.type, w.data, w.row_stride, w.rows, w.cols, dst, ld_dst, stream);
}

}  // namespace shardserve::gpu
