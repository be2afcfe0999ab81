#include "wire/waker.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

namespace shardserve::wire {

Waker::Waker() {
  int fds[2];
  if (pipe(fds) != 0) return;
  for (int fd : fds) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  read_fd_ = fds[0];
  write_fd_ = fds[1];
}

Waker::~Waker() {
  if (read_fd_ >= 0) close(read_fd_);
  if (write_fd_ >= 0) close(write_fd_);
}

void Waker::notify() {
  const char byte = 1;
  // EAGAIN: the pipe is full, so a wake-up is already pending. Nothing else can fail here.
  while (write(write_fd_, &byte, 1) < 0 && errno == EINTR) {
  }
}

void Waker::drain() {
  char buffer[256];
  while (read(read_fd_, buffer, sizeof buffer) > 0) {
  }
}

}  // namespace shardserve::wire
