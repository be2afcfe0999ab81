// NCCL backend of Collectives (parallel/collectives.h): buffers are device pointers on the
// rank's GPU; work is queued on the backend's stream and each call returns after it has
// completed (so the contract matches the MPI backend). Bootstrapped over MPI: the group's
// rank 0 creates the NCCL id and broadcasts it; every rank selects `device` before joining.
// A peer that fails or hangs: the wait polls ncclCommGetAsyncError and, past the timeout,
// aborts the communicator and exits non-zero with a message. Built only with CUDA + NCCL.
#pragma once

#include <mpi.h>

#include <memory>

#include "base/status.h"
#include "parallel/collectives.h"

namespace shardserve {

// Collective over `comm`; every rank of comm must call it. Error if the device or NCCL
// cannot be initialised.
Result<std::unique_ptr<Collectives>> make_nccl_collectives(MPI_Comm comm, int device,
                                                           CollectiveOptions options = {});

}  // namespace shardserve
