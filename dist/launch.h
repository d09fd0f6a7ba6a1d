#pragma once
// How a process learns that it is one rank of a data-parallel job.
//
// Open MPI's mpirun gives every process it starts OMPI_COMM_WORLD_SIZE and
// OMPI_COMM_WORLD_RANK; nothing else sets them. A process without them (or
// with a world size of 1) is an ordinary single process: it never calls
// MPI_Init, so the plain binary needs no mpirun and runs as it always did.
namespace torchless::dist {

/// OMPI_COMM_WORLD_SIZE, or 1 when it is not set. Throws std::runtime_error
/// if it is set but is not a positive integer.
int launched_world_size();

/// OMPI_COMM_WORLD_RANK, or 0 when it is not set (for messages before MPI is up).
int launched_rank();

/// Whether this build has the MPI communicator (CMake option TORCHLESS_MPI).
bool mpi_built();

}  // namespace torchless::dist
