#include "coordinator/serving/admission.h"

#include <string>

namespace shardserve {

Admission::Admission(int max_in_flight, metrics::Gauge& running)
    : max_in_flight_(max_in_flight), running_(running) {}

api::ApiResult<Admission::Ticket> Admission::admit() {
  if (draining_.load()) {
    api::ApiError e = api::ApiError::unavailable(
        "the server is shutting down; retry in a few seconds (another replica will answer)");
    e.retry_after_s = kDrainRetryAfterS;
    return e;
  }
  if (in_flight_.fetch_add(1) >= max_in_flight_) {
    in_flight_.fetch_sub(1);
    return api::ApiError::rate_limited("the server has " + std::to_string(max_in_flight_) +
                                       " requests in flight; retry shortly");
  }
  struct Leave {
    std::atomic<int>& n;
    metrics::Gauge& running;
    ~Leave() {
      n.fetch_sub(1);
      running.sub(1);
    }
  };
  running_.add(1);
  return Ticket(new Leave{in_flight_, running_});  // no temporary: its destructor would leave
}

}  // namespace shardserve
