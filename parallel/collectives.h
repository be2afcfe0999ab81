// Collective operations among the ranks of one worker group (one tensor-parallel replica).
//
// Two backends with one contract: MPI (host buffers, CPU groups) and NCCL (device buffers,
// GPU groups; bootstrapped over MPI). Every rank of the group must call the same operations
// in the same order. Results are deterministic and identical on every rank: sums add the
// ranks' contributions in rank order, whatever algorithm the library would pick, so the same
// inputs give the same bits on every run.
//
// Failure: a peer that stops answering inside a collective makes this rank print which
// operation timed out and exit non-zero after `timeout_s` (the group is the unit of failure;
// mpirun then ends the job). Waiting for the *next step* is not a failure: see
// broadcast_when_ready(), which waits without a deadline and without spinning a core.
// A Collectives object is used by one thread (the one that makes MPI calls).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <span>

namespace shardserve {

class Collectives {
 public:
  virtual ~Collectives() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* backend() const = 0;

  // In place: data[i] = sum over ranks r (in rank order) of rank r's data[i].
  virtual void all_reduce_sum(float* data, int64_t n) = 0;
  // recv = rank 0's `counts[0]` floats, then rank 1's `counts[1]`, ...; `send` holds
  // counts[rank()] floats. counts has size() entries, the same on every rank.
  virtual void all_gather(const float* send, float* recv, std::span<const int64_t> counts) = 0;
  // Copies `bytes` bytes from root's buffer to every rank's.
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  virtual void barrier() = 0;
};

struct CollectiveOptions {
  double timeout_s = 60.0;  // longest wait inside one collective before giving up
};

// MPI backend over `comm` (host memory). The communicator stays owned by the caller.
std::unique_ptr<Collectives> make_mpi_collectives(MPI_Comm comm, CollectiveOptions options = {});

// Host-memory broadcast that waits for the root without a deadline and without busy-polling
// (it polls with a back-off up to 1 ms): for peers idling until the leader's next step plan.
void broadcast_when_ready(MPI_Comm comm, void* data, int64_t bytes, int root);

}  // namespace shardserve
