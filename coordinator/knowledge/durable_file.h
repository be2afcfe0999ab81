// Small file-system helpers for the knowledge base's on-disk state: durable writes (temporary
// file, fsync, rename, fsync of the directory, so a crash leaves the old file or the new one,
// never a torn one) and a checksum for telling a file we wrote from a damaged one.
//
// Errors are kInternal and name the path and the errno text ("cannot fsync /d/x.tmp: No space
// left on device"). Thread-safe: no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace shardserve::knowledge {

// fsyncs the directory itself, so that a rename or unlink inside it is durable.
Status fsync_dir(const std::string& dir);

// fsyncs the file at `path` (opened read-only; Linux syncs the file's data either way).
Status fsync_file(const std::string& path);

// Writes `bytes` to `path` (in directory `dir`) through `path + ".tmp"`: write, fsync, rename,
// fsync `dir`. On failure the temporary file is removed and `path` is untouched.
Status write_file_durably(const std::string& dir, const std::string& path, std::string_view bytes);

// Size and checksum of a file's contents. The checksum (splitmix64 over 8-byte words) catches
// truncation, torn writes and bit flips; it is not cryptographic.
struct FileDigest {
  uint64_t bytes = 0;
  uint64_t checksum = 0;
};
Result<FileDigest> digest_file(const std::string& path);

// Whether `path` exists (any file type).
bool path_exists(const std::string& path);

}  // namespace shardserve::knowledge
