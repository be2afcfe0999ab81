// Wakes a link's I/O thread out of zmq::poll from any other thread.
//
// A non-blocking self-pipe: notify() writes a byte (thread-safe, never blocks; when the pipe
// is already full a wake-up is pending anyway), the I/O thread polls fd() for reading and
// calls drain() before it looks at its queues. Owned by the link that polls it; not copyable.
#pragma once

namespace shardserve::wire {

class Waker {
 public:
  Waker();
  ~Waker();
  Waker(const Waker&) = delete;
  Waker& operator=(const Waker&) = delete;

  // False when the pipe could not be created (out of file descriptors).
  bool valid() const { return read_fd_ >= 0; }
  int fd() const { return read_fd_; }

  void notify();  // any thread
  void drain();   // the polling thread

 private:
  int read_fd_ = -1;
  int write_fd_ = -1;
};

}  // namespace shardserve::wire
