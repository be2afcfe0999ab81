#include "coordinator/serving/stream_buffer.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace shardserve {

StreamBuffer::StreamBuffer(size_t capacity, std::function<void()> suspend,
                           std::function<void()> resume)
    : capacity_(capacity), suspend_(std::move(suspend)), resume_(std::move(resume)) {}

void StreamBuffer::resume_locked() {
  if (!suspended_) return;
  suspended_ = false;
  resume_();
}

bool StreamBuffer::write(std::string_view data) {
  std::unique_lock<std::mutex> lock(mutex_);
  drained_.wait(lock, [&] { return closed_ || finished_ || data_.size() - head_ < capacity_; });
  if (closed_ || finished_) return false;
  if (head_ > 0 && head_ >= data_.size() / 2) {  // drop what was sent before growing
    data_.erase(0, head_);
    head_ = 0;
  }
  data_.append(data);
  resume_locked();
  return true;
}

bool StreamBuffer::writable() {
  std::lock_guard<std::mutex> lock(mutex_);
  return !closed_ && !finished_;
}

void StreamBuffer::finish(bool complete) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  finished_ = true;
  complete_ = complete;
  if (!closed_) resume_locked();
}

ssize_t StreamBuffer::read(char* out, size_t max) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_) return kError;
  const size_t pending = data_.size() - head_;
  if (pending > 0 && !(finished_ && !complete_)) {
    const size_t n = std::min(pending, max);
    std::memcpy(out, data_.data() + head_, n);
    head_ += n;
    if (head_ == data_.size()) {
      data_.clear();
      head_ = 0;
    }
    drained_.notify_all();
    return static_cast<ssize_t>(n);
  }
  if (finished_) return complete_ ? kEnd : kError;
  suspended_ = true;
  suspend_();
  return 0;
}

void StreamBuffer::close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return;
    resume_locked();
    closed_ = true;
  }
  drained_.notify_all();
}

}  // namespace shardserve
