#include "coordinator/serving/upload_receiver.h"

#include <microhttpd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>

namespace shardserve {

constexpr size_t kParserBuffer = 64 * 1024;
constexpr size_t kMaxPurpose = 256;

struct UploadGlue {
  static MHD_Result on_data(void* cls, MHD_ValueKind, const char* key, const char* filename,
                            const char* content_type, const char*, const char* data, uint64_t,
                            size_t size) {
    static_cast<UploadReceiver*>(cls)->on_field(key, filename, content_type, data, size);
    return MHD_YES;  // keep consuming: problems are answered once the body is in
  }
};

std::unique_ptr<UploadReceiver> UploadReceiver::create(MHD_Connection* connection, std::string dir,
                                                       int64_t max_file_bytes, std::string& error) {
  std::unique_ptr<UploadReceiver> r(new UploadReceiver(std::move(dir), max_file_bytes));
  r->upload_.file.purpose.clear();  // only what the form says
  r->parser_ = MHD_create_post_processor(connection, kParserBuffer, &UploadGlue::on_data, r.get());
  if (!r->parser_) {
    error =
        "uploads are multipart/form-data: send the file under 'file' and 'purpose' "
        "(\"assistants\") as form fields (curl -F file=@doc.pdf -F purpose=assistants)";
    return nullptr;
  }
  return r;
}

UploadReceiver::~UploadReceiver() {
  if (parser_) MHD_destroy_post_processor(parser_);
  if (fd_ >= 0) ::close(fd_);
  if (!taken_ && !upload_.file.temp_path.empty()) ::unlink(upload_.file.temp_path.c_str());
}

void UploadReceiver::problem(std::string message) {
  if (upload_.error.empty()) upload_.error = std::move(message);
}

void UploadReceiver::feed(const char* data, size_t size) {
  if (parser_ && MHD_post_process(parser_, data, size) != MHD_YES)
    problem("the multipart/form-data body is malformed");
}

void UploadReceiver::on_field(const char* key, const char* filename, const char* content_type,
                              const char* data, size_t size) {
  const std::string_view name = key ? key : "";
  if (name == "file") {
    if (file_done_) return problem("one file per upload: the form holds more than one 'file'");
    if (!upload_.has_file) {
      upload_.has_file = true;
      upload_.file.filename = filename && *filename ? filename : "upload";
      upload_.file.content_type = content_type ? content_type : "";
      std::string path = dir_ + "/upload-XXXXXX";
      fd_ = ::mkstemp(path.data());
      if (fd_ < 0)
        return problem("the server cannot store the upload (" + std::string(std::strerror(errno)) +
                       " in its knowledge.data_dir)");
      upload_.file.temp_path = path;
    }
    if (fd_ < 0 || too_large_) return;
    file_bytes_ += static_cast<int64_t>(size);
    if (file_bytes_ > max_file_bytes_) {
      too_large_ = true;
      return;
    }
    while (size > 0) {
      const ssize_t n = ::write(fd_, data, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fd_);
        fd_ = -1;
        return problem("the server could not write the upload (" +
                       std::string(std::strerror(errno)) + ")");
      }
      data += n;
      size -= static_cast<size_t>(n);
    }
    return;
  }
  if (upload_.has_file) file_done_ = true;
  if (name == "purpose") {
    upload_.has_purpose = true;
    if (upload_.file.purpose.size() + size > kMaxPurpose) return problem("'purpose' is too long");
    upload_.file.purpose.append(data, size);
    return;
  }
  problem("unknown form field '" + std::string(name) + "': send 'file' and 'purpose'");
}

MultipartUpload UploadReceiver::finish() {
  if (parser_) {
    if (MHD_destroy_post_processor(parser_) != MHD_YES)
      problem("the multipart/form-data body ended early");
    parser_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  MultipartUpload out = upload_;
  if (!too_large_ && out.error.empty() && out.has_file)
    taken_ = true;
  else
    out.file.temp_path.clear();
  return out;
}

}  // namespace shardserve
