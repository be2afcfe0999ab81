// The CUDA runtime behind small RAII owners: device discovery, device buffers, streams and a
// cuBLAS handle.
//
// Ownership: each object owns one resource and frees it in its destructor; they move, never
// copy. Frees ignore errors (a destructor must not abort while the process is already going
// down with a CUDA error). Thread-safety: none of these is shared between threads; a device
// is selected per thread with cudaSetDevice before any of them is created.
// Failure: allocation and copies abort through CUDA_CHECK (cuda_check.h) except try_alloc(),
// which returns an Error for the expected "the weights do not fit" case.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "base/status.h"
#include "model/cuda/cuda_check.h"

namespace shardserve::gpu {

// Why no CUDA device can be used here ("no CUDA device: cudaGetDeviceCount failed: ...", or
// "... reports 0 devices"), or nullopt when at least one can. Never aborts.
std::optional<std::string> cuda_unavailable_reason();
// Number of usable devices; 0 where cuda_unavailable_reason() has a reason.
int cuda_device_count();

// An untyped device allocation.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  explicit DeviceMemory(size_t bytes);  // aborts on failure
  // An Error naming the size and the device's free memory when cudaMalloc fails.
  static Result<DeviceMemory> try_alloc(size_t bytes, const char* what);
  ~DeviceMemory() { reset(); }
  DeviceMemory(DeviceMemory&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceMemory& operator=(DeviceMemory&& o) noexcept {
    if (this != &o) {
      reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;

  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  void reset();

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// `n` elements of T on the device (uninitialised).
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t n) : mem_(n * sizeof(T)), n_(n) {}
  explicit DeviceBuffer(DeviceMemory mem) : mem_(std::move(mem)), n_(mem_.bytes() / sizeof(T)) {}

  T* data() const { return static_cast<T*>(mem_.get()); }
  size_t size() const { return n_; }
  size_t bytes() const { return n_ * sizeof(T); }
  // Grows (without keeping the contents) to at least n elements.
  void ensure(size_t n) {
    if (n > n_) *this = DeviceBuffer(n);
  }

  // Copies of `n` elements at element offset 0 that are synchronous with every stream: the
  // device is idle before a download and after an upload, so work queued on any stream (they
  // are non-blocking, so the legacy stream of cudaMemcpy would not order them) sees an upload
  // and a download sees that work. For loading and tests; steps use cudaMemcpyAsync.
  void upload(const T* host, size_t n) {
    CUDA_CHECK(cudaMemcpy(data(), host, n * sizeof(T), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaDeviceSynchronize());  // a pageable upload may return before its DMA ends
  }
  void download(T* host, size_t n) const {
    CUDA_CHECK(cudaDeviceSynchronize());
    CUDA_CHECK(cudaMemcpy(host, data(), n * sizeof(T), cudaMemcpyDeviceToHost));
  }
  // Sets every byte to 0, synchronously as upload().
  void zero() {
    CUDA_CHECK(cudaMemset(data(), 0, bytes()));
    CUDA_CHECK(cudaDeviceSynchronize());
  }

 private:
  DeviceMemory mem_;
  size_t n_ = 0;
};

// `n` elements of T in page-locked host memory (cudaMallocHost): the host side of copies that
// must be truly asynchronous (a step's uploads; CUDA graphs cannot capture a copy from
// pageable memory). Uninitialised; fixed size.
template <typename T>
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  // An Error naming the size when page-locked memory cannot be had.
  static Result<PinnedBuffer> try_alloc(size_t n, const char* what) {
    PinnedBuffer b;
    if (n == 0) return b;
    void* p = nullptr;
    if (const cudaError_t e = cudaMallocHost(&p, n * sizeof(T)); e != cudaSuccess) {
      cudaGetLastError();
      return Error{std::string("cannot allocate ") + std::to_string((n * sizeof(T)) >> 10) +
                   " KiB of page-locked host memory for " + what + ": " +
                   cuda_error_message("cudaMallocHost", e)};
    }
    b.ptr_ = static_cast<T*>(p);
    b.n_ = n;
    return b;
  }
  ~PinnedBuffer() {
    if (ptr_) cudaFreeHost(ptr_);
  }
  PinnedBuffer(PinnedBuffer&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    if (this != &o) {
      if (ptr_) cudaFreeHost(ptr_);
      ptr_ = std::exchange(o.ptr_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  T* data() const { return ptr_; }
  size_t size() const { return n_; }

 private:
  T* ptr_ = nullptr;
  size_t n_ = 0;
};

// A non-blocking stream (does not synchronize with the legacy default stream).
class Stream {
 public:
  Stream();
  ~Stream();
  Stream(Stream&& o) noexcept : stream_(std::exchange(o.stream_, nullptr)) {}
  Stream& operator=(Stream&&) = delete;
  Stream(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }
  void synchronize() const;  // aborts on an error raised by work on the stream

 private:
  cudaStream_t stream_ = nullptr;
};

// A cuBLAS handle bound to a stream, with tensor-core math allowed for f16 inputs. With
// workspace_bytes > 0 it owns a device workspace of that size and gives it to cuBLAS
// (cublasSetWorkspace), so GEMMs never allocate one themselves: required for capturing them in
// a CUDA graph, and a fixed cost known at load (kCublasWorkspaceBytes covers Hopper's needs).
class CublasHandle {
 public:
  explicit CublasHandle(cudaStream_t stream, size_t workspace_bytes = 0);
  ~CublasHandle();
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  cublasHandle_t get() const { return handle_; }
  size_t workspace_bytes() const { return workspace_.bytes(); }

 private:
  DeviceMemory workspace_;  // outlives the handle (destroyed after the destructor's body)
  cublasHandle_t handle_ = nullptr;
};

// cuBLAS's recommended workspace on Hopper (32 MiB; 4 MiB suffices before it).
inline constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;

}  // namespace shardserve::gpu
