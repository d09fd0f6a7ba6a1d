#pragma once
// `torchless train` under `mpirun -np N` (N > 1): starting MPI, keeping
// ranks other than 0 quiet, ending the whole job on any rank's error, and
// making sure every rank starts from the same state (see README's
// "Data-parallel training").
#include <cstdint>
#include <functional>

#include "cli/train_options.h"
#include "core/generator.h"
#include "dist/communicator.h"
#include "io/fashion_mnist.h"
#include "nn/module.h"
#include "optim/adam.h"

namespace torchless::cli {

/// Outside mpirun (or with one rank): body(nullptr), exactly as before.
/// Under mpirun with N > 1 ranks: starts MPI (collectives time out after
/// `timeout_s`), sends stdout of ranks other than 0 to /dev/null, and runs
/// body(&comm). An exception on any rank is printed with the rank and ends
/// the whole job (MPI_Abort: status 1, 2 for a UsageError); a
/// dist::DisagreementError, which every rank throws together, is printed by
/// rank 0 and every rank exits 1 normally. Throws std::runtime_error when
/// mpirun started this process but the build has no MPI.
int run_with_ranks(double timeout_s, const std::function<int(dist::Communicator*)>& body);

/// The data-parallel run's start: checks that every rank holds the same
/// recipe, data, model, optimizer state and generator (dist::check_agreement
/// names what differs), then broadcasts rank 0's parameters and optimizer
/// state. Throws dist::DisagreementError, or std::invalid_argument when
/// --batch-size does not split over the ranks.
void agree_and_sync(dist::Communicator& comm, const TrainOptions& o, const optim::HyperParams& hp, int64_t start_epoch,
                    double valid_loss_min, const io::Dataset& train, const io::Dataset& valid, const io::Dataset& test,
                    nn::Module& model, optim::Adam& opt, const Generator& gen);

}  // namespace torchless::cli
