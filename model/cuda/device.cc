#include "model/cuda/device.h"

#include <cstdio>
#include <cstdlib>

namespace shardserve::gpu {

std::string cuda_error_message(const char* call, cudaError_t error) {
  return std::string(call) + " failed: " + cudaGetErrorString(error) + " (" +
         cudaGetErrorName(error) + ")";
}

std::string cublas_error_message(const char* call, cublasStatus_t status) {
  const char* name = cublasGetStatusName(status);
  const char* text = cublasGetStatusString(status);
  return std::string(call) + " failed: " + (name ? name : "unknown cuBLAS status") + " (" +
         (text ? text : "") + ")";
}

void cuda_fatal(const char* file, int line, const std::string& message) {
  std::fprintf(stderr, "%s:%d: CUDA error: %s\n", file, line, message.c_str());
  std::abort();
}

std::optional<std::string> cuda_unavailable_reason() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return "no CUDA device: " + cuda_error_message("cudaGetDeviceCount", e);
  }
  if (n == 0) return std::string("no CUDA device: cudaGetDeviceCount reports 0 devices");
  return std::nullopt;
}

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

DeviceMemory::DeviceMemory(size_t bytes) : bytes_(bytes) {
  if (bytes > 0) CUDA_CHECK(cudaMalloc(&ptr_, bytes));
}

Result<DeviceMemory> DeviceMemory::try_alloc(size_t bytes, const char* what) {
  DeviceMemory m;
  if (bytes == 0) return m;
  const cudaError_t e = cudaMalloc(&m.ptr_, bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    return Error{std::string("cannot allocate ") + std::to_string(bytes >> 20) +
                 " MiB on the GPU for " + what + " (" + std::to_string(free_bytes >> 20) + " of " +
                 std::to_string(total_bytes >> 20) +
                 " MiB free): " + cuda_error_message("cudaMalloc", e) +
                 "; lower the group's KV budget or use more ranks (tp)"};
  }
  m.bytes_ = bytes;
  return m;
}

void DeviceMemory::reset() {
  if (ptr_) cudaFree(ptr_);
  ptr_ = nullptr;
  bytes_ = 0;
}

Stream::Stream() {
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
}

Stream::~Stream() {
  if (stream_) cudaStreamDestroy(stream_);
}

void Stream::synchronize() const {
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

CublasHandle::CublasHandle(cudaStream_t stream, size_t workspace_bytes)
    : workspace_(workspace_bytes) {
  CUBLAS_CHECK(cublasCreate(&handle_));
  CUBLAS_CHECK(cublasSetStream(handle_, stream));
  CUBLAS_CHECK(cublasSetMathMode(handle_, CUBLAS_DEFAULT_MATH));
  // After cublasSetStream, which resets the workspace to cuBLAS's own pool.
  if (workspace_bytes > 0)
    CUBLAS_CHECK(cublasSetWorkspace(handle_, workspace_.get(), workspace_bytes));
}

CublasHandle::~CublasHandle() {
  if (handle_) cublasDestroy(handle_);
}

}  // namespace shardserve::gpu
