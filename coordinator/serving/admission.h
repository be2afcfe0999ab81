// Admission control: at most server.max_queued_requests requests (chat, completions and
// embeddings together) in flight; one more gets 429 until one of them ends. Once drain() is
// called (a graceful shutdown) every new request gets 503 with Retry-After, while those in
// flight finish.
//
// admit() hands a request a Ticket that holds its place for as long as any copy of it lives:
// the endpoint's, and a stream's that goes on writing after the endpoint returned.
// shardserve_requests_running counts the places held.
//
// Thread-safety: admit() may be called from any thread, and tickets released on any. The
// Admission must outlive its tickets.
#pragma once

#include <atomic>
#include <memory>

#include "api/openai_error.h"
#include "coordinator/metrics/metrics.h"

namespace shardserve {

class Admission {
 public:
  using Ticket = std::shared_ptr<const void>;

  // `running`: the gauge of requests in flight.
  Admission(int max_in_flight, metrics::Gauge& running);
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  // A place among the requests in flight, or the 429 error when all are taken (503 when
  // draining).
  api::ApiResult<Ticket> admit();

  // From now on, refuse every request (503, Retry-After: kDrainRetryAfterS).
  void drain() { draining_.store(true); }
  bool draining() const { return draining_.load(); }
  int in_flight() const { return in_flight_.load(); }
  static constexpr int kDrainRetryAfterS = 5;

 private:
  const int max_in_flight_;
  metrics::Gauge& running_;
  std::atomic<int> in_flight_{0};
  std::atomic<bool> draining_{false};
};

}  // namespace shardserve
