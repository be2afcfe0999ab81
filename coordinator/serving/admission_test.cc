#include "coordinator/serving/admission.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "coordinator/serving/endpoint.h"

#include <vector>

namespace shardserve {
namespace {

TEST(Admission, RefusesPastTheLimitUntilATicketIsReleased) {
  metrics::Gauge running;
  Admission admission(2, running);
  std::vector<Admission::Ticket> held;
  for (int i = 0; i < 2; ++i) {
    auto ticket = admission.admit();
    ASSERT_TRUE(ticket.ok());
    held.push_back(*ticket);
  }
  EXPECT_EQ(running.value(), 2);
  auto refused = admission.admit();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().status, 429);
  EXPECT_EQ(refused.error().message, "the server has 2 requests in flight; retry shortly");
  EXPECT_EQ(running.value(), 2);

  held.pop_back();
  EXPECT_EQ(running.value(), 1);
  EXPECT_TRUE(admission.admit().ok());  // admitted and released at once
  EXPECT_EQ(running.value(), 1);
}

TEST(Admission, APlaceIsHeldWhileAnyCopyOfTheTicketLives) {
  metrics::Gauge running;
  Admission admission(1, running);
  auto ticket = admission.admit();
  ASSERT_TRUE(ticket.ok());
  Admission::Ticket stream_copy = *ticket;  // as a stream holds it after its endpoint returned
  ticket = admission.admit();               // refused; the endpoint's copy is gone now
  ASSERT_FALSE(ticket.ok());
  EXPECT_FALSE(admission.admit().ok());  // the stream's copy still holds the place
  stream_copy.reset();
  EXPECT_TRUE(admission.admit().ok());
  EXPECT_EQ(running.value(), 0);
}

TEST(Admission, DrainingRefusesNewRequestsWithRetryAfterAndKeepsThoseInFlight) {
  metrics::Gauge running;
  Admission admission(4, running);
  auto held = admission.admit();
  ASSERT_TRUE(held.ok());
  admission.drain();
  EXPECT_TRUE(admission.draining());
  auto refused = admission.admit();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().status, 503);
  EXPECT_EQ(refused.error().retry_after_s, Admission::kDrainRetryAfterS);
  const Response r = Response::error(refused.error());
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0], (std::pair<std::string, std::string>("Retry-After", "5")));
  EXPECT_EQ(admission.in_flight(), 1);  // the one admitted before goes on
  held.value().reset();
  EXPECT_EQ(admission.in_flight(), 0);
}

}  // namespace
}  // namespace shardserve
