// The quantized GEMV on the device (model/cuda/quant_gemv.cuh), a lab: validate, then time.
//
// For each weight type, a 2048 x 8192 matrix (rows x cols; 8192 inputs, like a down-projection)
// and an 8192 x 2048 one (like gate/up): first batch 1 and batch 8 against the CPU reference
// (model/cuda/testing/quant_gemv_reference.h); a type that fails is not timed. Then the time of
// one call at batch 1 and 8 (mean over --iters after warm-ups, CUDA events), each call on another
// copy of the matrix so that the copies together (>= 256 MiB) overflow the L2 cache, and the
// weight bytes read per second beside a device-to-device copy's read + write rate measured in the
// same run. "gemv_q8" is the product alone (activations quantized once); "gemv" adds the
// activation quantization launch. Then dequantize_to_f16 (the prefill path): bytes read + written
// per second.
//
//   build/bench/cuda/quant_gemv_bench [--iters N]
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "model/cuda/cuda_check.h"
#include "model/cuda/device.h"
#include "model/cuda/quant_gemv.cuh"
#include "model/cuda/testing/quant_gemv_reference.h"

namespace shardserve {
namespace {

using gpu::DeviceBuffer;
using gpu::DeviceMemory;

// Device-to-device copy: bytes read + written per second (best of 10).
double copy_bandwidth() {
  const size_t bytes = size_t{1} << 30;
  DeviceMemory a(bytes), b(bytes);
  gpu::Stream stream;
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  float best_ms = 1e30f;
  for (int i = 0; i < 10; ++i) {
    CUDA_CHECK(cudaEventRecord(start, stream.get()));
    CUDA_CHECK(cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, stream.get()));
    CUDA_CHECK(cudaEventRecord(stop, stream.get()));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    best_ms = std::min(best_ms, ms);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return 2.0 * static_cast<double>(bytes) / (best_ms / 1e3);
}

// Mean microseconds of `call(i)` over iters calls after 3 warm-ups.
template <typename Call>
double time_us(int iters, gpu::Stream& stream, Call call) {
  for (int i = 0; i < 3; ++i) call(i);
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  CUDA_CHECK(cudaEventRecord(start, stream.get()));
  for (int i = 0; i < iters; ++i) call(i);
  CUDA_CHECK(cudaEventRecord(stop, stream.get()));
  CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return 1e3 * ms / iters;
}

// Validates, then times one type and shape; false if the device's results are wrong.
bool bench(DType type, int64_t rows, int64_t cols, int iters, double copy_bw) {
  const size_t stride = gpu::quant_row_stride(type, cols), bytes = stride * rows;
  const std::vector<uint8_t> w = gpu::testing::random_quant_rows(type, rows, cols, stride, 1);
  const int copies =
      static_cast<int>(std::max<size_t>(1, ((size_t{256} << 20) + bytes - 1) / bytes));
  std::vector<DeviceBuffer<uint8_t>> dw;
  for (int i = 0; i < copies; ++i) {
    dw.emplace_back(bytes);
    dw.back().upload(w.data(), bytes);
  }
  gpu::Stream stream;
  const int n_max = gpu::kGemvMaxCols;
  const std::vector<float> x = gpu::testing::random_activations(n_max, cols, 2);
  DeviceBuffer<float> dx(x.size()), dy(n_max * rows);
  dx.upload(x.data(), x.size());
  DeviceBuffer<uint8_t> workspace(gpu::activation_bytes(cols, n_max));
  for (int n : {1, n_max}) {
    const gpu::QuantMatrix m{dw[0].data(), type, rows, cols, stride};
    gpu::gemv(m, dx.data(), cols, n, dy.data(), rows, false, workspace.data(), stream.get());
    stream.synchronize();
    std::vector<float> y(n * rows);
    dy.download(y.data(), y.size());
    const auto ref = gpu::testing::reference_gemv(type, w.data(), stride, rows, cols, x.data(), n);
    double worst = 0;
    const int64_t bad = gpu::testing::count_outside(ref, y.data(), rows, rows, n, false, &worst);
    if (bad) {
      std::printf(
          "%-5s %5lld x %5lld batch %d: %lld outputs outside the bound (worst %.2fx); not "
          "timed\n",
          info(type).name.data(), static_cast<long long>(rows), static_cast<long long>(cols), n,
          static_cast<long long>(bad), worst);
      return false;
    }
  }
  for (int n : {1, n_max}) {
    const gpu::QuantActivations xq = gpu::bind_activations(workspace.data(), cols, n);
    gpu::quantize_activations(dx.data(), cols, n, xq, stream.get());
    const double us_q8 = time_us(iters, stream, [&](int i) {
      const gpu::QuantMatrix m{dw[i % copies].data(), type, rows, cols, stride};
      gpu::gemv_q8(m, xq, dy.data(), rows, false, stream.get());
    });
    const double us = time_us(iters, stream, [&](int i) {
      const gpu::QuantMatrix m{dw[i % copies].data(), type, rows, cols, stride};
      gpu::gemv(m, dx.data(), cols, n, dy.data(), rows, false, workspace.data(), stream.get());
    });
    const double weight = static_cast<double>(row_bytes(type, cols) * rows);
    std::printf(
        "%-5s %5lld x %5lld batch %d  %6.2f MB | gemv_q8 %7.2f us %7.1f GB/s (%4.1f%% of "
        "copy) | gemv %7.2f us %7.1f GB/s (%4.1f%%)\n",
        info(type).name.data(), static_cast<long long>(rows), static_cast<long long>(cols), n,
        weight / 1e6, us_q8, weight / us_q8 / 1e3, 100.0 * weight / (us_q8 * 1e-6) / copy_bw, us,
        weight / us / 1e3, 100.0 * weight / (us * 1e-6) / copy_bw);
  }
  DeviceBuffer<__half> f16(rows * cols);
  const double us = time_us(iters, stream, [&](int i) {
    const gpu::QuantMatrix m{dw[i % copies].data(), type, rows, cols, stride};
    gpu::dequantize_to_f16(m, f16.data(), cols, stream.get());
  });
  const double moved = static_cast<double>(row_bytes(type, cols) * rows + 2 * rows * cols);
  std::printf(
      "%-5s %5lld x %5lld dequantize_to_f16 %7.2f us %7.1f GB/s read + written (%4.1f%% "
      "of copy)\n",
      info(type).name.data(), static_cast<long long>(rows), static_cast<long long>(cols), us,
      moved / us / 1e3, 100.0 * moved / (us * 1e-6) / copy_bw);
  return true;
}

}  // namespace
}  // namespace shardserve

int main(int argc, char** argv) {
  using namespace shardserve;  // NOLINT
  int iters = 200;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--iters") == 0) iters = std::atoi(argv[i + 1]);
  if (auto reason = gpu::cuda_unavailable_reason()) {
    std::printf("%s; nothing to measure\n", reason->c_str());
    return 0;
  }
  const double copy_bw = copy_bandwidth();
  std::printf("device-to-device copy: %.1f GB/s (read + write)\n", copy_bw / 1e9);
  bool ok = true;
  for (DType type : {DType::Q4_0, DType::Q4_1, DType::Q8_0, DType::Q2_K, DType::Q3_K, DType::Q4_K,
                     DType::Q5_K, DType::Q6_K})
    for (const auto& [rows, cols] : {std::pair<int64_t, int64_t>{2048, 8192}, {8192, 2048}})
      ok = bench(type, rows, cols, iters, copy_bw) && ok;
  return ok ? 0 : 1;
}
