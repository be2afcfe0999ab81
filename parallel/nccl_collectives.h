// NCCL backend of Collectives (parallel/collectives.h): buffers are device pointers on the
// rank's GPU; work is queued on the backend's stream and each call returns after it has
// completed (so the contract matches the MPI backend). A group of one runs the same NCCL calls
// as a larger one (nothing is skipped), so a one-GPU test exercises the real path.
//
// Bootstrap (make_nccl_collectives), over MPI on `comm`, every wait bounded:
//   1. each rank checks and selects `device`; the group's rank 0 creates the NCCL id;
//   2. the ranks agree on step 1 (parallel/agree.h) before rank 0 broadcasts the id, so a rank
//      that fails cannot leave the others waiting in the broadcast: all return the Error;
//   3. each rank creates its communicator without blocking (ncclCommInitRankConfig,
//      blocking = 0) and polls ncclCommGetAsyncError until it is ready, an error, or
//      options.timeout_s have passed (then it aborts the communicator);
//   4. the ranks agree on step 3; on any failure every rank aborts its communicator and
//      returns the Error, which names the failing rank.
// After that, a peer that fails or hangs inside a collective: the wait polls
// ncclCommGetAsyncError and, past options.timeout_s, aborts the communicator and exits the
// process (status 3) with a message naming the operation. Built only with CUDA + NCCL.
#pragma once

#include <mpi.h>

#include <memory>

#include "base/status.h"
#include "parallel/collectives.h"

namespace shardserve {

// Collective over `comm`: every rank of comm must call it, each with its own device. An Error
// on every rank if any rank cannot select its device or create its communicator.
Result<std::unique_ptr<Collectives>> make_nccl_collectives(MPI_Comm comm, int device,
                                                           CollectiveOptions options = {});

}  // namespace shardserve
