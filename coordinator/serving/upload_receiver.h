// A multipart/form-data upload (POST /v1/files) streamed to disk as it arrives, so that a
// 32 MiB file costs the coordinator a 64 KiB buffer, not 32 MiB of memory per upload.
//
// Promise: `create` makes libmicrohttpd's form parser (MHD_PostProcessor) for the connection;
// nullptr (with `error` saying why) when the request is not multipart/form-data with a
// boundary. `feed` hands it each piece of the body: the `file` field's data goes to a new
// file under `dir` (mkstemp), the `purpose` field (at most 256 bytes) is kept, the part's
// filename and Content-Type are recorded, and any other field, a second file, a file over
// `max_file_bytes` or a write that fails is recorded once as the upload's problem (the body is
// still consumed, so the answer can be sent in order). `finish` flushes the parser, closes the
// file and returns what arrived. The temporary file is the caller's to remove once taken
// (KnowledgeBase::add_file removes it); the destructor removes it when `finish` was never
// reached or the upload failed (the client went away, the body was refused).
//
// Thread-safety: one receiver per request, used by the polling thread while the body arrives
// and then by the request's pool thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "coordinator/serving/knowledge_endpoints.h"

struct MHD_Connection;
struct MHD_PostProcessor;

namespace shardserve {

class UploadReceiver {
 public:
  static std::unique_ptr<UploadReceiver> create(MHD_Connection* connection, std::string dir,
                                                int64_t max_file_bytes, std::string& error);
  ~UploadReceiver();
  UploadReceiver(const UploadReceiver&) = delete;
  UploadReceiver& operator=(const UploadReceiver&) = delete;

  void feed(const char* data, size_t size);
  // Ends the body. `too_large()` tells whether the file passed max_file_bytes.
  MultipartUpload finish();
  bool too_large() const { return too_large_; }
  int64_t max_file_bytes() const { return max_file_bytes_; }

 private:
  UploadReceiver(std::string dir, int64_t max_file_bytes)
      : dir_(std::move(dir)), max_file_bytes_(max_file_bytes) {}
  // One piece of one field (libmicrohttpd's MHD_PostDataIterator).
  void on_field(const char* key, const char* filename, const char* content_type, const char* data,
                size_t size);
  void problem(std::string message);
  friend struct UploadGlue;

  const std::string dir_;
  const int64_t max_file_bytes_;
  MHD_PostProcessor* parser_ = nullptr;
  MultipartUpload upload_;
  int fd_ = -1;
  int64_t file_bytes_ = 0;
  bool file_done_ = false;  // a field after the file's began: a second file is an error
  bool too_large_ = false;
  bool taken_ = false;  // finish() handed the file over
};

}  // namespace shardserve
