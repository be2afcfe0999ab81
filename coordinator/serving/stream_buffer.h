// One streamed response body (Server-Sent Events) on its way from the thread that writes it
// to the HTTP server's polling thread that sends it.
//
// The writer (a StreamWriter on a request thread) appends with write(); the polling thread
// pulls with read() whenever the client's socket can take more. When read() finds nothing to
// send it calls `suspend` (the connection leaves the poll set: no busy loop) and the next
// write(), finish() or close() calls `resume`. One mutex orders the two sides; `suspend` and
// `resume` are called with it held, and `resume` only after `suspend`, exactly once each time.
//
// Bounded: write() blocks while `capacity` bytes wait to be sent (backpressure on the
// writer), until the client reads or the connection ends. close() (the connection ended, or
// the server stops) makes every later write() fail at once and wakes a blocked one: the writer
// never waits on a client that is gone.
//
// Thread-safety: write()/writable()/finish() on the writer's thread, read() on the polling
// thread, close() on any thread.
#pragma once

#include <sys/types.h>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

namespace shardserve {

class StreamBuffer {
 public:
  // What read() returns when there is no more data (values of MHD's content reader).
  static constexpr ssize_t kEnd = -1;    // the body ended normally
  static constexpr ssize_t kError = -2;  // drop the connection

  StreamBuffer(size_t capacity, std::function<void()> suspend, std::function<void()> resume);
  StreamBuffer(const StreamBuffer&) = delete;
  StreamBuffer& operator=(const StreamBuffer&) = delete;

  // Writer: queues `data`, waiting while the buffer is full. False once the connection has
  // ended (nothing is queued then).
  bool write(std::string_view data);
  // Writer: false once the connection has ended.
  bool writable();
  // Writer: the body is complete (`complete`: the client gets the rest and a proper end) or
  // abandoned (the connection is dropped). Later writes fail.
  void finish(bool complete);

  // Polling thread: copies up to `max` bytes into `out` and returns how many; or kEnd, or
  // kError; or 0 after calling `suspend` when nothing is there yet.
  ssize_t read(char* out, size_t max);

  // The connection ended (or is being ended by the server): writes fail from now on, and a
  // suspended reader is resumed so that it reports kError.
  void close();

 private:
  void resume_locked();  // calls resume_ if the reader is suspended

  const size_t capacity_;
  const std::function<void()> suspend_;
  const std::function<void()> resume_;

  std::mutex mutex_;
  std::condition_variable drained_;  // signalled when bytes are sent or the connection ends
  // Guarded by mutex_:
  std::string data_;  // bytes not yet sent start at data_[head_]
  size_t head_ = 0;
  bool suspended_ = false;  // the reader suspended the connection, waiting for data
  bool finished_ = false;   // finish() was called
  bool complete_ = false;   // finish(true)
  bool closed_ = false;     // the connection ended
};

}  // namespace shardserve
