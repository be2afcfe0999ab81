// The events of one request on its way from a worker group to the request's stream state.
//
// GroupLink's I/O thread pushes; the consumer (the HTTP/SSE thread serving the request) pops.
// The buffer is bounded: push() of a token that does not fit returns false and GroupLink then
// ends the request with an error and cancels it in its group, so a slow consumer costs its own
// request, never the I/O thread (which only ever takes the mutex for a push).
//
// Every request ends with exactly one terminal event, always delivered after the buffered
// ones: a token event with a finish reason (Stop, Length, or Cancelled after cancel()), the
// embedding of an embedding request (its only event), a rejection by the group, or a failure
// (the group died, the buffer overflowed, the coordinator is shutting down). After it, pop()
// returns nothing more.
//
// Thread-safe. Shared between GroupLink and the consumer (std::shared_ptr). When the consumer
// drops its last reference, GroupLink cancels the request at its next event.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "wire/sequence.h"

namespace shardserve {

struct RequestEvent {
  enum class Kind : uint8_t {
    Token,     // `token`: a new token (token.token >= 0) and/or a finish reason
    Rejected,  // the group refused the request (`error` says why); nothing was generated
    Failed,    // the request broke off (`error` says why); tokens before it were valid
    Embedded,  // `embedding` of an embedding request's `n_tokens` tokens
  };
  Kind kind = Kind::Token;
  TokenEvent token;
  std::string error;
  std::vector<float> embedding;
  int64_t n_tokens = 0;
  // Rejected: whose fault it is (wire::Rejected::code). Failed: kUnavailable when the group
  // died or was gone (another replica may continue the request), else kInternal.
  ErrorCode code = ErrorCode::kInternal;

  bool terminal() const { return kind != Kind::Token || token.finish != FinishReason::None; }
};

class RequestEvents {
 public:
  // capacity: non-terminal events held at most (>= 1).
  RequestEvents(int64_t request_id, uint64_t group_id, size_t capacity);

  int64_t request_id() const { return request_id_; }
  uint64_t group_id() const { return group_id_; }

  // ---- consumer --------------------------------------------------------------------------
  // The next event, waiting up to `timeout` for one; nullopt on timeout or after the terminal
  // event has been popped.
  std::optional<RequestEvent> pop(std::chrono::milliseconds timeout);
  // Everything buffered (waiting up to `timeout` for at least one event); empty on timeout or
  // after the end. Lets an SSE writer send one chunk per wake-up instead of one per token.
  std::vector<RequestEvent> pop_all(std::chrono::milliseconds timeout);
  // True once the terminal event has been popped.
  bool finished() const;

  // ---- producer (GroupLink's I/O thread) -------------------------------------------------
  // Appends a non-terminal event; false (and nothing appended) if the buffer is full or the
  // request has ended. Never blocks beyond the mutex.
  bool push(RequestEvent event);
  // Appends the terminal event regardless of capacity; later pushes and ends are ignored.
  // Returns false if the request had already ended.
  bool end(RequestEvent terminal);
  // True once end() has been called (the terminal event may still be buffered).
  bool ended() const;

 private:
  bool wait(std::unique_lock<std::mutex>& lock, std::chrono::milliseconds timeout);

  // Constant after construction.
  const int64_t request_id_;
  const uint64_t group_id_;
  const size_t capacity_;

  mutable std::mutex mu_;
  std::condition_variable ready_;
  std::deque<RequestEvent> events_;  // GUARDED_BY(mu_)
  bool ended_ = false;               // GUARDED_BY(mu_): the terminal event is in events_
  bool finished_ = false;            // GUARDED_BY(mu_): the terminal event was popped
};

}  // namespace shardserve
